"""Video → frames → ImageFolder, and video → timeline → segments, on small videos the tests encode themselves."""

import csv

import numpy as np
import pytest
from PIL import Image

from kernel_laugh.cli import main
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.video import (find_segments, iter_frames, load_segments, parse_time, probe, region_box,
                                write_sample_clip, write_video)

RATE = 4  # frames per second of the test videos
SECONDS = 60


def _index_frame(k: int, w: int = 64, h: int = 48) -> np.ndarray:
    """A flat frame whose colour encodes its index k (16 levels in red, 16 in green; survives H.264)."""
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0], a[..., 1], a[..., 2] = (k % 16) * 16 + 8, (k // 16) * 16 + 8, 128
    a[: h // 4, : w // 4] = 255  # a white top-left corner, to check crops
    return a


def _frame_index(img: Image.Image) -> int:
    r, g, _ = np.asarray(img, dtype=float)[-4:, -4:].reshape(-1, 3).mean(0)  # bottom-right: never the white corner
    return round((r - 8) / 16) + 16 * round((g - 8) / 16)


@pytest.fixture(scope="module")
def index_video(tmp_path_factory):
    """60 s at 4 fps, a keyframe every 2 s (so sparse sampling has something to seek to)."""
    path = tmp_path_factory.mktemp("video") / "index.mp4"
    return write_video(path, (_index_frame(k) for k in range(SECONDS * RATE)), RATE, gop=8)


class _Spy:
    """Wraps a PyAV container to count seeks and decoded frames."""

    def __init__(self, container):
        self.container, self.seeks, self.decoded = container, 0, 0

    def __getattr__(self, name):
        return getattr(self.container, name)

    def seek(self, *args, **kwargs):
        self.seeks += 1
        return self.container.seek(*args, **kwargs)

    def decode(self, *args, **kwargs):
        for frame in self.container.decode(*args, **kwargs):
            self.decoded += 1
            yield frame

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.container.__exit__(*exc)


def test_probe_and_frame_times(index_video):
    info = probe(index_video)
    assert (info.width, info.height, info.fps) == (64, 48, RATE) and info.duration == pytest.approx(SECONDS)
    for fps, expected_times in ((1, np.arange(SECONDS)), (RATE, np.arange(SECONDS * RATE) / RATE),
                                (3, None), (10, np.arange(SECONDS * RATE) / RATE)):
        frames = list(iter_frames(index_video, fps))
        times = np.array([t for t, _ in frames])
        if expected_times is not None:  # above the video's rate every frame comes once, never twice
            np.testing.assert_allclose(times, expected_times)
        else:  # 3 fps from 4 fps: the nearest frame to each sample time
            np.testing.assert_allclose(times[:4], [0, 0.25, 0.75, 1.0])
        assert all(_frame_index(im) == round(t * RATE) for t, im in frames), "frame content does not match its time"
        assert all(im.mode == "RGB" and im.size == (64, 48) for _, im in frames[:3])


def test_sparse_sampling_seeks_instead_of_decoding_everything(index_video, monkeypatch):
    import av

    spies = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: spies.append(_Spy(real_open(*a, **k))) or spies[-1])
    frames = list(iter_frames(index_video, fps=0.2))
    assert [t for t, _ in frames] == [float(t) for t in range(0, SECONDS, 5)]
    assert all(_frame_index(im) == round(t * RATE) for t, im in frames)
    assert spies[-1].seeks >= 5 and spies[-1].decoded < SECONDS * RATE / 3, (spies[-1].seeks, spies[-1].decoded)


def test_crops_and_named_regions(index_video):
    t, img = next(iter_frames(index_video, 1, crop=(4, 2, 20, 30)))
    assert img.size == (20, 30)
    assert np.asarray(img)[0, 0].tolist() == pytest.approx([255, 255, 255], abs=12)  # inside the white corner
    assert np.asarray(img)[-1, -1].tolist() != pytest.approx([255, 255, 255], abs=12)
    assert region_box("brain", 3840, 2160) == (1900, 600, 1050, 800)  # the original's rows 600:1400, cols 1900:2950
    assert region_box("brain", 1920, 1080) == (950, 300, 525, 400)
    assert region_box("person", 1920, 1080) == (250, 0, 650, 1080)
    assert next(iter_frames(index_video, 1, crop="brain"))[1].size == region_box("brain", 64, 48)[2:]
    with pytest.raises(KernelLaughError, match="does not fit"):
        next(iter_frames(index_video, 1, crop=(50, 0, 20, 10)))


def test_unreadable_videos_name_the_file(index_video, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    cut_mp4 = tmp_path / "cut.mp4"  # MP4 keeps its index at the end: a cut file has none
    cut_mp4.write_bytes(index_video.read_bytes()[: index_video.stat().st_size // 2])
    mkv = write_video(tmp_path / "whole.mkv", (_index_frame(k) for k in range(SECONDS * RATE)), RATE)
    cut_mkv = tmp_path / "cut.mkv"  # Matroska keeps its duration up front: a cut file decodes, then runs dry
    cut_mkv.write_bytes(mkv.read_bytes()[: mkv.stat().st_size // 2])
    for bad, why in ((tmp_path / "missing.mp4", "no such"), (text, "not a readable video"),
                     (cut_mp4, "not a readable video"), (cut_mkv, "truncated")):
        with pytest.raises(KernelLaughError, match=why) as err:
            list(iter_frames(bad, 1))
        assert str(bad) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(KernelLaughError, match="fps"):
        list(iter_frames(index_video, 0))


def test_segment_times_and_files(tmp_path):
    assert [parse_time(s) for s in ("75", "75.5", "1:15", "01:15.5", "0:01:15")] == [75, 75.5, 75, 75.5, 75]
    bad = tmp_path / "bad.csv"
    for text, why in (("start,end\n1,2\n", "start,end,label"), ("start,end,label\n1,x,a\n", "line 2"),
                      ("start,end,label\n5,2,a\n", "end > start")):
        bad.write_text(text)
        with pytest.raises(KernelLaughError, match=why):
            load_segments(bad)


def _read_metadata(root):
    with (root / "metadata.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_frames_command_labels_groups_and_appends(index_video, tmp_path, capsys):
    import shutil

    from kernel_laugh.config import DataConfig
    from kernel_laugh.data import prepare_data

    other = shutil.copy(index_video, tmp_path / "other.mp4")
    segs = tmp_path / "labels.csv"
    segs.write_text("start,end,label,video\n0:05,0:10,laughter,\n20,25,laughter,\n40,45,laughter,\n"
                    "50,0:55,laughter,other.mp4\n")
    out = tmp_path / "frames"
    argv = ["frames", str(index_video), "--segments", str(segs), "--output", str(out), "--fps", "1",
            "--default-label", "non-laughter", "--crop", "0,0,32,24"]
    assert main(argv) == 0
    assert main(["frames", str(other), *argv[2:]]) == 0  # a second video appends to the same dataset
    rows = _read_metadata(out)
    assert len(rows) == 2 * SECONDS
    assert sorted(d.name for d in out.iterdir() if d.is_dir()) == ["0_non-laughter", "1_laughter"]
    for r in rows:
        t, label = float(r["time"]), r["file_name"].split("/")[0]
        laughing = any(a <= t < b for a, b in ((5, 10), (20, 25), (40, 45))) or (r["video"] == "other.mp4" and 50 <= t < 55)
        assert label == ("1_laughter" if laughing else "0_non-laughter"), r
        img = Image.open(out / r["file_name"])
        assert img.size == (32, 24) and _frame_index(img) == round(t * RATE)
    by_video = {v: [r for r in rows if r["video"] == v] for v in ("index.mp4", "other.mp4")}
    assert sum(r["file_name"].startswith("1_") for r in by_video["index.mp4"]) == 15
    assert sum(r["file_name"].startswith("1_") for r in by_video["other.mp4"]) == 20
    groups = {r["segment"] for r in by_video["index.mp4"]}
    assert groups == {f"index:seg{i:03d}" for i in range(3)} | {f"index:gap{i:03d}" for i in range(4)}
    assert {r["segment"] for r in by_video["index.mp4"] if 20 <= float(r["time"]) < 25} == {"index:seg001"}

    assert main(argv) == 0  # re-exporting a video replaces its frames, never duplicates them
    assert len(_read_metadata(out)) == 2 * SECONDS
    assert sum(1 for _ in out.rglob("*.png")) == 2 * SECONDS

    data = prepare_data(DataConfig(dataset=str(out), group_column="segment", split_seed=0))
    assert data.label_names == ["non-laughter", "laughter"]
    seen = {k: set(v["segment"]) for k, v in data.splits.items()}
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["validation"] and not seen["validation"] & seen["test"]

    overlap = tmp_path / "overlap.csv"
    overlap.write_text("start,end,label\n0,10,laughter\n5,12,non-laughter\n")
    capsys.readouterr()
    assert main(["frames", str(index_video), "--segments", str(overlap), "--output", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err.strip()
    assert "overlap" in err and len(err.splitlines()) == 1


def test_find_segments_hysteresis_median_and_min_duration():
    def timeline(probs, step=1.0):
        return [{"time": i * step, "non-laughter": 1 - p, "laughter": p} for i, p in enumerate(probs)]

    # With a 3-sample median (smooth=2 s at 1 s steps): 0.5 never opens a segment (below on); inside one, a 0.45
    # does not close it (above off); a lone 0.1 dropout and a lone 0.9 blip are removed by the median.
    probs = [0.1, 0.5, 0.5, 0.9, 0.1, 0.1, 0.7, 0.8, 0.45, 0.1, 0.9, 0.7, 0.3, 0.2, 0.1, 0.1]
    segs = find_segments(timeline(probs), "laughter", smooth=2)
    assert [(s["start"], s["end"]) for s in segs] == [(6.0, 12.0)]
    assert segs[0]["peak"] == 0.9 and segs[0]["mean"] == pytest.approx(np.mean(probs[6:12]))
    assert find_segments(timeline(probs, step=0.5), "laughter", smooth=1) == [  # the window is in seconds
        {**segs[0], "start": 3.0, "end": 6.0}]
    raw = find_segments(timeline(probs), "laughter", smooth=0)
    assert [(s["start"], s["end"]) for s in raw] == [(3.0, 4.0), (6.0, 9.0), (10.0, 12.0)]
    assert raw[0] == {"start": 3.0, "end": 4.0, "peak": 0.9, "mean": 0.9}
    assert find_segments(timeline(probs), "laughter", smooth=2, min_duration=7.0) == []
    assert find_segments([], "laughter") == []
    with pytest.raises(KernelLaughError, match="not in the timeline"):
        find_segments(timeline(probs), "smile")


def test_timeline_finds_the_laughter_segment(trained_dir, tmp_path):
    """Acceptance: a 60 s SYNTHETIC clip with laughter from 20 s to 30 s; the sample model finds one segment
    whose start and end are within 2 s of the truth."""
    clip = write_sample_clip(tmp_path / "clip.mp4", duration=60, fps=2, laughter=[(20, 30)])
    out = tmp_path / "timeline"
    assert main(["timeline", str(trained_dir), str(clip), "--fps", "2", "--output", str(out)]) == 0
    with (out / "segments.csv").open() as fh:
        segs = list(csv.DictReader(fh))
    assert len(segs) == 1, segs
    assert abs(float(segs[0]["start"]) - 20) <= 2 and abs(float(segs[0]["end"]) - 30) <= 2, segs
    with (out / "timeline.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 120 and list(rows[0]) == ["time", "non-laughter", "laughter"]
    assert all(abs(float(r["laughter"]) + float(r["non-laughter"]) - 1) < 1e-3 for r in rows)
    png = Image.open(out / "timeline.png")
    assert png.size[0] > 600 and len(set(np.asarray(png.convert("L")).ravel().tolist())) > 20
