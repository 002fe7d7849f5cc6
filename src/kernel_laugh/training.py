"""The training loop, on Hugging Face Accelerate (one CPU up to many GPUs, same code). The only ``import accelerate``.

Read ``fit`` top to bottom: data → model → optimiser/schedule → ``accelerator.prepare`` → epochs of
(train, validate, keep the best, save resumable state) → test the best weights → write the Hub-ready folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from kernel_laugh.config import CardConfig, DataConfig, ModelConfig, TrainConfig
from kernel_laugh.data import PreparedData, make_loader, prepare_data
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.metrics import compute_metrics
from kernel_laugh.modeling import build_model, save_model
from kernel_laugh.transforms import eval_transform, train_transform

STATE_DIR = "checkpoints"  # resumable training state; hub.py never uploads it


def train_one_epoch(model, loader, optimizer, scheduler, accelerator: Accelerator, epoch: int) -> float:
    """One pass over ``loader``; returns the mean loss on this process."""
    model.train()
    total, count = 0.0, 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1} train", disable=not accelerator.is_local_main_process, leave=False)
    for pixel_values, labels in bar:  # (B, 3, H, W), (B,)
        logits = model(pixel_values)  # (B, K)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        if not torch.isfinite(loss):
            raise KernelLaughError(f"loss became {loss.item()} in epoch {epoch + 1}; lower --learning-rate "
                                   "(the last good epoch's state is in the checkpoints folder)")
        # backward() instead of loss.backward(): Accelerate scales the loss for mixed precision and syncs DDP.
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        total, count = total + loss.item() * len(labels), count + len(labels)
        bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
    return total / max(count, 1)


@torch.no_grad()
def predict_probs(model, loader, accelerator: Accelerator, desc: str = "eval") -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (N, K) and labels (N,) over the whole split, from all processes."""
    model.eval()
    probs, refs = [], []
    for pixel_values, labels in tqdm(loader, desc=desc, disable=not accelerator.is_local_main_process, leave=False):
        p = model(pixel_values).float().softmax(-1)
        # gather_for_metrics drops the samples the distributed sampler duplicated to even out the last batch,
        # so every image counts exactly once.
        p, labels = accelerator.gather_for_metrics((p, labels))
        probs.append(p.cpu().numpy())
        refs.append(labels.cpu().numpy())
    return np.concatenate(probs), np.concatenate(refs)


def _config_dict(*cfgs: Any) -> dict[str, Any]:
    return {type(c).__name__: dataclasses.asdict(c) for c in cfgs}


def _is_better(value: float | None, best: float | None) -> bool:
    return value is not None and not math.isnan(value) and (best is None or value > best)


def fit(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, card_cfg: CardConfig | None = None,
        ) -> dict[str, Any]:
    """Train, keep the best epoch by ``train_cfg.best_metric`` on validation, test it, and write the folder.

    Returns the test results (also written to ``OUTPUT_DIR/eval_results.json``).
    """
    out = Path(train_cfg.output_dir)
    state_dir = out / STATE_DIR
    # Accelerator picks the device(s) and process group from the environment `accelerate launch` sets up.
    accelerator = Accelerator(mixed_precision=train_cfg.mixed_precision)
    set_seed(train_cfg.seed)  # same seed on every process: identical initial weights everywhere

    data = prepare_data(data_cfg)  # before the model: a bad dataset fails in seconds, not after a download
    if data.skipped and accelerator.is_main_process:
        print(f"skipped {len(data.skipped)} unreadable image(s):\n  " + "\n  ".join(data.skipped))
    model = build_model(model_cfg, data.label_names)
    pcfg = model.pretrained_cfg
    train_dl = make_loader(data.splits["train"], train_transform(pcfg), train_cfg.batch_size, True,
                           train_cfg.num_workers, train_cfg.seed)
    val_dl, test_dl = (make_loader(data.splits[s], eval_transform(pcfg), train_cfg.batch_size, False, train_cfg.num_workers)
                       for s in ("validation", "test"))

    optimizer = torch.optim.AdamW(model.parameters(), lr=train_cfg.learning_rate, weight_decay=train_cfg.weight_decay)
    # prepare() moves everything to the device, wraps the model for DDP and shards the loaders per process.
    model, optimizer, train_dl, val_dl, test_dl = accelerator.prepare(model, optimizer, train_dl, val_dl, test_dl)
    total_steps = train_cfg.epochs * len(train_dl)  # len() after prepare: steps per process
    scheduler = get_cosine_schedule_with_warmup(optimizer, round(train_cfg.warmup_ratio * total_steps), total_steps)
    # The scheduler is stepped once per optimiser step on each process, so it is not prepared (that would
    # step it num_processes times) but registered so save_state/load_state include it.
    accelerator.register_for_checkpointing(scheduler)

    progress = {"epoch": 0, "best_metric": None, "best_epoch": None, "history": []}
    if train_cfg.resume:
        progress = _resume(accelerator, state_dir)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "training_args.json").write_text(json.dumps(_config_dict(data_cfg, model_cfg, train_cfg), indent=2) + "\n")

    for epoch in range(progress["epoch"], train_cfg.epochs):
        try:
            loss = train_one_epoch(model, train_dl, optimizer, scheduler, accelerator, epoch)
        except KeyboardInterrupt:
            raise KernelLaughError(f"interrupted in epoch {epoch + 1}; epochs 1-{epoch} are saved in {state_dir}: "
                                   "run the same command with --resume to continue") from None
        probs, refs = predict_probs(model, val_dl, accelerator, desc=f"epoch {epoch + 1} validation")
        val = compute_metrics(probs, refs, data.label_names, n_boot=0)
        score = val.get(train_cfg.best_metric)
        row = {"epoch": epoch + 1, "train_loss": loss, **{k: val[k] for k in ("accuracy", "f1", "roc_auc")}}
        progress["history"].append(row)
        if _is_better(score, progress["best_metric"]):
            progress.update(best_metric=score, best_epoch=epoch + 1)
            if accelerator.is_main_process:  # the best weights so far are the folder's weights
                save_model(accelerator.unwrap_model(model), out)
        progress["epoch"] = epoch + 1
        _save_progress(accelerator, state_dir, progress)
        accelerator.print(f"epoch {epoch + 1}/{train_cfg.epochs}: loss {loss:.4f}, val accuracy {val['accuracy']:.3f}, "
                          f"val roc_auc {_fmt(val['roc_auc'])}{'  (best)' if progress['best_epoch'] == epoch + 1 else ''}")

    if progress["best_epoch"] is None:  # the metric never became defined: keep the last epoch rather than nothing
        if accelerator.is_main_process:
            save_model(accelerator.unwrap_model(model), out)
        progress["best_epoch"] = progress["epoch"]
    accelerator.wait_for_everyone()
    return _finish(accelerator, model, test_dl, data, out, progress, data_cfg, model_cfg, train_cfg, card_cfg)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _save_progress(accelerator: Accelerator, state_dir: Path, progress: dict[str, Any]) -> None:
    # save_state writes model, optimiser, scheduler and every process's RNG state, so --resume continues exactly.
    accelerator.save_state(str(state_dir), safe_serialization=True)
    if accelerator.is_main_process:
        (state_dir / "progress.json").write_text(json.dumps(progress, indent=2) + "\n")


def _resume(accelerator: Accelerator, state_dir: Path) -> dict[str, Any]:
    if not (state_dir / "progress.json").is_file():
        raise KernelLaughError(f"--resume: no training state in {state_dir}")
    accelerator.load_state(str(state_dir))
    progress = json.loads((state_dir / "progress.json").read_text())
    accelerator.print(f"resuming after epoch {progress['epoch']} (best so far: epoch {progress['best_epoch']})")
    return progress


def _finish(accelerator, model, test_dl, data: PreparedData, out: Path, progress: dict[str, Any],
            data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, card_cfg: CardConfig | None) -> dict[str, Any]:
    """Reload the best weights, measure them on the held-out test split, write results, plots and card."""
    from safetensors.torch import load_file

    accelerator.unwrap_model(model).load_state_dict(load_file(str(out / "model.safetensors")))
    probs, refs = predict_probs(model, test_dl, accelerator, desc="test")
    test = data.splits["test"]
    groups = np.array(test[data_cfg.group_column]) if data_cfg.group_column else None
    results = {"split": "test", "dataset": data_cfg.dataset, "synthetic": data_cfg.dataset == "sample",
               "split_method": data.description, "label_names": data.label_names,
               "best_epoch": progress["best_epoch"], "best_metric": train_cfg.best_metric,
               "validation_best": progress["best_metric"], "history": progress["history"],
               "skipped_files": data.skipped, "split_sizes": {k: len(v) for k, v in data.splits.items()}}
    results |= compute_metrics(probs, refs, data.label_names, groups=groups)
    if accelerator.is_main_process:
        _write_outputs(out, results, data_cfg, model_cfg, train_cfg, card_cfg or CardConfig())
    accelerator.end_training()
    return results


def _write_outputs(out: Path, results: dict[str, Any], data_cfg: DataConfig, model_cfg: ModelConfig,
                   train_cfg: TrainConfig, card_cfg: CardConfig) -> None:
    from kernel_laugh.card import render_card
    from kernel_laugh.plots import confusion_matrix_figure, roc_figure, save_figure

    (out / "eval_results.json").write_text(json.dumps(results, indent=2) + "\n")
    save_figure(confusion_matrix_figure(results, results["label_names"]), out / "confusion_matrix.png")
    if results.get("roc_curve"):
        save_figure(roc_figure(results), out / "roc_curve.png")
    env = {"python": platform.python_version(), "torch": torch.__version__}
    training_args = _config_dict(data_cfg, model_cfg, train_cfg) | {"environment": env}
    (out / "training_args.json").write_text(json.dumps(training_args, indent=2) + "\n")
    model_config = json.loads((out / "config.json").read_text())
    (out / "README.md").write_text(render_card(results, training_args, model_config, card_cfg))
