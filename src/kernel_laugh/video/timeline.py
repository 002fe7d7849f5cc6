"""Timelines: a model run over a video's sampled frames, the segments where a class holds, and their files.

``predict_timeline`` / ``find_segments`` / ``write_timeline`` are ``kernel-laugh timeline`` and the Space's video
tab. Times are seconds from the start of the video stream.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.plots import save_figure, timeline_figure
from kernel_laugh.readers.frames import Box
from kernel_laugh.video.decoding import iter_frames

if TYPE_CHECKING:  # inference pulls in transformers: only the type is needed here
    from kernel_laugh.inference import Predictor

logger = logging.getLogger(__name__)


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


__all__ = ["default_segment_label", "find_segments", "predict_timeline", "summarise_segments", "write_timeline"]
