"""The gate: per-expert calibration and a softmax gate over the experts that are available at each step.

At every time step, each of the ``E`` experts gives a laughter logit ``z_e``, an availability bit ``a_e`` and a few
quality features. The fused logit is

    fused = sum_e w_e * c_e,   c_e = (s_e * z_e + b_e) / T,   w = softmax over {e : a_e} of g(a, q, c),

- ``c_e``: the expert's calibrated logit, Platt scaling (Platt 1999, "Probabilistic outputs for support vector
  machines and comparisons to regularized likelihood methods": a scale and a bias per expert, fitted by logistic
  loss) with one shared temperature ``T`` (Guo et al. 2017) chosen on validation for the fused output;
- ``g``: a small network over the availability mask, the standardised quality features and the calibrated logits,
  whose scores go through a softmax restricted to the available experts (the gating network of Jacobs, Jordan,
  Nowlan & Hinton 1991, "Adaptive mixtures of local experts", Neural Computation 3:79). A missing expert's score is
  ``-inf`` before the softmax, so its weight is exactly 0; with one expert available its weight is exactly 1 and the
  fused logit is that expert's calibrated logit;
- with no expert available the output is the prior logit (the laughter share of the gate's training steps) and the
  step is flagged ``no_evidence``.

The module only computes; ``kernel_laugh.fusion.training`` fits it (with modality dropout) and
``kernel_laugh.fusion.artefact`` saves and loads it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kernel_laugh.config import FUSION_GATE_HIDDEN
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.fusion.steps import ExpertSteps

logger = logging.getLogger(__name__)

DEFAULT_HIDDEN = FUSION_GATE_HIDDEN


@dataclass
class FusionOutput:
    """What the gate says about ``N`` steps (tensors on the gate's device).

    Attributes:
        fused_logit: ``(N,)`` laughter logit of the mixture; the prior logit where ``no_evidence``.
        weights: ``(N, E)`` gate weights, summing to 1 over the available experts, exactly 0 for a missing one
            (and all 0 on a no-evidence step).
        calibrated: ``(N, E)`` each expert's calibrated logit ``(s_e z_e + b_e) / T``; 0 where unavailable.
        no_evidence: ``(N,)`` bool, no expert available at that step.
    """

    fused_logit: torch.Tensor
    weights: torch.Tensor
    calibrated: torch.Tensor
    no_evidence: torch.Tensor

    @property
    def fused_probability(self) -> torch.Tensor:
        return torch.sigmoid(self.fused_logit)


class GatedFusion(nn.Module):
    """Per-expert Platt calibration and a masked softmax gate (see the module docstring for the formulas).

    Args:
        experts: the ``E`` expert names, in the column order of ``ExpertSteps.logits``.
        quality_names: the ``Q`` quality feature names, each ``"<expert>.<feature>"``.
        hidden: width of the gate's hidden layer.
        use_logits: whether the gate also sees the calibrated logits (it can then learn that an expert's confident
            outputs are worth more than its hesitant ones).

    Buffers (saved with the weights): ``quality_mean`` / ``quality_std`` ``(Q,)`` (the standardisation of the quality
    features, fitted on the gate's training steps where their expert is available), ``temperature`` ``()``,
    ``prior_logit`` ``()``.
    """

    def __init__(self, experts: tuple[str, ...] | list[str], quality_names: tuple[str, ...] | list[str],
                 hidden: int = DEFAULT_HIDDEN, use_logits: bool = True) -> None:
        super().__init__()
        if not experts:
            raise KernelLaughError("the gate needs at least one expert")
        self.experts = tuple(experts)
        self.quality_names = tuple(quality_names)
        self.use_logits = use_logits
        e, q = len(self.experts), len(self.quality_names)
        owner = [self.experts.index(n.split(".", 1)[0]) if n.split(".", 1)[0] in self.experts else -1
                 for n in self.quality_names]
        # (Q,) index of the expert each quality feature belongs to (-1: always present).
        self.register_buffer("quality_owner", torch.tensor(owner, dtype=torch.long), persistent=False)
        self.scale = nn.Parameter(torch.ones(e))  # (E,) Platt scale per expert
        self.bias = nn.Parameter(torch.zeros(e))  # (E,) Platt bias per expert
        self.register_buffer("quality_mean", torch.zeros(q))
        self.register_buffer("quality_std", torch.ones(q))
        self.register_buffer("temperature", torch.tensor(1.0))
        self.register_buffer("prior_logit", torch.tensor(0.0))
        self.net = nn.Sequential(nn.Linear(e + q + (e if use_logits else 0), hidden), nn.Tanh(), nn.Linear(hidden, e))

    # -- the pieces ------------------------------------------------------------------------------------------

    def platt(self, logits: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        """``(N, E)`` raw expert logits → Platt-scaled logits ``s_e z_e + b_e`` (no temperature); 0 where unavailable."""
        c = logits * self.scale + self.bias
        return torch.where(available, c, torch.zeros_like(c))

    def scaled_quality(self, quality: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        """``(N, Q)`` raw quality → standardised; 0 (the training mean) where the feature's expert is missing."""
        q = (quality - self.quality_mean) / self.quality_std
        if not len(self.quality_names):
            return q
        owner = self.quality_owner.clamp(min=0)
        present = available[:, owner] | (self.quality_owner < 0)  # (N, Q)
        return torch.where(present, q, torch.zeros_like(q))

    def forward(self, logits: torch.Tensor, available: torch.Tensor, quality: torch.Tensor) -> FusionOutput:
        """logits ``(N, E)`` float, available ``(N, E)`` bool, quality ``(N, Q)`` float (raw, as the experts give it).

        Calibration learns only from each expert's own loss and the gate only from the fused loss (the fused sum
        and the gate's inputs use the calibrated logits detached), so the calibration stays a per-expert Platt
        fit whatever the gate does. The gate sees the Platt logits before the temperature, so the temperature
        rescales the fused logit exactly (``fused(T) = fused(1) / T``) and never changes the weights."""
        available = available.bool()
        platt = self.platt(logits, available)  # (N, E)
        calibrated = platt / self.temperature  # (N, E), still 0 where unavailable
        parts = [available.float(), self.scaled_quality(quality, available)]
        if self.use_logits:
            parts.append(platt.detach())
        scores = self.net(torch.cat(parts, dim=1))  # (N, E)
        any_available = available.any(dim=1)  # (N,)
        # Missing experts get -inf, so exp() makes their weight exactly 0; rows with nothing available get finite
        # scores (no NaN from softmax over all -inf) and their weights are zeroed just below.
        masked = scores.masked_fill(~available, float("-inf"))
        masked = torch.where(any_available[:, None], masked, torch.zeros_like(scores))
        weights = torch.where(available, torch.softmax(masked, dim=1), torch.zeros_like(scores))  # (N, E)
        fused = (weights * calibrated.detach()).sum(dim=1)  # (N,)
        fused = torch.where(any_available, fused, self.prior_logit.expand_as(fused))
        return FusionOutput(fused, weights, calibrated, ~any_available)

    # -- numpy convenience -----------------------------------------------------------------------------------

    def check_steps(self, steps: ExpertSteps) -> None:
        """Raise KernelLaughError when ``steps`` has other experts or quality features than the gate was built on."""
        if tuple(steps.experts) != self.experts or tuple(steps.quality_names) != self.quality_names:
            raise KernelLaughError(f"{steps.clip}: experts {list(steps.experts)} / quality {list(steps.quality_names)} "
                                   f"differ from the gate's {list(self.experts)} / {list(self.quality_names)}")

    @torch.no_grad()
    def fuse_arrays(self, logits: np.ndarray, available: np.ndarray, quality: np.ndarray) -> dict[str, np.ndarray]:
        """The gate on numpy arrays (``(N, E)``, ``(N, E)`` bool, ``(N, Q)``): a dict of float64 / bool arrays
        ``fused_probability`` (N,), ``fused_logit`` (N,), ``weights`` (N, E), ``calibrated_probability`` (N, E)
        (0.5 where unavailable: use ``available``), ``no_evidence`` (N,)."""
        device = self.prior_logit.device
        out = self(torch.as_tensor(logits, dtype=torch.float32, device=device),
                   torch.as_tensor(available, dtype=torch.bool, device=device),
                   torch.as_tensor(quality, dtype=torch.float32, device=device).reshape(len(logits), -1))
        return {"fused_logit": out.fused_logit.double().cpu().numpy(),
                "fused_probability": torch.sigmoid(out.fused_logit.double()).cpu().numpy(),
                "weights": out.weights.double().cpu().numpy(),
                "calibrated_probability": torch.sigmoid(out.calibrated.double()).cpu().numpy(),
                "no_evidence": out.no_evidence.cpu().numpy()}

    def fuse_steps(self, steps: ExpertSteps) -> dict[str, np.ndarray]:
        """``fuse_arrays`` on one clip's ``ExpertSteps`` (checked against the gate's experts first)."""
        self.check_steps(steps)
        return self.fuse_arrays(steps.logits, steps.available, steps.quality)

    def set_prior(self, positive_share: float) -> None:
        """Set the no-evidence output to the logit of ``positive_share`` (clipped away from 0 and 1)."""
        p = min(max(float(positive_share), 1e-4), 1 - 1e-4)
        self.prior_logit.fill_(math.log(p / (1 - p)))
