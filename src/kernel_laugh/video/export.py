"""Export: sampled frames out to a labelled ImageFolder (``kernel-laugh frames``), and frames out to a clip.

- ``export_frames`` is ``kernel-laugh frames``: a segments file (``start,end,label``) labels the sampled frames;
  ``metadata.csv`` keeps the source video, the time and a segment id (the group column for splitting, so
  near-duplicate frames of one segment never land on both sides of a split). Several videos append.
- ``write_video`` / ``write_sample_clip`` encode frames (tests, demos): the sample clip is SYNTHETIC.

Writing (``write_video``) opens its output with ``av.open(..., "w")`` here: it only writes, never reads.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from kernel_laugh.config import NEGATIVE_LABEL
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.frame_regions import record_region
from kernel_laugh.readers.folders import subfolders
from kernel_laugh.readers.frames import Box
from kernel_laugh.readers.segments import Segment, segments_for
from kernel_laugh.readers.tables import read_csv
from kernel_laugh.sample import generate_sample
from kernel_laugh.video.decoding import iter_frames

logger = logging.getLogger(__name__)


# ---- writing videos (tests and demos) ----------------------------------------------------------------------

def write_video(path: str | Path, images: Iterable[Image.Image | np.ndarray], fps: float, gop: int | None = None,
                crf: int = 18) -> Path:
    """Encode RGB images (all one size) as H.264 (MPEG-4 Part 2 if this FFmpeg lacks x264) at ``fps``.

    yuv420p needs even sides, so an odd last row/column is dropped. ``gop`` sets the keyframe interval in frames.
    """
    import av  # optional extra ('video'): only writing and reading videos need PyAV

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


__all__ = ["METADATA_COLUMNS", "export_frames", "write_sample_clip", "write_video"]
