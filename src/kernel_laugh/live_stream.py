"""The live tab's logic: one visitor's webcam stream, frame by frame, with no gradio in it.

Each visitor gets a ``LiveSession`` (the Space keeps it in ``gr.State``, so visitors never share one): the time
the stream started, a rolling history of the main face's emotions (``kernel_laugh.emotion_timeline`` rows) and
counters. ``LiveSession.process`` analyses one frame with the app's ``analyse`` function (detect every face,
classify them, draw the boxes) and returns the annotated frame and the history.

**Dropping, not queueing.** A frame that arrives while the same visitor's previous frame is still being
processed is dropped (``process`` returns None at once): queueing it would make the picture lag further and
further behind a camera that keeps sending. Gradio's stream event already keeps only the newest chunk of a
stream while its handler runs; the session's gate makes the rule hold for any caller (two tabs of one session,
API clients, tests). Visitors wait only for the shared model's lock, one frame each at most.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from kernel_laugh.emotion_timeline import main_face_row
from kernel_laugh.face_expressions import FaceExpression

logger = logging.getLogger(__name__)

HISTORY_SECONDS = 30.0  # the rolling chart's window
MAX_HISTORY = 600  # rows kept at most (30 s at 20 frames/s)

# The app's per-frame work: RGB frame → (every face with its expression, the frame with the boxes drawn).
Analyse = Callable[[Image.Image], tuple[list[FaceExpression], Image.Image]]


@dataclass
class LiveFrame:
    """What one processed frame gives back: the annotated frame, its faces, and the history so far."""

    image: Image.Image
    faces: list[FaceExpression]
    history: list[dict[str, Any]]
    latency_s: float  # from the frame's arrival here to its result


class LiveSession:
    """One visitor's stream state (see the module docstring). ``clock`` gives seconds (monotonic).

    A plain class, not a dataclass: gradio turns dataclass values of ``gr.State`` into dicts for the page's
    config (deep-copying every field, the lock included).
    """

    def __init__(self, labels: Sequence[str], history_seconds: float = HISTORY_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.labels = list(labels)
        self.history_seconds = history_seconds
        self.clock = clock
        self.started: float | None = None  # clock time of the first processed frame
        self.history: deque[dict[str, Any]] = deque(maxlen=MAX_HISTORY)  # emotion_timeline rows, oldest first
        self.processed = 0
        self.dropped = 0
        self._busy = threading.Lock()  # held while a frame is processed

    def __deepcopy__(self, memo: dict[int, Any]) -> LiveSession:
        # gr.State deep-copies its initial value for every new visitor: each gets a fresh session (a lock
        # cannot be copied, and a copied history would leak one visitor's stream to the next).
        return LiveSession(labels=list(self.labels), history_seconds=self.history_seconds, clock=self.clock)

    def process(self, frame: Image.Image, analyse: Analyse) -> LiveFrame | None:
        """Analyse ``frame`` and add its main face to the history; None (dropped) when this session is still
        busy with its previous frame."""
        if not self._busy.acquire(blocking=False):
            self.dropped += 1
            logger.debug("live frame dropped: the previous one is still being processed (%d so far)", self.dropped)
            return None
        try:
            arrived = self.clock()
            if self.started is None:
                self.started = arrived
            faces, annotated = analyse(frame)
            self.history.append(main_face_row(arrived - self.started, faces, self.labels))
            while self.history and self.history[-1]["time"] - self.history[0]["time"] > self.history_seconds:
                self.history.popleft()
            self.processed += 1
            return LiveFrame(image=annotated, faces=faces, history=list(self.history), latency_s=self.clock() - arrived)
        finally:
            self._busy.release()

    def reset(self) -> None:
        """Forget the history (a new stream starts at time 0)."""
        self.started = None
        self.history.clear()


__all__ = ["HISTORY_SECONDS", "Analyse", "LiveFrame", "LiveSession"]
