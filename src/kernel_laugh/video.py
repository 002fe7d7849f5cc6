"""Video in, frames and timelines out: sample a recording at F frames per second (PyAV), crop a region,
turn it into a labelled ImageFolder, or run a model over it and find the laughter segments.

- ``iter_frames`` / ``probe``: frames as displayed (display rotation applied), read by the package's one frame
  reader, ``kernel_laugh.readers.frames`` (PyAV, seeking when a keyframe is expected before the next sample).
- ``export_frames`` is ``kernel-laugh frames``: a segments file (``start,end,label``) labels the sampled frames;
  ``metadata.csv`` keeps the source video, the time and a segment id (the group column for splitting, so
  near-duplicate frames of one segment never land on both sides of a split). Several videos append.
- ``predict_timeline`` / ``find_segments`` / ``write_timeline`` are ``kernel-laugh timeline`` and the Space's video tab.
- ``write_video`` / ``write_sample_clip`` encode frames (tests, demos): the sample clip is SYNTHETIC.

Times are seconds from the start of the video stream. Crops are ``(x, y, w, h)`` in pixels of the displayed frame.
Writing (``write_video``) opens its output with ``av.open(..., "w")`` here: it only writes, never reads.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from kernel_laugh.config import NEGATIVE_LABEL
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.frame_regions import record_region
from kernel_laugh.readers import frames
from kernel_laugh.readers.folders import subfolders
from kernel_laugh.readers.frames import Box, VideoInfo, probe  # noqa: F401 - re-exported: the one frame reader
from kernel_laugh.readers.segments import (  # noqa: F401 - re-exported
    Segment,
    load_segments,
    parse_time,
    segments_for,
)
from kernel_laugh.readers.tables import read_csv

if TYPE_CHECKING:  # inference pulls in transformers: only the type is needed here
    from kernel_laugh.inference import Predictor

# Named crops in the original project's 3840x2160 frames (rows 600:1400, columns 1900:2950 for the brain render;
# columns 500:1800 at full height for the person), scaled to the actual frame size.
REFERENCE_SIZE = (3840, 2160)
REGIONS: dict[str, Box] = {"brain": (1900, 600, 1050, 800), "person": (500, 0, 1300, 2160)}


def region_box(name: str, width: int, height: int) -> Box:
    """A named region (``brain``, ``person``) scaled from the original 3840x2160 frames to ``width`` x ``height``."""
    if name not in REGIONS:
        raise KernelLaughError(f"unknown region {name!r}; choose one of {sorted(REGIONS)}")
    sx, sy = width / REFERENCE_SIZE[0], height / REFERENCE_SIZE[1]
    x, y, w, h = REGIONS[name]
    return round(x * sx), round(y * sy), max(1, round(w * sx)), max(1, round(h * sy))


def parse_crop(text: str) -> Box:
    """``"x,y,w,h"`` → a box (for the command line)."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise KernelLaughError(f"--crop {text!r}: expected four integers x,y,w,h (pixels)") from None
    return x, y, w, h


def iter_frames(path: str | Path, fps: float, crop: Box | str | None = None, *, progress: bool = False,
                ) -> Iterator[tuple[float, Image.Image]]:
    """``(time_s, RGB image)`` every ``1 / fps`` seconds, as displayed (see ``kernel_laugh.readers.frames``).
    ``crop`` is ``(x, y, w, h)`` in the displayed frame or a region name (see ``REGIONS``), scaled to its size."""
    box = (lambda w, h: region_box(crop, w, h)) if isinstance(crop, str) else crop
    return frames.iter_frames(path, fps, box, progress=progress)


# ---- writing videos (tests and demos) ----------------------------------------------------------------------

def write_video(path: str | Path, images: Iterable[Image.Image | np.ndarray], fps: float, gop: int | None = None,
                crf: int = 18) -> Path:
    """Encode RGB images (all one size) as H.264 (MPEG-4 Part 2 if this FFmpeg lacks x264) at ``fps``.

    yuv420p needs even sides, so an odd last row/column is dropped. ``gop`` sets the keyframe interval in frames.
    """
    import av

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(out), "w") as container:
        stream = None
        for img in images:
            arr = np.asarray(img.convert("RGB") if isinstance(img, Image.Image) else img, dtype=np.uint8)
            arr = arr[: arr.shape[0] // 2 * 2, : arr.shape[1] // 2 * 2]
            if stream is None:
                stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
                stream.height, stream.width = arr.shape[:2]
                stream.pix_fmt = "yuv420p"
                if gop:
                    stream.codec_context.gop_size = gop
                if codec == "libx264":
                    stream.options = {"crf": str(crf)}
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise KernelLaughError(f"{out}: no frames to write")
        for packet in stream.encode():  # flush the encoder's delayed frames
            container.mux(packet)
    return out


def write_sample_clip(path: str | Path, duration: float = 60.0, fps: float = 2.0,
                      laughter: Sequence[tuple[float, float]] = ((20.0, 30.0),), size: int = 96, seed: int = 7) -> Path:
    """A SYNTHETIC clip of sample brain renders: frames inside the ``laughter`` intervals are renders whose
    label is laughter, the others non-laughter. Each video frame is a different render (a new moment)."""
    from kernel_laugh.sample import generate_sample

    n = round(duration * fps)
    pool = generate_sample(3 * n, size, seed)  # about half of each label; 3x leaves plenty of both
    by_label = {lab: iter([r["image"] for r in pool if r["label"] == lab]) for lab in (0, 1)}
    images = []
    for i in range(n):
        t = i / fps
        lab = int(any(a <= t < b for a, b in laughter))
        img = next(by_label[lab], None)
        if img is None:
            raise KernelLaughError("write_sample_clip: not enough sample renders; use a shorter clip")
        images.append(img)
    return write_video(path, images, fps)


# ---- segments files and frame export -----------------------------------------------------------------------

_NEGATIVE = NEGATIVE_LABEL  # the same rule that picks the positive class when none is given


def _class_dirs(out: Path, labels: Iterable[str], classes: Sequence[str] | None, default_label: str | None) -> dict[str, str]:
    """label → class folder ``<i>_<label>``. Existing folders keep their index; new labels get the next ones.

    Binary metrics treat class 1 as the positive class (as the original's ``0_non-laughter``/``1_laughter``),
    so without ``classes`` the default label and "non-..."/"neutral"-like names come first.
    """
    existing = {}
    for d in (subfolders(out) if out.is_dir() else []):
        m = re.fullmatch(r"(\d+)_(.+)", d.name)
        if m:
            existing[m.group(2)] = int(m.group(1))
    wanted = list(classes) if classes else sorted(set(labels), key=lambda s: (s != default_label, not _NEGATIVE.search(s), s))
    for lab in wanted:
        if lab not in existing:
            existing[lab] = max(existing.values(), default=-1) + 1
    return {lab: f"{i}_{lab}" for lab, i in existing.items()}


METADATA_COLUMNS = ["file_name", "video", "time", "segment"]


def _read_metadata(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        return list(METADATA_COLUMNS), []
    table = read_csv(path)
    if "file_name" not in table.columns:
        raise KernelLaughError(f"{path}: existing metadata.csv has no file_name column; use a new --output folder")
    return table.columns + [c for c in METADATA_COLUMNS if c not in table.columns], table.rows


def export_frames(video: str | Path, segments: list[Segment], out_dir: str | Path, fps: float = 1.0,
                  crop: Box | str | None = None, default_label: str | None = None,
                  classes: Sequence[str] | None = None, image_format: str = "png") -> dict[str, int]:
    """Sample ``video``, label each frame by the segment it falls in (``[start, end)``), and add the frames
    to the ImageFolder ``out_dir`` (``<i>_<label>/<video>_<time>s.png`` + ``metadata.csv``).

    Frames outside every segment get ``default_label`` (grouped per gap between segments) or are skipped.
    Videos are known by file name: re-exporting one replaces its earlier frames (two different videos need two
    names). Returns the number of frames written per label.
    """
    out, v = Path(out_dir), Path(video)
    mine = segments_for(segments, v)
    if not mine and default_label is None:
        raise KernelLaughError(f"{v}: no segment in the segments file applies to it (match its file name in a "
                               "'video' column, or give --default-label)")
    labels = {s.label for s in mine} | ({default_label} if default_label else set())
    dirs = _class_dirs(out, labels, classes, default_label)
    if unknown := labels - dirs.keys():
        raise KernelLaughError(f"labels {sorted(unknown)} are not in --classes {list(classes or [])}")
    meta_path = out / "metadata.csv"
    columns, rows = _read_metadata(meta_path)
    # A re-export of the same video replaces its frames: its old rows go, its old files once the new ones are in.
    old_files = {out / r["file_name"] for r in rows if r.get("video") == v.name}
    rows = [r for r in rows if r.get("video") != v.name]

    written: list[Path] = []
    counts: dict[str, int] = {}
    starts = [s.start for s in mine]
    try:
        for t, image in iter_frames(v, fps, crop, progress=True):
            i = int(np.searchsorted(starts, t, side="right")) - 1  # the last segment starting at or before t
            if i >= 0 and t < mine[i].end:
                label, group = mine[i].label, f"{v.stem}:seg{i:03d}"
            elif default_label is not None:
                label, group = default_label, f"{v.stem}:gap{i + 1:03d}"  # the gap before segment i + 1
            else:
                continue
            rel = f"{dirs[label]}/{v.stem}_{t:09.3f}s.{image_format}"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            image.save(out / rel)
            written.append(out / rel)
            rows.append({"file_name": rel, "video": v.name, "time": f"{t:.3f}", "segment": group})
            counts[label] = counts.get(label, 0) + 1
    except KernelLaughError:
        for f in set(written) - old_files:  # leave no half-exported video behind (its frames would have no metadata)
            f.unlink(missing_ok=True)
        raise
    if not written:
        raise KernelLaughError(f"{v}: no sampled frame falls inside a segment (at {fps} fps); nothing written")
    out.mkdir(parents=True, exist_ok=True)
    with meta_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    for f in old_files - set(written):
        f.unlink(missing_ok=True)
    record_region(out, crop)  # a model trained on these frames records it; the Space's video tab crops the same way
    return counts


# ---- timelines ---------------------------------------------------------------------------------------------

def predict_timeline(predictor: Predictor, path: str | Path, fps: float = 1.0, crop: Box | str | None = None,
                     batch_size: int = 16, progress: bool = True) -> list[dict[str, float]]:
    """Classify frames sampled at ``fps``: one row ``{"time": t, <label>: probability, ...}`` per frame,
    labels in the model's order. The model runs on one batch while the next is being decoded."""
    rows: list[dict[str, float]] = []

    def classify(batch: list[tuple[float, Image.Image]]) -> None:
        for (t, _), scores in zip(batch, predictor([im for _, im in batch], batch_size=batch_size)):
            by_label = {d["label"]: d["score"] for d in scores}
            rows.append({"time": t, **{lab: float(by_label[lab]) for lab in predictor.label_names}})

    # One worker thread, so batches are classified (and rows appended) in order; decoding and the model both
    # release the GIL, so they overlap.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        batch: list[tuple[float, Image.Image]] = []
        for t, image in iter_frames(path, fps, crop, progress=progress):
            batch.append((t, image))
            if len(batch) == batch_size:
                if pending is not None:
                    pending.result()  # re-raises the model's error, if any
                pending, batch = pool.submit(classify, batch), []
        if pending is not None:
            pending.result()
        if batch:
            classify(batch)
    return rows


def _running_median(x: np.ndarray, half: int) -> np.ndarray:
    """Median over ``x[i - half : i + half + 1]`` (truncated at the ends), for every i."""
    if half < 1:
        return x
    return np.array([np.median(x[max(0, i - half): i + half + 1]) for i in range(len(x))])


def find_segments(timeline: list[dict[str, float]], label: str, on: float = 0.6, off: float = 0.4,
                  min_duration: float = 1.0, smooth: float = 4.0) -> list[dict[str, float]]:
    """Segments where ``label`` holds: rows ``{"start", "end", "peak", "mean"}`` (seconds, probabilities).

    The probability is first smoothed by a running median over ``smooth`` seconds (centred, so +-smooth/2; 0 = no
    smoothing): it removes short blips and dropouts of a frame or two, where per-frame predictions flicker, and
    keeps step edges where they are. A segment then opens when the smoothed probability reaches ``on`` and closes
    when it falls below ``off`` (hysteresis: no flicker around one threshold). A segment covers its frames'
    sampling intervals, so ``end`` is the last frame's time plus one step. Segments shorter than
    ``min_duration`` seconds are dropped. ``peak`` and ``mean`` are of the raw probabilities inside the segment.
    """
    if not timeline:
        return []
    if label not in timeline[0]:
        raise KernelLaughError(f"label {label!r} not in the timeline (columns: {[k for k in timeline[0] if k != 'time']})")
    if not 0.0 <= off <= on <= 1.0:
        raise KernelLaughError(f"need 0 <= off <= on <= 1 (got on={on}, off={off})")
    rows = sorted(timeline, key=lambda r: r["time"])
    times = np.array([r["time"] for r in rows], dtype=float)  # (T,)
    probs = np.array([r[label] for r in rows], dtype=float)  # (T,)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    smoothed = _running_median(probs, int(smooth / 2 / step + 1e-9) if step > 0 else 0)
    spans, begin = [], None
    for i, p in enumerate(smoothed):
        if begin is None and p >= on:
            begin = i
        elif begin is not None and p < off:
            spans.append((begin, i - 1))
            begin = None
    if begin is not None:
        spans.append((begin, len(smoothed) - 1))
    out = []
    for b, e in spans:
        start, end = float(times[b]), float(times[e]) + step
        if end - start + 1e-9 >= min_duration:
            inside = probs[b: e + 1]
            out.append({"start": round(start, 3), "end": round(end, 3), "peak": float(inside.max()), "mean": float(inside.mean())})
    return out


def default_segment_label(labels: Sequence[str]) -> str:
    """The class whose segments a timeline is about: ``laughter`` when the model has it, else the positive class
    (index 1) of a binary model; a multi-class model needs it named."""
    labels = [lab for lab in labels if lab != "time"]
    if "laughter" in labels:
        return "laughter"
    if len(labels) == 2:
        return labels[1]
    raise KernelLaughError(f"the model has {len(labels)} classes {labels}: name the one to find segments of (--label)")


def write_timeline(timeline: list[dict[str, float]], segments: list[dict[str, float]], out_dir: str | Path,
                   label: str | None = None) -> dict[str, Path]:
    """Write ``timeline.csv`` (time + one probability column per class), ``segments.csv`` (start, end, peak,
    mean) and ``timeline.png`` into ``out_dir``; return their paths by name. ``label`` is the class the
    segments are of (default: ``laughter`` if the model has it, else the positive class of a binary model)."""
    from kernel_laugh.plots import save_figure, timeline_figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    label = label or default_segment_label(list(timeline[0]) if timeline else [])
    paths = {"timeline": out / "timeline.csv", "segments": out / "segments.csv", "plot": out / "timeline.png"}
    columns = list(timeline[0]) if timeline else ["time"]
    with paths["timeline"].open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows({k: (f"{v:.3f}" if k == "time" else f"{v:.6f}") for k, v in r.items()} for r in timeline)
    with paths["segments"].open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["start", "end", "peak", "mean"])
        w.writeheader()
        w.writerows({k: f"{s[k]:.3f}" if k in ("start", "end") else f"{s[k]:.4f}" for k in w.fieldnames} for s in segments)
    save_figure(timeline_figure(timeline, segments, label), paths["plot"])
    return paths


def summarise_segments(segments: list[dict[str, float]], label: str) -> str:
    """One line per segment, for the console."""
    if not segments:
        return f"no {label} segments"
    lines = [f"{len(segments)} {label} segment(s):"]
    lines += [f"  {s['start']:8.2f} - {s['end']:8.2f} s  (peak {s['peak']:.2f}, mean {s['mean']:.2f})" for s in segments]
    return "\n".join(lines)


__all__ = ["REGIONS", "Segment", "VideoInfo", "default_segment_label", "export_frames", "find_segments", "iter_frames", "load_segments",
           "parse_crop", "parse_time", "predict_timeline", "probe", "region_box", "segments_for",
           "summarise_segments", "write_sample_clip", "write_timeline", "write_video"]
