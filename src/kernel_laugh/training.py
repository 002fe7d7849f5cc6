"""The training loop, on Hugging Face Accelerate (one CPU up to many GPUs, same code). The only ``import accelerate``.

Read ``fit`` top to bottom: accelerator → ``setup`` (data, model, loaders, optimiser, ``accelerator.prepare``,
schedule) → resume if asked → epochs of (train, validate, keep the best, checkpoint, maybe stop early) → test the
best weights → write the Hub-ready folder. ``train_one_epoch`` is the inner loop; checkpoint files live in
``checkpoints.py``. Under ``accelerate launch`` every process runs all of this; only the main one writes and prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import platform
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator, PartialState
from accelerate.logging import get_logger
from accelerate.tracking import get_available_trackers
from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, broadcast, get_int_from_env, set_seed
from safetensors.torch import load_file
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from kernel_laugh.audio.task import audio_parts
from kernel_laugh.card import render_card
from kernel_laugh.checkpoints import (StepHook, folder_run_id, remove_partial, resolve_checkpoint, restore_best,
                                      save_checkpoint, write_run_id)
from kernel_laugh.config import CardConfig, DataConfig, ModelConfig, TrainConfig, positive_label_index, progress_bars
from kernel_laugh.data import (EpochSampler, PreparedData, cache_resized, interval_groups, make_loader, prepare_data,
                               undecoded)
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.frame_regions import CONFIG_KEY as REGION_KEY, recorded_region
from kernel_laugh.metrics import compute_metrics, negative_log_likelihood
from kernel_laugh.modeling import build_model, init_from_model, logits_of, predict_batches, save_model
from kernel_laugh.hardware import loader_workers, native_bf16, training_device
from kernel_laugh.outputs import check_output_dir, clear_run, remove_leftovers, write_text_atomic
from kernel_laugh.plots import confusion_matrix_figure, roc_figure, save_figure
from kernel_laugh.readers.images import decode_image
from kernel_laugh.report import REPORT_DIR, write_report
from kernel_laugh.results import RESULTS_NAME, results_header, save_results
from kernel_laugh.transforms import channel_statistics, eval_transform, split_first_resize, train_transform

# Accelerate's logger: under several processes, info goes out once (main process) unless asked otherwise.
logger = get_logger(__name__)

STATE_DIR = "checkpoints"  # resumable training state; hub.py never uploads it
IMAGE_CACHE_DIR = ".cache/images"  # --cache-images: decoded, resized images of this run; removed when it ends
TRACKER_DIR = "runs"  # --report-to logs (the Hub's TensorBoard tab reads a runs/ folder)


@dataclass
class Run:
    """What the loops touch, after ``accelerator.prepare`` (model wrapped for DDP, loaders sharded per process)."""

    accelerator: Accelerator
    data: PreparedData
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    loss_fn: torch.nn.Module
    train_dl: torch.utils.data.DataLoader
    val_dl: torch.utils.data.DataLoader
    test_dl: torch.utils.data.DataLoader
    positive_label: int | None = None  # index into data.label_names; None for multi-class
    # Writes the model folder's files (the modality's format): (model, folder, extra config.json keys).
    save: Callable[[torch.nn.Module, Path, dict[str, Any] | None], Any] = save_model
    hooks: Sequence[StepHook] = ()  # called after each optimiser step and inside each checkpoint save (fit's hooks)
    video_region: str | None = None  # frames cut by `frames --region/--crop`: config.json records it for the Space


@dataclass
class Progress:
    """Where training stands; saved as progress.json in every checkpoint, so a resumed run continues exactly."""

    epoch: int = 0  # epochs completed
    batches_done: int = 0  # batches of epoch ``epoch`` already trained (non-zero only in a mid-epoch checkpoint)
    global_step: int = 0  # optimiser steps so far
    loss_sum: float = 0.0  # summed loss x images of the current epoch's first ``batches_done`` batches, all processes
    loss_count: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    stale_epochs: int = 0  # epochs since the best one, for early stopping
    history: list[dict[str, Any]] = field(default_factory=list)
    layout: dict[str, int] = field(default_factory=dict)  # what batch skipping relies on; checked on resume
    run_id: str | None = None  # the run this state belongs to: `--resume-from-checkpoint latest` picks only its own
    settings: dict[str, Any] = field(default_factory=dict)  # the run's settings (run_settings); compared on resume


# ---- setup ---------------------------------------------------------------------------------------------

def make_accelerator(cfg: TrainConfig, out: Path) -> Accelerator:
    """The Accelerator for a run; raises a clear error instead of silently running N separate copies."""
    cfg = resolve_auto(cfg)
    world = get_int_from_env(["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"], 1)
    if cfg.report_to not in ("none", "all") and cfg.report_to not in {str(t) for t in get_available_trackers()}:
        # Accelerate would skip a tracker whose package is missing without a word.
        raise KernelLaughError(f"--report-to {cfg.report_to}: not available here; install it (e.g. pip install {cfg.report_to})")
    try:
        accelerator = Accelerator(
            # `accelerate launch` on a machine without a GPU starts N processes but does not tell them to use the CPU
            # (gloo); without cpu=True each would train alone and all would write the same folder.
            cpu=world > 1 and not _has_accelerator_device(),
            mixed_precision=cfg.mixed_precision,
            # accumulate() then syncs and steps every N batches, and at the end of each epoch.
            gradient_accumulation_steps=cfg.gradient_accumulation_steps,
            log_with=None if cfg.report_to == "none" else cfg.report_to,
            project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / TRACKER_DIR)),
            # Head-only epochs leave the backbone without gradients, which DDP must be told to expect.
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=cfg.freeze_epochs > 0)],
        )
    except (ValueError, NotImplementedError) as err:  # e.g. fp16 without a GPU, an unknown tracker
        raise KernelLaughError(f"could not set up Accelerate with --mixed-precision {cfg.mixed_precision} "
                               f"--report-to {cfg.report_to}: {err}") from err
    if world > 1 and accelerator.num_processes == 1:
        raise KernelLaughError(f"launched as {world} processes but Accelerate set up {accelerator.num_processes}; "
                               "use an `accelerate launch --config_file` config (e.g. scripts/accelerate_2cpu.yaml)")
    return accelerator


def _has_accelerator_device() -> bool:
    acc = getattr(torch, "accelerator", None)  # torch >= 2.6: CUDA, XPU, MPS...
    return bool(acc.is_available()) if acc is not None else torch.cuda.is_available()


def build_task_model(cfg: ModelConfig, label_names: list[str]) -> torch.nn.Module:
    """A timm model for these labels: from --init-from (head rebuilt if its labels differ) or from --model."""
    return init_from_model(cfg.init_from, cfg, label_names) if cfg.init_from else build_model(cfg, label_names)


def setup(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, accelerator: Accelerator) -> Run:
    """Data, model, loaders, loss and optimiser, prepared by Accelerate, and the learning-rate schedule."""
    train_cfg = resolve_auto(train_cfg)  # API callers may pass the "auto" defaults straight in
    # Same seed on every process: identical initial weights everywhere.
    set_seed(train_cfg.seed)
    save = save_model
    if data_cfg.modality == "audio":  # the audio expert brings its data, model and loaders; the rest is shared
        parts = audio_parts(data_cfg, model_cfg, train_cfg, sample_weights if train_cfg.class_balance == "sampler" else None)
        data, model, (train_dl, val_dl, test_dl), save = parts.data, parts.model, parts.loaders, parts.save
        if data.skipped:
            logger.info(f"skipped {len(data.skipped)} recording(s) or stretch(es):\n  " + "\n  ".join(data.skipped))
    else:
        data, model, (train_dl, val_dl, test_dl) = _image_parts(data_cfg, model_cfg, train_cfg, accelerator)
    positive, why = positive_label_index(data.label_names, data_cfg.positive_label)
    if positive is not None:
        logger.info(f"positive class: {data.label_names[positive]} ({why})")
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=class_weights(data.splits["train"]["label"], len(data.label_names)) if train_cfg.class_balance == "loss" else None,
        label_smoothing=train_cfg.label_smoothing).to(accelerator.device)
    if train_cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # fused: one kernel updates every tensor (on a 2-core CPU the step took 14 ms instead of 25 per batch).
    optimizer = torch.optim.AdamW(param_groups(model, train_cfg.learning_rate, train_cfg.backbone_lr_scale),
                                  weight_decay=train_cfg.weight_decay, fused=accelerator.device.type in ("cpu", "cuda"))
    # prepare() moves everything to the device, wraps the model for DDP and shards the loaders per process.
    model, optimizer, train_dl, val_dl, test_dl = accelerator.prepare(model, optimizer, train_dl, val_dl, test_dl)
    updates_per_epoch = math.ceil(len(train_dl) / train_cfg.gradient_accumulation_steps)  # len() after prepare: per process
    total = train_cfg.epochs * updates_per_epoch
    scheduler = get_cosine_schedule_with_warmup(optimizer, round(train_cfg.warmup_ratio * total), total)
    # The scheduler is stepped by hand once per optimiser step, so it is not prepared (a prepared scheduler steps
    # num_processes times per call) but registered, so save_state/load_state include it.
    accelerator.register_for_checkpointing(scheduler)
    return Run(accelerator, data, model, optimizer, scheduler, loss_fn, train_dl, val_dl, test_dl, positive, save,
               video_region=recorded_region(data_cfg.dataset))


def _image_parts(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, accelerator: Accelerator
                 ) -> tuple[PreparedData, torch.nn.Module, tuple[torch.utils.data.DataLoader, ...]]:
    """The image experts' data, timm model and loaders of ``(pixel_values (B, 3, H, W), labels (B,))``."""
    data = prepare_data(data_cfg)  # before the model: a bad dataset fails in seconds, not after a download
    if data.skipped:
        logger.info(f"skipped {len(data.skipped)} unreadable image(s):\n  " + "\n  ".join(data.skipped))
    model = build_task_model(model_cfg, data.label_names)
    if model_cfg.normalize == "dataset":  # into pretrained_cfg, so every loader (and the pipeline) applies it
        stored = undecoded(data.splits["train"].select_columns(["image"]))  # decoded by the one image reader
        mean, std = channel_statistics((decode_image(row["image"]) for row in stored), model.pretrained_cfg)
        model.pretrained_cfg = {**model.pretrained_cfg, "mean": mean, "std": std}
        logger.info(f"dataset normalisation (train split, per channel): mean {mean}, std {std}")
    return data, model, _loaders(data, model.pretrained_cfg, train_cfg, accelerator)


def _loaders(data: PreparedData, pcfg: dict[str, Any], cfg: TrainConfig, accelerator: Accelerator
             ) -> tuple[torch.utils.data.DataLoader, ...]:
    train = data.splits["train"]
    weights = sample_weights(train["label"], len(data.label_names)) if cfg.class_balance == "sampler" else None
    # The order is a function of (seed, epoch) on every process, so a resumed epoch replays the same batches.
    sampler = EpochSampler(len(train), cfg.seed, weights)
    loaders = []
    for split in ("train", "validation", "test"):
        tf = train_transform(pcfg, cfg.augmentation) if split == "train" else eval_transform(pcfg)
        ds, tf = _cached(data.splits[split], tf, split, cfg, accelerator)
        loaders.append(make_loader(ds, tf, cfg.batch_size, False, cfg.num_workers, cfg.seed,
                                   sampler=sampler if split == "train" else None))
    return tuple(loaders)


def _cached(ds, tf, split: str, cfg: TrainConfig, accelerator: Accelerator):
    """With --cache-images, the split decoded and resized once (the transform's deterministic first step, so the
    images are exactly those the full transform would see) and the rest of the transform to run per epoch."""
    parts = split_first_resize(tf) if cfg.cache_images else None
    if parts is None:
        return ds, tf
    resize, rest = parts
    # The main process writes the file; the others then open it instead of decoding everything again.
    with accelerator.main_process_first():
        cached = cache_resized(ds, resize, Path(cfg.output_dir) / IMAGE_CACHE_DIR / split,
                               desc=f"{split}: decoding and resizing images once")
    return cached, rest


def param_groups(model: torch.nn.Module, lr: float, backbone_scale: float) -> list[dict[str, Any]]:
    """Two AdamW groups: the backbone at ``lr * backbone_scale``, the classifier head at ``lr``."""
    head = list(_head(model).parameters())
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    return [{"params": backbone, "lr": lr * backbone_scale, "name": "backbone"}, {"params": head, "lr": lr, "name": "head"}]


def _head(model: torch.nn.Module) -> torch.nn.Module:
    """The classifier head: timm's ``get_classifier()``, or a transformers classifier's ``classifier`` module."""
    return model.get_classifier() if hasattr(model, "get_classifier") else model.classifier


def set_backbone_trainable(model: torch.nn.Module, trainable: bool) -> None:
    """Freeze or unfreeze everything but the head (batch-norm statistics still adapt, as in fastai)."""
    head_ids = {id(p) for p in _head(model).parameters()}
    for p in model.parameters():
        p.requires_grad_(trainable or id(p) in head_ids)


def class_weights(labels: Any, num_classes: int) -> torch.Tensor:
    """(K,) loss weights N / (K * count_k): every class contributes equally to the loss."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes).clip(min=1)
    return torch.tensor(counts.sum() / (num_classes * counts), dtype=torch.float32)


def sample_weights(labels: Any, num_classes: int) -> torch.Tensor:
    """(N,) sampling weights 1 / count of the sample's class: classes are drawn equally often."""
    labels = np.asarray(labels, dtype=int)
    counts = np.bincount(labels, minlength=num_classes).clip(min=1)
    return torch.tensor(1.0 / counts[labels], dtype=torch.float64)


# ---- the loops -----------------------------------------------------------------------------------------

def train_one_epoch(run: Run, progress: Progress, epoch: int, cfg: TrainConfig, out: Path) -> tuple[float, float]:
    """One pass over the training split (its rest, after a mid-epoch resume); returns (mean loss, images/s),
    both over all processes. Saves a checkpoint every ``cfg.checkpoint_steps`` optimiser steps."""
    acc, model = run.accelerator, run.model
    model.train()
    run.train_dl.set_epoch(epoch)  # the sampler's order for this epoch (the same on every process)
    start = progress.batches_done
    # skip_first_batches: a resumed epoch continues after the batches it already trained on, without loading them
    # (augmentation is seeded per item by the sampler, so the batches after them look as they did).
    loader = acc.skip_first_batches(run.train_dl, start) if start else run.train_dl
    local = torch.zeros(2, dtype=torch.float64, device=acc.device)  # (loss x images, images) on this process
    began = time.perf_counter()
    bar = tqdm(loader, desc=f"epoch {epoch + 1} train", disable=not progress_bars(acc.is_local_main_process), leave=False)
    for i, (pixel_values, labels) in enumerate(bar, start=start):  # (B, 3, H, W), (B,)
        if cfg.channels_last:
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        # accumulate(): on batches that only accumulate, DDP skips its gradient all-reduce and the wrapped
        # optimiser's step()/zero_grad() do nothing; it syncs every N batches and on the epoch's last batch.
        with acc.accumulate(model):
            logits = logits_of(model(pixel_values))  # (B, K); audio: pixel_values are (B, T, M) mel frames
            loss = run.loss_fn(logits, labels)
            if not torch.isfinite(loss):
                raise KernelLaughError(f"loss became {loss.item()} in epoch {epoch + 1}; lower --learning-rate "
                                       f"(the last good state is in {out / STATE_DIR})")
            # backward() instead of loss.backward(): Accelerate scales the loss for fp16, divides it by the
            # accumulation steps and lets DDP average gradients over processes.
            acc.backward(loss)
            if acc.sync_gradients and cfg.max_grad_norm > 0:
                # On the summed, all-reduced gradients; Accelerate unscales fp16 gradients first.
                acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            run.optimizer.step()
            if acc.sync_gradients and not acc.optimizer_step_was_skipped:  # fp16 overflow skips a step
                run.scheduler.step()
            run.optimizer.zero_grad(set_to_none=True)
        local += torch.tensor([loss.item() * len(labels), len(labels)], dtype=torch.float64, device=acc.device)
        bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{run.scheduler.get_last_lr()[-1]:.2e}")
        if acc.sync_gradients:
            progress.global_step += 1
            if cfg.checkpoint_steps and progress.global_step % cfg.checkpoint_steps == 0 and i + 1 < len(run.train_dl):
                loss_sum, count = _totals(acc, progress, local)
                _checkpoint(run, dataclasses.replace(progress, batches_done=i + 1, loss_sum=loss_sum, loss_count=count),
                            cfg, out)
            for hook in run.hooks:
                hook("step", progress.global_step, out)
    seconds = time.perf_counter() - began
    loss_sum, count = _totals(acc, progress, local)
    return loss_sum / max(count, 1), (count - progress.loss_count) / max(seconds, 1e-9)


def _totals(acc: Accelerator, progress: Progress, local: torch.Tensor) -> tuple[float, int]:
    """(loss x images, images) of this epoch so far over all processes, including the part before a resume."""
    total = acc.reduce(local.clone(), reduction="sum")  # a collective: every process calls it at the same point
    return progress.loss_sum + float(total[0]), progress.loss_count + int(total[1])


def sync_buffers(run: Run) -> None:
    """Give every process the main process's batch-norm running statistics before evaluating.

    Each process updated them on its own batches; the main process's are the ones saved, so with this every
    process evaluates exactly the saved weights (and a 2-process evaluation equals a 1-process one).
    """
    if run.accelerator.num_processes > 1:
        for buf in run.accelerator.unwrap_model(run.model).buffers():
            broadcast(buf, from_process=0)  # in place


# ---- fit -----------------------------------------------------------------------------------------------

def fit(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, card_cfg: CardConfig | None = None,
        *, hooks: Sequence[StepHook] = ()) -> dict[str, Any]:
    """Train, keep the best epoch by ``train_cfg.best_metric`` on validation, test it, and write the folder.

    Returns the test results (also written to ``OUTPUT_DIR/eval_results.json``). ``hooks``: called as
    ``hook(point, step, output_dir)`` after each optimiser step ("step") and once a checkpoint's files are written
    ("save"), e.g. to stop a run at a known point (the kill-and-resume tests).
    """
    out = Path(train_cfg.output_dir)
    # Read-only, on every process before any of them writes: a folder holding another run is refused.
    check_output_dir(out, overwrite=train_cfg.overwrite_output_dir, resume=bool(train_cfg.resume_from_checkpoint))
    train_cfg = resolve_auto(train_cfg)  # what actually runs is what training_args.json and the card record
    accelerator = make_accelerator(train_cfg, out)
    try:
        return _fit(data_cfg, model_cfg, train_cfg, card_cfg, accelerator, out, hooks)
    finally:
        # No barrier here: end_training() has already closed the process group. The other processes read their
        # last cached image in the test pass, which ends in a collective (gather_for_metrics) before this.
        if accelerator.is_main_process:
            shutil.rmtree(out / IMAGE_CACHE_DIR, ignore_errors=True)
            with contextlib.suppress(OSError):  # .cache/ itself, unless something else lives there
                (out / IMAGE_CACHE_DIR).parent.rmdir()


def is_main_process() -> bool:
    """Whether this is the main process of a (possibly multi-process) run: the one that writes, prints and uploads.
    Accelerate's own answer, so callers never read RANK themselves."""
    return PartialState().is_main_process


def resolve_auto(cfg: TrainConfig) -> TrainConfig:
    """``--mixed-precision auto`` → bf16 where the training device runs it natively, else no; ``--num-workers``
    unset → sized to this machine's CPUs and the number of training processes."""
    processes = get_int_from_env(["LOCAL_WORLD_SIZE", "WORLD_SIZE"], 1)
    precision = cfg.mixed_precision
    if precision == "auto":
        precision = "bf16" if native_bf16(training_device()) else "no"
    workers = loader_workers(processes) if cfg.num_workers is None else cfg.num_workers
    return dataclasses.replace(cfg, mixed_precision=precision, num_workers=workers)


def _fit(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, card_cfg: CardConfig | None,
         accelerator: Accelerator, out: Path, hooks: Sequence[StepHook] = ()) -> dict[str, Any]:
    if accelerator.is_main_process:
        if train_cfg.overwrite_output_dir:
            gone = clear_run(out)  # before setup, whose image cache lives in the folder too
            if gone:
                logger.info(f"--overwrite-output-dir: removed the previous run's {', '.join(gone)} from {out}")
        out.mkdir(parents=True, exist_ok=True)
        remove_partial(out / STATE_DIR)  # a checkpoint half-written when a previous run was killed
        remove_leftovers(out)  # temporary files of a write that was killed
    accelerator.wait_for_everyone()
    run = dataclasses.replace(setup(data_cfg, model_cfg, train_cfg, accelerator), hooks=tuple(hooks))
    layout = {"num_processes": accelerator.num_processes, "batches_per_epoch": len(run.train_dl),
              "batch_size": train_cfg.batch_size, "gradient_accumulation_steps": train_cfg.gradient_accumulation_steps}
    settings = run_settings(data_cfg, model_cfg, train_cfg)
    progress = (_resume(run, out, train_cfg, layout, settings) if train_cfg.resume_from_checkpoint
                else Progress(layout=layout, run_id=uuid.uuid4().hex, settings=settings))
    if accelerator.is_main_process:
        write_run_id(out / STATE_DIR, progress.run_id or "")  # this folder now belongs to this run
        write_text_atomic(out / "training_args.json", json.dumps(_training_args(data_cfg, model_cfg, train_cfg, card_cfg),
                                                                 indent=2) + "\n")
    # Trackers (--report-to) log on the main process only; hyperparameters as flat strings/numbers.
    accelerator.init_trackers("kernel-laugh", config=_flat_hparams(data_cfg, model_cfg, train_cfg))

    while progress.epoch < train_cfg.epochs and not _early_stop(progress, train_cfg):
        epoch = progress.epoch
        set_backbone_trainable(accelerator.unwrap_model(run.model), trainable=epoch >= train_cfg.freeze_epochs)
        try:
            loss, speed = train_one_epoch(run, progress, epoch, train_cfg, out)
        except KeyboardInterrupt:
            raise KernelLaughError(f"interrupted in epoch {epoch + 1}; the state is saved in {out / STATE_DIR}: run the "
                                   "same command with --resume-from-checkpoint latest to continue") from None
        val = _validate(run, epoch)
        _end_epoch(run, progress, epoch, loss, speed, val, train_cfg, out)
        accelerator.log({"train/loss": loss, "train/images_per_second": speed, "lr/head": run.scheduler.get_last_lr()[-1],
                         **{f"validation/{k}": val[k] for k in ("accuracy", "f1", "roc_auc") if val.get(k) is not None}},
                        step=epoch + 1)
        logger.info(f"epoch {epoch + 1}/{train_cfg.epochs}: loss {loss:.4f}, val accuracy {val['accuracy']:.3f}, "
                    f"val roc_auc {_fmt(val['roc_auc'])}, {speed:.1f} images/s"
                    f"{'  (best)' if progress.best_epoch == epoch + 1 else ''}")
    if _early_stop(progress, train_cfg) and progress.epoch < train_cfg.epochs:
        logger.info(f"early stop: no better validation {train_cfg.best_metric} for {progress.stale_epochs} epochs")

    if progress.best_epoch is None:  # the metric never became defined: keep the last epoch rather than nothing
        _save_best(run, out)
        progress.best_epoch = progress.epoch
    accelerator.wait_for_everyone()
    return _finish(accelerator, run.model, run.test_dl, run.data, out, progress, data_cfg, model_cfg, train_cfg, card_cfg)


def _validate(run: Run, epoch: int) -> dict[str, Any]:
    sync_buffers(run)
    probs, refs = predict_batches(run.model, run.val_dl, gather=run.accelerator.gather_for_metrics,
                                   desc=f"epoch {epoch + 1} validation", show_progress=run.accelerator.is_local_main_process)
    # Cross-entropy of the true class: rewards confident right answers and punishes confident wrong ones, so an
    # epoch picked by it has scores that can be thresholded (accuracy or AUC alone can pick a miscalibrated one).
    loss = negative_log_likelihood(probs, refs)
    return compute_metrics(probs, refs, run.data.label_names, n_boot=0, **_positive(run.positive_label)) | {"loss": loss}


def _positive(index: int | None) -> dict[str, int]:
    """compute_metrics' positive_label argument for a binary run (its default otherwise)."""
    return {} if index is None else {"positive_label": index}


def _end_epoch(run: Run, progress: Progress, epoch: int, loss: float, speed: float, val: dict[str, Any],
               cfg: TrainConfig, out: Path) -> None:
    """Record the epoch, keep its weights if they are the best so far, and checkpoint."""
    progress.history.append({"epoch": epoch + 1, "train_loss": loss, "train_images_per_second": speed,
                             "val_loss": val["loss"], **{k: val[k] for k in ("accuracy", "f1", "roc_auc")}})
    progress.epoch, progress.batches_done, progress.loss_sum, progress.loss_count = epoch + 1, 0, 0.0, 0
    score = val.get(cfg.best_metric)
    if _is_better(score, progress.best_metric, lower=cfg.best_metric in LOWER_IS_BETTER):
        progress.best_metric, progress.best_epoch, progress.stale_epochs = score, epoch + 1, 0
        _save_best(run, out)  # the best weights so far are the folder's weights
    else:
        progress.stale_epochs += 1
    _checkpoint(run, progress, cfg, out)


def _early_stop(progress: Progress, cfg: TrainConfig) -> bool:
    return cfg.early_stopping_patience > 0 and progress.stale_epochs >= cfg.early_stopping_patience


def _save_best(run: Run, out: Path) -> None:
    """Write config.json + model.safetensors into ``out``, each replaced atomically (checkpoints keep copies).
    A binary model's config.json names its positive class, for evaluate, predict, the card and the Space."""
    if run.accelerator.is_main_process:
        names = run.data.label_names
        extra = {"positive_label": names[run.positive_label]} if run.positive_label is not None else {}
        if run.video_region:
            extra[REGION_KEY] = run.video_region
        run.save(run.accelerator.unwrap_model(run.model), out, extra or None)
    run.accelerator.wait_for_everyone()


def _checkpoint(run: Run, progress: Progress, cfg: TrainConfig, out: Path) -> None:
    best = out if progress.best_epoch is not None else None
    save_checkpoint(run.accelerator, out / STATE_DIR, progress.global_step, dataclasses.asdict(progress), best,
                    cfg.keep_checkpoints, run.hooks)


def _resume(run: Run, out: Path, cfg: TrainConfig, layout: dict[str, int], settings: dict[str, Any]) -> Progress:
    path = resolve_checkpoint(cfg.resume_from_checkpoint or "latest", out / STATE_DIR)
    progress = Progress(**json.loads((path / "progress.json").read_text()))
    changed = [f"--{k.replace('_', '-')} {progress.settings[k]!r} -> {settings.get(k)!r}"
               for k in progress.settings if progress.settings[k] != settings.get(k)]
    if changed:
        raise KernelLaughError(f"{path} belongs to a run with other settings ({'; '.join(changed)}): resume with the "
                               "checkpoint's settings, or train afresh with --overwrite-output-dir")
    if progress.run_id is None:  # a checkpoint from before checkpoints carried their run: adopt this folder's
        progress.run_id = folder_run_id(out / STATE_DIR) or uuid.uuid4().hex
    if progress.layout != layout:
        raise KernelLaughError(f"{path} was saved with {progress.layout}, this run has {layout}: resume with the "
                               "same batch size, accumulation steps, number of processes and data")
    # load_state restores model, optimiser, scheduler, GradScaler and this process's RNG states.
    run.accelerator.load_state(str(path))
    if run.accelerator.is_main_process:
        restore_best(path, out)  # the best weights as they were at that checkpoint
    run.accelerator.wait_for_everyone()
    where = f"epoch {progress.epoch + 1}, batch {progress.batches_done}" if progress.batches_done else f"after epoch {progress.epoch}"
    logger.info(f"resuming from {path} ({where}, step {progress.global_step}; best so far: epoch {progress.best_epoch})")
    return progress


def _config_dict(*cfgs: Any) -> dict[str, Any]:
    """Settings by section, as training_args.json; ``--config`` reads it back. How a run was started or restarted is
    not a setting of the run, so resume_from_checkpoint and overwrite_output_dir are left out."""
    out = {type(c).__name__: dataclasses.asdict(c) for c in cfgs}
    for how in ("resume_from_checkpoint", "overwrite_output_dir"):
        out.get("TrainConfig", {}).pop(how, None)
    return out


# Settings that change how a run goes but not what it computes: a resumed run may differ from its checkpoint in these.
NOT_RUN_SETTINGS = {"output_dir", "num_workers", "cache_images", "report_to", "keep_checkpoints", "checkpoint_steps",
                    "resume_from_checkpoint", "overwrite_output_dir"}


def run_settings(*cfgs: Any) -> dict[str, Any]:
    """The settings that define a run (flag name → value), saved in its checkpoints and compared on resume."""
    return {k: v for c in cfgs for k, v in dataclasses.asdict(c).items() if k not in NOT_RUN_SETTINGS}


def _flat_hparams(*cfgs: Any) -> dict[str, Any]:
    """Hyperparameters for trackers: TensorBoard's hparams accept numbers, strings and booleans only."""
    flat = {k: v for c in cfgs for k, v in dataclasses.asdict(c).items()}
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in flat.items()}


LOWER_IS_BETTER = {"loss", "ece"}


def _is_better(value: float | None, best: float | None, lower: bool = False) -> bool:
    return value is not None and not math.isnan(value) and (best is None or (value < best if lower else value > best))


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _finish(accelerator, model, test_dl, data: PreparedData, out: Path, progress: Progress,
            data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, card_cfg: CardConfig | None) -> dict[str, Any]:
    """Reload the best weights, measure them on the held-out test split, write results, plots and card."""
    # Every process loads the main process's saved file, batch-norm statistics included.
    # keep_fp32_wrapper=False drops Accelerate's autocast: the test numbers are those of the saved fp32 weights as
    # pipeline and timm run them, not of the bf16 autocast used to train and pick the epoch.
    model = accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    if hasattr(model, "save_pretrained"):  # transformers: the file keeps its checkpoint format's key names
        model.load_state_dict(type(model).from_pretrained(out).state_dict())
    else:
        model.load_state_dict(load_file(str(out / "model.safetensors")))
    probs, refs = predict_batches(model, test_dl, gather=accelerator.gather_for_metrics, desc="test",
                                   show_progress=accelerator.is_local_main_process)
    groups = interval_groups(data.splits["test"], data_cfg.group_column)
    positive = positive_label_index(data.label_names, data_cfg.positive_label)[0]
    results = results_header("test", data_cfg.dataset, data.description, data.label_names, positive,
                             {k: len(v) for k, v in data.splits.items()}, data.skipped,
                             training={"best_epoch": progress.best_epoch, "best_metric": train_cfg.best_metric,
                                       "validation_best": progress.best_metric, "history": progress.history})
    results |= compute_metrics(probs, refs, data.label_names, groups=groups, **_positive(positive)) | data.extra
    if accelerator.is_main_process:
        _write_outputs(out, results, data_cfg, model_cfg, train_cfg, card_cfg or CardConfig())
    accelerator.end_training()  # closes the trackers' files
    return results


def _training_args(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
                   card_cfg: CardConfig | None) -> dict[str, Any]:
    """training_args.json: the settings by section and the environment. CardConfig too: `kernel-laugh push`
    re-renders the card for the repo and needs the run's license / dataset id."""
    env = {"python": platform.python_version(), "torch": torch.__version__}
    return _config_dict(data_cfg, model_cfg, train_cfg, card_cfg or CardConfig()) | {"environment": env}


def _write_outputs(out: Path, results: dict[str, Any], data_cfg: DataConfig, model_cfg: ModelConfig,
                   train_cfg: TrainConfig, card_cfg: CardConfig) -> None:
    save_results(results, out / RESULTS_NAME)
    save_figure(confusion_matrix_figure(results, results["label_names"]), out / "confusion_matrix.png")
    if results.get("roc_curve"):
        save_figure(roc_figure(results), out / "roc_curve.png")
    write_report(results, out / REPORT_DIR)  # eval/report.md + plots, the same as `kernel-laugh evaluate` writes
    training_args = json.loads((out / "training_args.json").read_text())  # written once, when the run started
    model_config = json.loads((out / "config.json").read_text())
    write_text_atomic(out / "README.md", render_card(results, training_args, model_config, card_cfg))
