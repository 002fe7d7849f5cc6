"""Per-step expert outputs on one clip: the record shared by the expert runners, the gate, evaluation and timeline.

A clip is read on one time grid (default 2 Hz). At each of its ``T`` steps, each of the ``E`` experts gives a
positive-class (laughter) logit, whether its modality was **available**, and a few **quality** features. A
missing modality is a ``False`` in ``available`` and a 0.0 in ``logits`` / ``quality``: never a NaN, so tensors
built from this record need no NaN handling and a mask says what is real.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from kernel_laugh.config import FUSION_GRID_HZ, MODALITIES
from kernel_laugh.errors import KernelLaughError

logger = logging.getLogger(__name__)

DEFAULT_GRID_HZ = FUSION_GRID_HZ


@dataclass(frozen=True)
class ExpertSteps:
    """What ``E`` experts say about one clip at ``T`` time steps.

    Attributes:
        clip: the clip's name (its file name), also its group for grouped splits and intervals.
        times: ``(T,)`` float64, step centres in seconds from the clip's start.
        experts: ``E`` expert names, a subsequence of ``MODALITIES`` in that order.
        logits: ``(T, E)`` float32 positive-class (laughter) logits of each expert; 0.0 where unavailable.
        available: ``(T, E)`` bool, whether the expert's modality had usable input at that step.
        quality: ``(T, Q)`` float32 quality features (e.g. ``face.box_area``, ``audio.loudness_db``); 0.0 where the
            feature's expert is unavailable.
        quality_names: ``Q`` names, each ``"<expert>.<feature>"``.
        labels: ``(T,)`` int64 in {0, 1} (1 = laughter) when the clip has labelled segments, else None.

    Raises:
        KernelLaughError: shapes disagree, an expert is unknown, or a value is NaN.
    """

    clip: str
    times: np.ndarray
    experts: tuple[str, ...]
    logits: np.ndarray
    available: np.ndarray
    quality: np.ndarray
    quality_names: tuple[str, ...]
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        t, e = len(self.times), len(self.experts)
        unknown = [x for x in self.experts if x not in MODALITIES]
        if unknown:
            raise KernelLaughError(f"{self.clip}: unknown expert(s) {unknown}; known: {list(MODALITIES)}")
        checks = {"logits": (self.logits.shape, (t, e)), "available": (self.available.shape, (t, e)),
                  "quality": (self.quality.shape, (t, len(self.quality_names)))}
        if self.labels is not None:
            checks["labels"] = (self.labels.shape, (t,))
        for name, (got, want) in checks.items():
            if tuple(got) != want:
                raise KernelLaughError(f"{self.clip}: {name} has shape {tuple(got)}, expected {want}")
        if np.isnan(self.logits).any() or np.isnan(self.quality).any():
            raise KernelLaughError(f"{self.clip}: NaN in expert outputs; a missing modality is a mask, not a NaN")

    @property
    def n_steps(self) -> int:
        return len(self.times)
