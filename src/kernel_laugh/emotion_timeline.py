"""Emotion over time: every class probability of a video's main face, frame by frame, the share of time spent
in each emotion, and their charts and CSV (the Space's video tab and live tab for face-expression models).

A *row* is one sampled frame: ``{"time": s, "x", "y", "width", "height", <label>: probability, ...,
"expression": top label}``; a frame where no face was found keeps its time, with NaN probabilities, no box and
the expression ``"no face"`` (the charts show a gap there). The *main face* is the largest one in the frame.
Each sampled frame stands for one sampling interval, so shares of frames are shares of time.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from kernel_laugh.face_expressions import (
    ClassifyCrops,
    FaceExpression,
    label_colour,
    main_face,
)
from kernel_laugh.faces import FaceDetector, detect_and_crop, largest_box
from kernel_laugh.plots import save_figure

logger = logging.getLogger(__name__)

NO_FACE = "no face"
BOX_COLUMNS = ["x", "y", "width", "height"]


def emotion_row(time_s: float, face: FaceExpression | None, labels: Sequence[str]) -> dict[str, Any]:
    """The row of one frame (see the module docstring); ``face`` None when the frame has no face."""
    if face is None:
        return {"time": float(time_s), **dict.fromkeys(BOX_COLUMNS), **dict.fromkeys(labels, math.nan),
                "expression": NO_FACE}
    return {"time": float(time_s), **dict(zip(BOX_COLUMNS, face.box)), **{lab: face.scores[lab] for lab in labels},
            "expression": face.label}


def track_emotions(frames: Iterable[tuple[float, Image.Image]], detector: FaceDetector, classify: ClassifyCrops,
                   labels: Sequence[str], batch_size: int = 16, margin: float = 0.2) -> list[dict[str, Any]]:
    """One row per ``(time_s, image)`` frame for its main (largest) face, in time order.

    Faces are detected frame by frame; the main faces' crops of up to ``batch_size`` frames are classified in
    one call (one forward pass instead of ``batch_size``).
    """
    rows: list[dict[str, Any]] = []
    pending: list[tuple[float, Any, Image.Image | None]] = []  # (time, box, crop) awaiting classification

    def flush() -> None:
        crops = [crop for _, _, crop in pending if crop is not None]
        preds = iter(classify(crops) if crops else [])
        for t, box, crop in pending:
            face = None
            if crop is not None:
                by_label = {d["label"]: float(d["score"]) for d in next(preds)}
                face = FaceExpression(box=box, scores={lab: by_label[lab] for lab in labels})
            rows.append(emotion_row(t, face, labels))
        pending.clear()

    for t, image in frames:
        found = detect_and_crop(image, detector, margin)
        box = largest_box([b for b, _ in found])
        crop = next((c for b, c in found if b == box), None)
        pending.append((t, box, crop))
        if len(pending) >= batch_size:
            flush()
    flush()
    return rows


def main_face_row(time_s: float, faces: Sequence[FaceExpression], labels: Sequence[str]) -> dict[str, Any]:
    """The row of a frame already analysed face by face (the live tab): its main face, or no face."""
    return emotion_row(time_s, main_face(faces), labels)


def emotion_shares(rows: Sequence[dict[str, Any]], labels: Sequence[str]) -> dict[str, float]:
    """Share of sampled time (0..1) in which each emotion was the main face's top one, in the model's label
    order, then ``"no face"`` (frames without a face). The shares sum to 1 (all zero for no rows)."""
    counts = dict.fromkeys([*labels, NO_FACE], 0)
    for r in rows:
        counts[r["expression"]] += 1
    n = len(rows)
    return {k: (v / n if n else 0.0) for k, v in counts.items()}


def step_seconds(rows: Sequence[dict[str, Any]]) -> float:
    """The sampling interval: the median gap between frame times (1 s for fewer than two rows)."""
    times = np.array([r["time"] for r in rows], dtype=float)
    return float(np.median(np.diff(times))) if len(times) > 1 else 1.0


def share_rows(rows: Sequence[dict[str, Any]], labels: Sequence[str]) -> list[dict[str, Any]]:
    """Table rows ``{"emotion", "share", "seconds"}`` (share of time, rounded; seconds = frames x interval)."""
    step = step_seconds(rows)
    shares = emotion_shares(rows, labels)
    return [{"emotion": k, "share": round(v, 4), "seconds": round(v * len(rows) * step, 2)} for k, v in shares.items()]


def long_rows(rows: Sequence[dict[str, Any]], labels: Sequence[str]) -> list[dict[str, Any]]:
    """``{"time", "emotion", "probability"}`` per frame and class (the long format line charts take); frames
    without a face are left out."""
    return [{"time": r["time"], "emotion": lab, "probability": float(r[lab])}
            for r in rows for lab in labels if not math.isnan(r[lab])]


# ---- charts and files ----------------------------------------------------------------------------------------

def _rgb(label: str, labels: Sequence[str]) -> tuple[float, float, float]:
    r, g, b = label_colour(label, labels)
    return r / 255, g / 255, b / 255


def emotions_figure(rows: Sequence[dict[str, Any]], labels: Sequence[str], title: str = "Emotion over time (main face)",
                    ) -> Figure:
    """A line per emotion: its probability (0..1) against time (s); gaps where no face was found."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax = fig.subplots()
    times = np.array([r["time"] for r in rows], dtype=float)  # (T,)
    for lab in labels:
        probs = np.array([r[lab] for r in rows], dtype=float)  # (T,), NaN where no face: matplotlib leaves a gap
        ax.plot(times, probs, label=lab, color=_rgb(lab, labels), linewidth=1.6)
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return fig


def frequency_figure(rows: Sequence[dict[str, Any]], labels: Sequence[str]) -> Figure:
    """Horizontal bars: the share of time (%) each emotion was the main face's top one, plus "no face"."""
    shares = share_rows(rows, labels)
    fig = Figure(figsize=(6, 0.45 * len(shares) + 1.2), layout="constrained")
    ax = fig.subplots()
    names = [s["emotion"] for s in shares][::-1]
    values = [100 * s["share"] for s in shares][::-1]
    colours = [(0.6, 0.6, 0.6) if n == NO_FACE else _rgb(n, labels) for n in names]
    bars = ax.barh(names, values, color=colours)
    for bar, s in zip(bars, shares[::-1]):
        ax.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, f"{100 * s['share']:.0f}% ({s['seconds']:.1f} s)",
                va="center", fontsize=8)
    ax.set_xlim(0, 115)
    ax.set_xlabel("share of time (%)")
    ax.set_title(f"Time in each emotion ({len(rows)} frames)")
    return fig


def write_emotion_timeline(rows: Sequence[dict[str, Any]], labels: Sequence[str], out_dir: str | Path,
                           ) -> dict[str, Path]:
    """Write ``emotions.csv`` (a row per frame: time, main-face box, every probability, top expression),
    ``emotion_shares.csv`` (emotion, share, seconds), ``emotions.png`` and ``emotion_shares.png`` into
    ``out_dir``; return their paths by name (``csv``, ``shares``, ``plot``, ``frequency``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "emotions.csv", "shares": out / "emotion_shares.csv", "plot": out / "emotions.png",
             "frequency": out / "emotion_shares.png"}

    def cell(key: str, value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if key == "time":
            return f"{value:.3f}"
        return f"{value:.6f}" if isinstance(value, float) else str(value)

    with paths["csv"].open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["time", *BOX_COLUMNS, *labels, "expression"])
        w.writeheader()
        w.writerows({k: cell(k, v) for k, v in r.items()} for r in rows)
    with paths["shares"].open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["emotion", "share", "seconds"])
        w.writeheader()
        w.writerows(share_rows(rows, labels))
    save_figure(emotions_figure(rows, labels), paths["plot"])
    save_figure(frequency_figure(rows, labels), paths["frequency"])
    return paths


def summarise_emotions(rows: Sequence[dict[str, Any]], labels: Sequence[str]) -> str:
    """One line: frames, frames with a face, and the most frequent emotion."""
    shares = emotion_shares(rows, labels)
    seen = [(k, v) for k, v in shares.items() if k != NO_FACE]
    with_face = sum(1 for r in rows if r["expression"] != NO_FACE)
    if not with_face:
        return f"{len(rows)} frames sampled; no face found in any of them."
    top, share = max(seen, key=lambda kv: kv[1])
    return (f"{len(rows)} frames sampled, a face in {with_face}; the main face was mostly **{top}** "
            f"({100 * share:.0f}% of the time).")


__all__ = ["BOX_COLUMNS", "NO_FACE", "emotion_row", "emotion_shares", "emotions_figure", "frequency_figure", "long_rows",
           "main_face_row", "share_rows", "step_seconds", "summarise_emotions", "track_emotions",
           "write_emotion_timeline"]
