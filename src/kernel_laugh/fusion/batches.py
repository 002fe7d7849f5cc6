"""Many clips' ``ExpertSteps`` stacked into arrays: what the gate trains on and is measured on."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.fusion.steps import ExpertSteps

logger = logging.getLogger(__name__)


@dataclass
class StepArrays:
    """Many clips' steps stacked: logits ``(N, E)``, available ``(N, E)``, quality ``(N, Q)``, labels ``(N,)``,
    clips ``(N,)`` (the group of each step), times ``(N,)``."""

    experts: tuple[str, ...]
    quality_names: tuple[str, ...]
    logits: np.ndarray
    available: np.ndarray
    quality: np.ndarray
    labels: np.ndarray
    clips: np.ndarray
    times: np.ndarray

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return (torch.as_tensor(self.logits, dtype=torch.float32), torch.as_tensor(self.available, dtype=torch.bool),
                torch.as_tensor(self.quality, dtype=torch.float32), torch.as_tensor(self.labels, dtype=torch.float32))


def stack_steps(steps: list[ExpertSteps]) -> StepArrays:
    """Stack labelled clips; raises KernelLaughError when none is given, one has no labels, or experts differ."""
    if not steps:
        raise KernelLaughError("no clips to stack: the split is empty")
    first = steps[0]
    for s in steps:
        if s.labels is None:
            raise KernelLaughError(f"{s.clip}: no labels (its video has no rows in labels.csv)")
        if s.experts != first.experts or s.quality_names != first.quality_names:
            raise KernelLaughError(f"{s.clip}: experts {list(s.experts)} differ from {first.clip}'s {list(first.experts)}")
    return StepArrays(first.experts, first.quality_names, np.concatenate([s.logits for s in steps]),
                      np.concatenate([s.available for s in steps]), np.concatenate([s.quality for s in steps]),
                      np.concatenate([s.labels for s in steps]).astype(np.int64),
                      np.concatenate([[s.clip] * s.n_steps for s in steps]), np.concatenate([s.times for s in steps]))
