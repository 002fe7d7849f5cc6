"""Training the gate on frozen experts' outputs, on Accelerate like the rest of the package.

Read ``fit_gate`` top to bottom: the gate's training steps → quality standardisation and prior → the Accelerator
(``kernel_laugh.training.make_accelerator``, the package's one place that sets Accelerate up) → epochs of
(``train_gate_epoch`` with modality dropout, validation loss, keep the best) → temperature and threshold chosen on
validation. The experts never train here: their logits are data (``ExpertSteps``), computed once per clip on
videos they did not train on (out-of-fold outputs, as in stacking: Wolpert 1992, "Stacked generalization").

Modality dropout (ModDrop: Neverova, Wolf, Taylor & Nebout 2016, "ModDrop: adaptive multi-modal gesture
recognition", IEEE TPAMI 38:1692): in every training batch each available expert is hidden at random with
probability ``modality_dropout``, so the gate learns to do without any of them (Ma et al. 2022 show models
trained on full inputs collapse when a modality goes missing). A step keeps at least one expert.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from kernel_laugh.config import FuseTrainConfig, TrainConfig, progress_bars
from kernel_laugh.data import split_indices
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.fusion.batches import StepArrays, stack_steps
from kernel_laugh.fusion.gate import GatedFusion
from kernel_laugh.fusion.steps import ExpertSteps
from kernel_laugh.metrics import fit_temperature
from kernel_laugh.training import make_accelerator

logger = logging.getLogger(__name__)


def split_clips(steps: list[ExpertSteps], cfg: FuseTrainConfig) -> dict[str, list[ExpertSteps]]:
    """Whole clips into ``gate_train`` / ``validation`` / ``test`` (``data.split_indices`` with clips as groups: each
    clip on one side only, every split holding both classes)."""
    arrays = stack_steps(steps)
    parts = split_indices(arrays.labels, arrays.clips, (cfg.val_fraction, cfg.test_fraction), cfg.split_seed)
    names = [set(arrays.clips[idx]) for idx in parts]
    return {split: [s for s in steps if s.clip in chosen]
            for split, chosen in zip(("gate_train", "validation", "test"), names)}


def drop_modalities(available: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """ModDrop: hide each available expert with probability ``p``; a step that would lose all keeps its own mask.
    available ``(B, E)`` bool → ``(B, E)`` bool."""
    if p <= 0:
        return available
    drop = torch.rand(available.shape, generator=generator, device="cpu").to(available.device) < p
    kept = available & ~drop
    emptied = ~kept.any(dim=1) & available.any(dim=1)  # (B,)
    return torch.where(emptied[:, None], available, kept)


def gate_loss(out: Any, available: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fused log loss over steps with evidence + each expert's Platt log loss over the steps it covers.
    The two parts touch different parameters (see ``GatedFusion.forward``), so neither bends the other."""
    evidence = ~out.no_evidence
    fused = F.binary_cross_entropy_with_logits(out.fused_logit[evidence], labels[evidence]) if evidence.any() \
        else out.fused_logit.sum() * 0
    target = labels[:, None].expand_as(out.calibrated)  # (B, E)
    platt = F.binary_cross_entropy_with_logits(out.calibrated[available], target[available]) if available.any() \
        else out.calibrated.sum() * 0
    return fused + platt


def train_gate_epoch(gate: torch.nn.Module, loader: Any, optimizer: torch.optim.Optimizer, accelerator: Any,
                     modality_dropout: float, generator: torch.Generator) -> float:
    """One pass; returns the mean loss (this process)."""
    gate.train()
    total, count = 0.0, 0
    for logits, available, quality, labels in loader:  # (B, E), (B, E), (B, Q), (B,)
        seen = drop_modalities(available, modality_dropout, generator)
        out = gate(logits, seen, quality)
        loss = gate_loss(out, seen, labels)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)  # Accelerate: DDP gradient averaging when launched on several processes
        optimizer.step()
        total += loss.item() * len(labels)
        count += len(labels)
    return total / max(count, 1)


@torch.no_grad()
def validation_loss(gate: GatedFusion, arrays: StepArrays) -> float:
    """The fused log loss on validation steps with evidence (no dropout): what picks the epoch kept."""
    gate.eval()
    logits, available, quality, labels = (t.to(gate.prior_logit.device) for t in arrays.tensors())
    out = gate(logits, available, quality)
    keep = ~out.no_evidence
    return float(F.binary_cross_entropy_with_logits(out.fused_logit[keep], labels[keep])) if keep.any() else float("nan")


def fit_quality_scaling(gate: GatedFusion, arrays: StepArrays) -> None:
    """Mean and standard deviation of each quality feature over the steps where its expert is available."""
    for j, name in enumerate(arrays.quality_names):
        owner = name.split(".", 1)[0]
        mask = arrays.available[:, arrays.experts.index(owner)] if owner in arrays.experts else np.ones(len(arrays.labels), bool)
        values = arrays.quality[mask, j]
        if len(values):
            gate.quality_mean[j] = float(values.mean())
            gate.quality_std[j] = float(values.std()) if values.std() > 1e-8 else 1.0


def best_f1_threshold(probs: np.ndarray, labels: np.ndarray) -> float:
    """The probability threshold (decide laughter iff p >= t) with the highest F1 on these steps."""
    order = np.argsort(-probs, kind="stable")
    p, y = probs[order], labels[order].astype(bool)
    last_of_tie = np.r_[np.flatnonzero(np.diff(p)), len(p) - 1]  # cut after each run of equal scores
    tp = np.cumsum(y)[last_of_tie]
    predicted = last_of_tie + 1
    f1 = 2 * tp / (predicted + y.sum())
    return float(p[last_of_tie[int(np.argmax(f1))]])


@dataclass
class GateFit:
    gate: GatedFusion
    threshold: float
    temperature: float
    history: list[dict[str, float]]
    best_epoch: int


def fit_gate(train: list[ExpertSteps], validation: list[ExpertSteps], cfg: FuseTrainConfig,
             progress: bool = True) -> GateFit:
    """Train the gate and calibration on ``train`` clips, keep the epoch with the lowest fused validation log loss,
    then choose the temperature (lowest validation log loss, ``metrics.fit_temperature``) and the decision threshold
    (highest validation F1) on ``validation``. Raises KernelLaughError when a split is empty or one-class."""
    tr, va = stack_steps(train), stack_steps(validation)
    for name, arrays in (("gate-train", tr), ("validation", va)):
        if len(np.unique(arrays.labels)) < 2:
            raise KernelLaughError(f"the {name} videos hold only one class ({int(arrays.labels[0])}): add videos with "
                                   "and without laughter")
    torch.manual_seed(cfg.seed)  # the same initial gate on every process
    gate = GatedFusion(tr.experts, tr.quality_names, hidden=cfg.hidden)
    fit_quality_scaling(gate, tr)
    gate.set_prior(float(tr.labels.mean()))
    accelerator = make_accelerator(TrainConfig(output_dir=cfg.output_dir, mixed_precision="no", report_to="none",
                                               seed=cfg.seed), Path(cfg.output_dir))
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tr.tensors()), batch_size=cfg.batch_size,
                                         shuffle=True, generator=torch.Generator().manual_seed(cfg.seed))
    optimizer = torch.optim.AdamW(gate.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    # prepare(): moves the gate to the device, wraps it for DDP and shards the loader when launched on several
    # processes; on one CPU it changes nothing.
    model, optimizer, loader = accelerator.prepare(gate, optimizer, loader)
    history: list[dict[str, float]] = []
    best_loss, best_state, best_epoch = float("inf"), None, 0
    for epoch in tqdm(range(cfg.epochs), desc="gate", disable=not progress_bars(progress and accelerator.is_local_main_process)):
        loss = train_gate_epoch(model, loader, optimizer, accelerator, cfg.modality_dropout, generator)
        unwrapped = accelerator.unwrap_model(model)
        val = validation_loss(unwrapped, va)
        history.append({"epoch": epoch + 1, "train_loss": loss, "validation_loss": val})
        if val < best_loss:
            best_loss, best_state, best_epoch = val, copy.deepcopy(unwrapped.state_dict()), epoch + 1
    gate = accelerator.unwrap_model(model)
    if best_state is not None:
        gate.load_state_dict(best_state)
    gate = gate.cpu().eval()
    fused = gate.fuse_arrays(va.logits, va.available, va.quality)
    has = ~fused["no_evidence"]
    p = np.clip(fused["fused_probability"][has], 1e-12, 1 - 1e-12)
    temperature = fit_temperature(np.stack([1 - p, p], axis=1), va.labels[has])
    gate.temperature.fill_(temperature)
    fused = gate.fuse_arrays(va.logits, va.available, va.quality)
    threshold = best_f1_threshold(fused["fused_probability"], va.labels)
    logger.info("gate: best epoch %d (validation log loss %.4f), temperature %.3f, threshold %.3f",
                best_epoch, best_loss, temperature, threshold)
    return GateFit(gate, threshold, temperature, history, best_epoch)
