"""``kernel-laugh lr-find``: the learning-rate range test (L. Smith, 2015; fastai's ``lr_find``).

Train for a few dozen steps while the learning rate grows exponentially; the loss first barely moves, then falls,
then explodes. A good rate sits where it falls fastest. The model is set up exactly as ``train`` would start it
(same data, preprocessing, loss, parameter groups, frozen backbone if --freeze-epochs), then thrown away.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from kernel_laugh.config import DataConfig, LRFindConfig, ModelConfig, TrainConfig
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.outputs import write_text_atomic
from kernel_laugh.plots import new_figure, save_figure
from kernel_laugh.modeling import logits_of
from kernel_laugh.training import Run, make_accelerator, set_backbone_trainable, setup

logger = logging.getLogger(__name__)

SMOOTHING = 0.98  # exponential moving average of the loss, bias-corrected (as fastai)
DIVERGED = 4.0  # stop once the smoothed loss is this many times its minimum
CLEAR_DESCENT = 0.05  # a descent is clear when the smoothed loss falls at least 5 % below where it started
NO_CLEAR_DESCENT = ("no clear descent: the smoothed loss never fell {drop:.0%} below its start in the tested range "
                    "{start:.1e} to {end:.1e}; widen the range (--start-lr / --end-lr) or check the data")


def lr_find(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, cfg: LRFindConfig) -> dict[str, Any]:
    """Run the range test; write OUTPUT_DIR/lr_find.png and lr_find.json; return the curve and the suggestion."""
    if not 0 < cfg.start_lr < cfg.end_lr or cfg.num_steps < 5:
        raise KernelLaughError("lr-find needs 0 < --start-lr < --end-lr and --num-steps >= 5")
    # One batch per optimiser step and no trackers: the test measures the rate itself. No image cache: a range
    # test reads a few batches, less than decoding the whole dataset once would cost.
    train_cfg = dataclasses.replace(train_cfg, gradient_accumulation_steps=1, report_to="none", cache_images=False)
    out = Path(train_cfg.output_dir)
    run = setup(data_cfg, model_cfg, train_cfg, make_accelerator(train_cfg, out))
    set_backbone_trainable(run.accelerator.unwrap_model(run.model), trainable=train_cfg.freeze_epochs == 0)
    lrs, losses = range_test(run, cfg)
    suggested, clear = suggest_lr(lrs, losses)
    warning = None if clear else NO_CLEAR_DESCENT.format(drop=CLEAR_DESCENT, start=lrs[0], end=lrs[-1])
    if warning:
        logger.warning(warning)
    result = {"lrs": lrs, "losses": losses, "suggested_lr": suggested, "clear_descent": clear, "warning": warning,
              "plot": str(out / "lr_find.png"), "is_main_process": run.accelerator.is_main_process}
    if run.accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        keys = ("lrs", "losses", "suggested_lr", "clear_descent", "warning")
        write_text_atomic(out / "lr_find.json", json.dumps({k: result[k] for k in keys}, indent=2) + "\n")
        _save_plot(lrs, losses, suggested, out / "lr_find.png")
    run.accelerator.end_training()
    return result


def range_test(run: Run, cfg: LRFindConfig) -> tuple[list[float], list[float]]:
    """(head learning rates, smoothed losses), one per step, until the end or until the loss diverges."""
    acc, model, optimizer = run.accelerator, run.model, run.optimizer
    # Each parameter group keeps its ratio to the head's rate (the backbone runs at --backbone-lr-scale of it);
    # initial_lr: the rates before setup's warm-up schedule scaled them (to 0 at its first step).
    ratios = [g["initial_lr"] / optimizer.param_groups[-1]["initial_lr"] for g in optimizer.param_groups]
    gamma = (cfg.end_lr / cfg.start_lr) ** (1 / (cfg.num_steps - 1))
    batches = _forever(run.train_dl)
    model.train()
    lrs: list[float] = []
    losses: list[float] = []
    average, best = 0.0, math.inf
    for step in range(cfg.num_steps):
        lr = cfg.start_lr * gamma**step
        for group, ratio in zip(optimizer.param_groups, ratios):
            group["lr"] = lr * ratio
        pixel_values, labels = next(batches)  # (B, 3, H, W), (B,)
        loss = run.loss_fn(logits_of(model(pixel_values)), labels)  # audio: (B, T, M) mel frames in
        acc.backward(loss)  # DDP averages the gradients over processes
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(acc.reduce(loss.detach(), reduction="mean"))  # the same number on every process
        average = SMOOTHING * average + (1 - SMOOTHING) * value
        smoothed = average / (1 - SMOOTHING ** (step + 1))
        if not math.isfinite(smoothed) or smoothed > DIVERGED * best:
            break
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
    return lrs, losses


def suggest_lr(lrs: list[float], losses: list[float]) -> tuple[float, bool]:
    """(suggested rate, whether the loss clearly descended). The rate is always one of ``lrs``, so inside the
    tested range.

    The rate where the smoothed loss falls fastest, before its minimum. The slope is taken across a quarter of a
    decade of rates on each side, not between neighbours, so a wiggle of the noisy loss cannot win over the real
    descent; the first tenth of the curve (the moving average still settling) is left out. The descent is clear
    when the minimum lies ``CLEAR_DESCENT`` below the first loss and the steepest slope is a fall. Without a slope
    to measure, the rate at the minimum (never one below the tested range, as a tenth of it could be).
    Raises KernelLaughError when fewer than 5 steps ran before the loss diverged.
    """
    if len(lrs) < 5:
        raise KernelLaughError(f"lr-find: the loss diverged after {len(lrs)} steps; lower --start-lr")
    loss, log_lr = np.asarray(losses), np.log10(lrs)
    w = max(1, round((len(lrs) - 1) / (log_lr[-1] - log_lr[0]) / 4))  # points in a quarter decade
    lowest = int(np.argmin(loss))
    fell = bool(loss[lowest] <= (1 - CLEAR_DESCENT) * loss[0])
    centres = np.arange(len(lrs) // 10 + w, lowest + 1 - w)
    if len(centres) == 0:
        return float(lrs[lowest]), False
    slopes = (loss[centres + w] - loss[centres - w]) / (log_lr[centres + w] - log_lr[centres - w])
    return float(lrs[int(centres[np.argmin(slopes)])]), fell and bool(slopes.min() < 0)


def _forever(loader) -> Iterator[Any]:
    epoch = 0
    while True:
        loader.set_epoch(epoch)  # a new order each pass, as in training
        yield from loader
        epoch += 1


def _save_plot(lrs: list[float], losses: list[float], suggested: float, path: Path) -> None:
    fig, ax = new_figure(figsize=(6, 4))
    ax.plot(lrs, losses)
    ax.axvline(suggested, color="tab:red", linestyle="--", label=f"suggested {suggested:.1e}")
    ax.set(xscale="log", xlabel="learning rate (head)", ylabel="training loss (smoothed)", title="Learning-rate range test")
    ax.legend()
    save_figure(fig, path)

