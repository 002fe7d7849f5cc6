"""The face-expression side of the app service (``kernel_laugh.demo_service``), with no gradio import.

For a face-expression model the Space shows every face: the image tab draws a labelled box on each and lists
them all, the video tab follows the main face's emotions over time (a line per emotion, the share of time in
each, CSV files), and the live tab does the image tab's work on every webcam frame, keeping a rolling
history per visitor (``kernel_laugh.live_stream``). ``FaceService`` holds what those need: the model's
``classify`` (already under the app's model lock), its labels, and two face detectors made on first use (the
still-image one, and a faster one for live frames).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from PIL import Image

from kernel_laugh.batching import SharedBatches
from kernel_laugh.emotion_timeline import (
    long_rows,
    share_rows,
    summarise_emotions,
    track_emotions,
    write_emotion_timeline,
)
from kernel_laugh.face_expressions import (
    TABLE_COLUMNS,
    ClassifyCrops,
    ExpressionReader,
    FaceExpression,
    expression_rows,
    summary_text,
)
from kernel_laugh.faces import HaarFaceDetector
from kernel_laugh.live_stream import LiveFrame, LiveSession

logger = logging.getLogger(__name__)

# Live frames are shrunk to this longer side before the cascade runs: at 640x480 it halves detection time
# against the still-image setting (800), and a face in a webcam frame is large (min_size 20 px here is
# 32 px in the 640x480 frame).
LIVE_MAX_SIDE = 400
LIVE_MIN_FACE = 20
LIVE_MAX_FRAMES_PER_PASS = 8  # visitors' frames whose face crops share one forward pass


def shared_crops(classify: ClassifyCrops, max_frames: int = LIVE_MAX_FRAMES_PER_PASS) -> ClassifyCrops:
    """``classify`` for several callers at once: the crops of frames that arrive together (several visitors
    streaming) go through the model in one forward pass, and each caller gets its own crops' results back.
    On 2 CPU cores one pass over 8 crops costs less than four passes over 2 (``scripts/bench_live.py``)."""

    def batched(crop_lists: list[list[Image.Image]]) -> tuple[list[list[list[dict]]]]:
        flat = [crop for crops in crop_lists for crop in crops]  # (sum of faces,) across the callers' frames
        results = classify(flat) if flat else []
        out, start = [], 0
        for crops in crop_lists:
            out.append(results[start:start + len(crops)])
            start += len(crops)
        return (out,)

    shared = SharedBatches(batched, max_size=max_frames)
    return lambda crops: shared(list(crops))[0]


class FaceService:
    """Every face, emotion over time, and live frames for one face-expression model (see the module docstring).

    ``classify`` maps face crops to one ``[{"label", "score"}, ...]`` per crop; ``labels`` is the model's class
    order. Face detection needs OpenCV (the ``faces`` extra): without it every method raises a one-line
    ``KernelLaughError`` saying how to install it.
    """

    def __init__(self, classify: ClassifyCrops, labels: Sequence[str]):
        self.labels = list(labels)
        self._classify = classify
        self._live_classify = shared_crops(classify)
        self._still: ExpressionReader | None = None
        self._live: ExpressionReader | None = None

    @property
    def still(self) -> ExpressionReader:
        """The reader for uploaded images and video frames (OpenCV's cascade loaded on first use)."""
        if self._still is None:
            self._still = ExpressionReader(HaarFaceDetector(), self._classify, self.labels)
        return self._still

    @property
    def live(self) -> ExpressionReader:
        """The reader for webcam frames: the same model, a detector tuned for speed (``LIVE_MAX_SIDE``)."""
        if self._live is None:
            self._live = ExpressionReader(HaarFaceDetector(max_side=LIVE_MAX_SIDE, min_size=LIVE_MIN_FACE),
                                          self._live_classify, self.labels)
        return self._live

    # -- Image tab
    def image_faces(self, image: Image.Image) -> tuple[list[FaceExpression], Image.Image, pd.DataFrame, str]:
        """Every face of ``image``: the results, the image with their boxes, the table and a one-line summary."""
        faces, annotated = self.still.annotate(image)
        return faces, annotated, self.faces_table(faces), summary_text(faces)

    def faces_table(self, faces: Sequence[FaceExpression]) -> pd.DataFrame:
        """A row per face (numbered as drawn): box, top expression and score, every class's probability."""
        return pd.DataFrame(expression_rows(faces), columns=[*TABLE_COLUMNS, *self.labels])

    # -- Video tab
    def emotion_video(self, frames: Iterable[tuple[float, Image.Image]], out_dir: str | Path, batch_size: int = 16,
                      ) -> tuple[str, str, pd.DataFrame, list[str], str]:
        """The main face's emotions over the sampled ``(time_s, image)`` frames: the line chart (PNG), the
        share-of-time chart (PNG), the shares table, the CSV files (``emotions.csv``, ``emotion_shares.csv``) and
        a one-line summary."""
        rows = track_emotions(frames, self.still.detector, self._classify, self.labels, batch_size=batch_size)
        paths = write_emotion_timeline(rows, self.labels, out_dir)
        shares = pd.DataFrame(share_rows(rows, self.labels), columns=["emotion", "share", "seconds"])
        return (str(paths["plot"]), str(paths["frequency"]), shares, [str(paths["csv"]), str(paths["shares"])],
                summarise_emotions(rows, self.labels))

    # -- Live tab
    def new_session(self) -> LiveSession:
        """A fresh per-visitor stream state (the Space's ``gr.State`` copies it for every visitor)."""
        return LiveSession(self.labels)

    def live_frame(self, session: LiveSession, frame: Image.Image) -> LiveFrame | None:
        """One webcam frame through ``session``: the annotated frame and the history, or None when dropped
        (the visitor's previous frame is still being processed)."""
        return session.process(frame, self.live.annotate)

    def history_table(self, history: Sequence[dict]) -> pd.DataFrame:
        """The rolling history in the long form a line chart takes: ``time``, ``emotion``, ``probability``."""
        return pd.DataFrame(long_rows(history, self.labels), columns=["time", "emotion", "probability"])


__all__ = ["LIVE_MAX_FRAMES_PER_PASS", "LIVE_MAX_SIDE", "LIVE_MIN_FACE", "FaceService", "shared_crops"]
