"""Typed settings for every stage, as dataclasses with help text (stdlib and PyYAML only).

The CLI builds its arguments from these fields, parses once, and hands the dataclasses to the library;
library code never sees an argparse namespace. Presets are named sets of overrides for these fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from kernel_laugh.errors import KernelLaughError


@dataclass
class DataConfig:
    dataset: str = field(
        default="sample",
        metadata={
            "help": "Where the images come from: 'sample' (synthetic brain renders the package generates), a "
            "folder in ImageFolder layout (class subfolders such as 0_non-laughter/ 1_laughter/), a folder saved "
            "with datasets' save_to_disk, a .parquet/.csv file, or a Hub dataset id."
        },
    )
    image_column: str | None = field(default=None, metadata={"help": "Image column (default: detected)."})
    label_column: str | None = field(default=None, metadata={"help": "Label column (default: detected)."})
    group_column: str | None = field(
        default=None,
        metadata={
            "help": "Metadata column (e.g. session, clip, subject) whose values must stay on one side of the "
            "split, so near-duplicate video frames never leak between train and test. The sample uses 'session'. "
            "Without such a column, 'block:N' keeps each run of N consecutive rows of one label together (frames "
            "in video order)."
        },
    )
    validation_fraction: float = field(default=0.15, metadata={"help": "Share of data for validation when the source has no validation split."})
    test_fraction: float = field(default=0.15, metadata={"help": "Share of data for test when the source has no test split."})
    test_groups: int | None = field(
        default=None,
        metadata={"help": "Put this many whole groups of --group-column in the test split instead of --test-fraction of "
                  "the frames (an interval over groups needs several: at least 5, better 10)."},
    )
    validation_groups: int | None = field(
        default=None, metadata={"help": "Like --test-groups, for the validation split.", "aliases": ["--val-groups"]})
    max_corrupt_fraction: float = field(
        default=0.05,
        metadata={"help": "Corrupt images in a folder up to this share are skipped and listed; more stops the run before training."},
    )
    sample_size: int = field(default=600, metadata={"help": "Number of synthetic images when --dataset sample (audio: "
                                                    "of 3-second synthetic recordings)."})
    sample_image_size: int = field(default=96, metadata={"help": "Side in pixels of the synthetic images."})
    split_seed: int = field(default=42, metadata={"help": "Seed for the split and the synthetic sample."})
    drop_labels: str | None = field(
        default=None,
        metadata={"help": "Comma-separated class names to leave out of every split (the emotion6 preset drops FER2013's "
                  "rare 'disgust', as the Emotion Detective project did)."},
    )
    positive_label: str | None = field(
        default=None,
        metadata={"help": "Binary datasets: the class that precision, recall, F1, ROC/PR curves, decision thresholds, "
                  "the card and the Space call positive (e.g. laughter, happy). Default: the one class whose name is "
                  "not negative-like (non-..., no-..., not-..., neutral, other, background, none); if that does not "
                  "single one out, the second class in label order. The choice is printed and saved in config.json."},
    )
    keep_disgust: bool = field(
        default=False,
        metadata={"help": "emotion6: keep 'disgust' after all (removes it from --drop-labels; the preset's class-balanced "
                  "loss then carries the rare class)."},
    )
    modality: str = field(
        default="image",
        metadata={"help": "What the expert listens to or looks at: 'image' (frames, faces) or 'audio' (sound: --dataset "
                  "is then 'sample' = SYNTHETIC sounds, a folder audio/<label>/*.wav|flac|mp3|ogg, a CSV file,start,end,label, "
                  "a video/audio file with --segments, or a Hub audio dataset; the 'audio' preset's defaults apply).",
                  "choices": ["image", "audio"]},
    )
    segments: str | None = field(
        default=None,
        metadata={"help": "Audio: labels CSV (start,end,label[,video], the file `kernel-laugh frames` takes) for a video "
                  "or audio file given as --dataset."},
    )
    sampling_rate: int = field(default=16000, metadata={"help": "Audio: samples per second the model hears (audio is resampled to it)."})
    window_seconds: float = field(default=1.0, metadata={"help": "Audio: length of the windows the model classifies, in seconds."})
    hop_seconds: float = field(default=0.5, metadata={"help": "Audio: step between window starts, in seconds (a multiple of 0.01)."})

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass
class ModelConfig:
    architecture: str = field(
        default="resnet18",
        metadata={"help": "Any timm model name, e.g. resnet18, resnet18.tv_in1k (the torchvision ImageNet weights the "
                  "original project used) or resnet18.a1_in1k. Audio: 'ast-tiny' (a small AST, with --no-pretrained) or "
                  "an AST checkpoint such as MIT/ast-finetuned-audioset-10-10-0.4593.", "aliases": ["--model"]},
    )
    init_from: str | None = field(
        default=None,
        metadata={"help": "Start from an earlier kernel-laugh model (folder or Hub id) instead of --model/--pretrained. "
                  "When its labels differ from this dataset's, its head is replaced by a new one for this task's labels."},
    )
    normalize: str = field(
        default="backbone",
        metadata={"help": "Input normalisation saved in the model's pretrained_cfg (so every loader applies it): "
                  "'backbone' keeps the starting weights' mean/std; 'dataset' measures per-channel mean/std over every "
                  "pixel of the training split, as the model sees it (after resize/crop, in [0, 1]).",
                  "choices": ["backbone", "dataset"]},
    )
    pretrained: bool = field(
        default=True,
        metadata={"help": "Start from the architecture's pretrained weights (needs the Hub). Use --no-pretrained to train from scratch."},
    )
    image_size: int | None = field(default=None, metadata={"help": "Input side in pixels (default: the architecture's own)."})
    crop_pct: float | None = field(
        default=None,
        metadata={"help": "Centre-crop share at evaluation (1.0 keeps the whole frame; default: the architecture's own)."},
    )
    crop_mode: str | None = field(
        default=None,
        metadata={"help": "'center' (crop the centre square) or 'squash' (resize the whole frame to a square, nothing cut off); default: the architecture's own."},
    )
    drop_rate: float = field(default=0.0, metadata={"help": "Dropout before the classifier."})

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass
class TrainConfig:
    output_dir: str = field(default="runs/kernel-laugh", metadata={"help": "Folder for the Hub-ready model and the results."})
    epochs: int = field(default=10, metadata={"help": "Passes over the training split."})
    batch_size: int = field(default=16, metadata={"help": "Images per step on each process."})
    learning_rate: float = field(default=3e-4, metadata={"help": "Peak AdamW learning rate of the new head; the backbone gets this times --backbone-lr-scale."})
    backbone_lr_scale: float = field(
        default=0.1,
        metadata={"help": "Backbone learning rate as a share of --learning-rate: pretrained features need smaller steps "
                  "than a fresh head (1.0 when training from scratch)."},
    )
    freeze_epochs: int = field(
        default=0,
        metadata={"help": "Train only the head for this many first epochs, then unfreeze everything (fastai's fine_tune)."},
    )
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps spent warming the learning rate up linearly, before the cosine decay."})
    label_smoothing: float = field(default=0.0, metadata={"help": "Cross-entropy label smoothing (0 = off; 0.1 suits noisy frame labels)."})
    class_balance: str = field(
        default="none",
        metadata={"help": "For imbalanced classes: 'loss' weights each class by N / (K * count), 'sampler' draws "
                  "training images with replacement so classes come equally often; 'none' uses the data as it is.",
                  "choices": ["none", "loss", "sampler"]},
    )
    augmentation: str = field(
        default="brain",
        metadata={"help": "Training augmentation policy: 'brain' = small crops and colour jitter, never a horizontal flip "
                  "(a left-lateral render flipped swaps hemispheres); 'faces' = also flips and small rotations; 'none'.",
                  "choices": ["none", "brain", "faces"]},
    )
    best_metric: str = field(
        default="roc_auc",
        metadata={"help": "Validation metric that picks the epoch whose weights are kept (and that early stopping watches); "
                  "'loss' (cross-entropy, lower is better) also rewards calibrated scores.",
                  "choices": ["accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "loss"]},
    )
    early_stopping_patience: int = field(
        default=0, metadata={"help": "Stop after this many epochs without a better --best-metric (0 = never stop early)."})
    num_workers: int | None = field(
        default=None, metadata={"help": "DataLoader worker processes per training process (default: the CPUs left "
                                "after one per process, at most 4; 0 on a 2-CPU machine)."})
    cache_images: bool = field(
        default=True, metadata={"help": "Decode and resize every image once before training (a datasets map, cached on "
                                "disk) instead of decoding the full-size files in every epoch."})
    mixed_precision: str = field(
        default="auto", metadata={"help": "Autocast precision, passed to Accelerate. 'auto' = bf16 where the hardware "
                                  "runs it natively (GPUs with bf16, CPUs with AVX512-BF16/AMX), else 'no' (fp32).",
                                  "choices": ["auto", "no", "fp16", "bf16"]})
    gradient_accumulation_steps: int = field(
        default=1, metadata={"help": "Batches whose gradients are summed before each optimiser step (effective batch = "
                             "batch size x processes x this)."})
    max_grad_norm: float = field(default=0.0, metadata={"help": "Clip the gradients' global norm to this (0 = no clipping)."})
    channels_last: bool = field(
        default=True, metadata={"help": "Channels-last memory format for model and inputs (oneDNN and cuDNN convolutions "
                                "are faster in it, most of all in bf16/fp16)."})
    seed: int = field(default=42, metadata={"help": "Seed for weights init, data order and augmentation."})
    checkpoint_steps: int = field(
        default=0, metadata={"help": "Also save the resumable state every this many optimiser steps (0 = only at each epoch end)."})
    keep_checkpoints: int = field(default=2, metadata={"help": "Keep this many newest checkpoints in OUTPUT_DIR/checkpoints."})
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Train afresh into an --output-dir that already holds a run: first delete every file that run "
                  "wrote (model, card, results, plots, eval/, checkpoints/). Without it such a folder is refused."},
    )
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={"help": "Continue an interrupted run: 'latest' (the newest complete checkpoint in OUTPUT_DIR/checkpoints) "
                  "or a checkpoint folder. 'latest' only ever picks a checkpoint of the run that owns OUTPUT_DIR; "
                  "settings that differ from the checkpoint's run (model, data, epochs...) are listed and refused."},
    )
    report_to: str = field(
        default="none", metadata={"help": "Experiment tracker through Accelerate: 'tensorboard' writes OUTPUT_DIR/runs/; "
                                  "'none' logs nothing (any tracker name Accelerate knows also works)."})

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass
class CardConfig:
    model_id: str | None = field(default=None, metadata={"help": "Hub id the card refers to (e.g. user/kernel-laugh-resnet18)."})
    dataset_id: str | None = field(default=None, metadata={"help": "Hub id of the training dataset, for the card's metadata."})
    license: str = field(default="apache-2.0", metadata={"help": "License written into the card."})


@dataclass
class LRFindConfig:
    """``kernel-laugh lr-find``: the learning-rate range test (Smith 2015; fastai's ``lr_find``)."""

    start_lr: float = field(default=1e-7, metadata={"help": "Head learning rate at the first step."})
    end_lr: float = field(default=10.0, metadata={"help": "Head learning rate at the last step."})
    num_steps: int = field(default=100, metadata={"help": "Optimiser steps, each on a new training batch (the data repeats if needed)."})


@dataclass
class HubConfig:
    """Publishing at the end of ``train`` (the transformers examples' ``--push_to_hub``). Not part of the run's
    settings: ``cli.cmd_train`` reads it and calls ``hub.push_model`` after ``fit``; training never uploads."""

    push_to_hub: bool = field(
        default=False,
        metadata={"help": "After training, upload the model folder (card, config, weights, results, plots; never "
                  "checkpoints/) to --hub-model-id in one commit. Needs HF_TOKEN or `hf auth login`, checked before training."},
    )
    hub_model_id: str | None = field(
        default=None, metadata={"help": "Hub repo OWNER/NAME for --push-to-hub; the model card's snippets name it."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private (if it does not exist yet)."})


@dataclass
class EvalConfig:
    """``kernel-laugh evaluate``: what to measure and where to write it (``evaluation.evaluate_model``)."""

    split: str = field(default="test", metadata={"help": "Split to measure: train, validation, test, or 'all' (every split together)."})
    group_by: str | None = field(
        default=None,
        metadata={"help": "Metadata column(s) to break every metric down by, comma-separated. Numeric columns can be "
                  "bucketed: 'age:0-2,3-12,13-59,60+' (a-b includes both ends, 60+ is 60 and above). Example: "
                  "--group-by race,age:0-2,3-12,13-59,60+"},
    )
    output_dir: str | None = field(default=None, metadata={"help": "Where eval_results.json and eval/ go (default: the model folder)."})
    target_recall: float | None = field(
        default=None,
        metadata={"help": "Choose the decision threshold on the validation split as the highest one whose recall of the "
                  "positive class is at least this (binary models); report the split at it and store it in the model folder."},
    )
    target_precision: float | None = field(
        default=None, metadata={"help": "Like --target-recall, for a precision target (the lowest threshold reaching it)."})
    save_threshold: bool = field(
        default=True,
        metadata={"help": "Write the chosen threshold into the model folder's config.json (decision_threshold, "
                  "positive_label), where predict and the Space read it; --no-save-threshold only reports it."},
    )
    calibrate: bool = field(
        default=False,
        metadata={"help": "Fit temperature scaling on the validation split and report calibration before and after "
                  "(the model folder's scores are not changed)."},
    )
    explain: int = field(
        default=0,
        metadata={"help": "Add a Grad-CAM grid of the N most confidently wrong images and, for binary models, the mean "
                  "Grad-CAM over correctly classified positive images."},
    )
    n_boot: int = field(default=1000, metadata={"help": "0: no intervals. Otherwise 95 percent intervals over the "
                                                "clips/sessions (the methods are named in the report; the value is "
                                                "kept for old scripts and no longer counts resamples)."})
    n_bins: int = field(default=10, metadata={"help": "Confidence bins for the reliability diagram and ECE."})
    batch_size: int = field(default=32, metadata={"help": "Images per forward pass."})
    device: str | None = field(default=None, metadata={"help": "'cpu', 'cuda', 'cuda:1'... (default: a GPU if there is one)."})


@dataclass
class CompareConfig:
    """``kernel-laugh compare``: the split and output of a paired comparison (``comparison.compare_models``)."""

    split: str = field(default="test", metadata={"help": "Split every model is scored on: train, validation, test or all."})
    output_dir: str = field(default="compare", metadata={"help": "Folder for compare.json, compare.md and compare.png."})
    batch_size: int = field(default=32, metadata={"help": "Images per forward pass."})
    device: str | None = field(default=None, metadata={"help": "'cpu', 'cuda', 'cuda:1'... (default: a GPU if there is one)."})


PRESETS: dict[str, dict[str, Any]] = {
    # Small images, from scratch, a few epochs: trains in a couple of minutes on 2 CPU cores.
    "sample": dict(
        dataset="sample", group_column="session", positive_label="laughter", pretrained=False, image_size=64,
        crop_pct=1.0, crop_mode="squash",
        epochs=10, batch_size=32, learning_rate=2e-3, backbone_lr_scale=1.0, weight_decay=0.05, warmup_ratio=0.1,
        # Kept by validation loss: on 90 validation images several epochs tie on AUC or accuracy, and either alone
        # kept early epochs whose scores were badly calibrated (test accuracy 0.78 at AUC 0.97; a timeline
        # segment 2.5 s late), which thresholds downstream (decisions, video segments) then inherit.
        best_metric="loss",
    ),
    # The flagship: Kernel Flow brain renders. Whole frame kept (blobs sit near the edges), no flips. Fine-tuning
    # recipe: one head-only epoch, then everything with the backbone at a tenth of the head's rate; labels come from
    # which clip a frame is in (noisy per frame), hence label smoothing.
    "brain": dict(positive_label="laughter", pretrained=True, image_size=224, crop_pct=1.0, crop_mode="squash",
                  epochs=10, batch_size=16,
                  learning_rate=1e-3, backbone_lr_scale=0.1, freeze_epochs=1, label_smoothing=0.1, augmentation="brain",
                  early_stopping_patience=4),
}
# The original data on the Hub, with the ImageNet weights the original used. Its test split is a separate clip; the
# validation split is carved from train in blocks of 20 consecutive frames (the Hub copy has no clip column; each
# class there is one clip), so near-identical neighbouring frames never sit on both sides.
PRESETS["kernel-laughter"] = dict(PRESETS["brain"], dataset="evdev3/kernel-neural-data", architecture="resnet18.tv_in1k",
                                  group_column="block:20", dataset_id="evdev3/kernel-neural-data")


# Named crops of the original 3840x2160 podcast frames, (x, y, w, h) in pixels, scaled to a frame's size when
# used (video.region_box): the brain render's panel and the person. `frames` / `timeline` --region take these.
REGIONS: dict[str, tuple[int, int, int, int]] = {"brain": (1900, 600, 1050, 800), "person": (500, 0, 1300, 2160)}

# The gated fusion (kernel_laugh.fusion): the experts it knows, in the order of their columns (a fourth, e.g.
# pose, is appended here), the time grid they are read on, and the width of the gate's hidden layer.
MODALITIES: tuple[str, ...] = ("brain", "face", "audio")
FUSION_GRID_HZ = 2.0
FUSION_GATE_HIDDEN = 16


@dataclass
class FuseTrainConfig:
    """``kernel-laugh fuse-train``: the experts, the data, the split and the gate's training."""

    brain: str | None = field(default=None, metadata={"help": "Brain-render expert: model folder or Hub id (its 'laughter' class is the signal)."})
    face: str | None = field(default=None, metadata={"help": "Face-expression expert: model folder or Hub id, run on the main face of the person region."})
    audio: str | None = field(default=None, metadata={"help": "Audio expert: model folder or Hub id, run on the soundtrack."})
    brain_label: str | None = field(default=None, metadata={"help": "The brain expert's class that means laughter (default: 'laughter')."})
    face_label: str | None = field(default=None, metadata={"help": "The face expert's class that means laughter (default: 'happy', else 'smile', else 'laughter')."})
    audio_label: str | None = field(default=None, metadata={"help": "The audio expert's class that means laughter (default: 'laughter')."})
    dataset: str | None = field(default=None, metadata={"help": "Folder of videos with labels.csv (start,end,label[,video]: the format `frames` takes), "
                                                         "videos the experts did NOT train on; split by video into gate-train / validation / test."})
    output_dir: str = field(default="runs/fusion", metadata={"help": "Folder for the fusion model (config.json, model.safetensors, README.md, eval_results.json)."})
    grid_hz: float = field(default=FUSION_GRID_HZ, metadata={"help": "Time steps per second at which every expert is read."})
    val_fraction: float = field(default=0.2, metadata={"help": "Share of the steps (in whole videos) for validation (early stopping, temperature, threshold)."})
    test_fraction: float = field(default=0.3, metadata={"help": "Share of the steps (in whole videos) held out for the test results."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the video split."})
    epochs: int = field(default=60, metadata={"help": "Passes over the gate's training steps."})
    batch_size: int = field(default=256, metadata={"help": "Steps per optimiser step."})
    learning_rate: float = field(default=1e-2, metadata={"help": "AdamW learning rate of the gate and calibration."})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay."})
    modality_dropout: float = field(default=0.3, metadata={"help": "Probability of hiding each available expert at each training step (ModDrop); 0 = off."})
    hidden: int = field(default=FUSION_GATE_HIDDEN, metadata={"help": "Width of the gate's hidden layer."})
    seed: int = field(default=0, metadata={"help": "Seed of the gate's weights, batch order and modality dropout."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace a fusion model already in --output-dir."})

    def experts(self) -> dict[str, str]:
        """The experts given, ``{modality: model}``, in ``MODALITIES`` order."""
        return {m: ref for m in MODALITIES if (ref := getattr(self, m))}


# Face expressions: FER2013's 48x48 grey faces and UTKFace's small colour crops, upsampled to the backbone's 224 px,
# the whole face kept (squash, no centre crop), ImageNet weights. Faces may be flipped ('faces' augmentation). The
# dataset defaults are the public files' usual names; --dataset points elsewhere.

_FACES = dict(pretrained=True, image_size=224, crop_pct=1.0, crop_mode="squash", augmentation="faces", epochs=10,
              batch_size=64, learning_rate=1e-3, backbone_lr_scale=0.1, freeze_epochs=1)
# FER2013 and emotion6 are multi-class: no positive class (precision, recall and F1 are macro averages).
# FER2013: the Kaggle CSV (emotion,pixels,Usage) or train/<class>/ test/<class>/ folders; 7 classes; accuracy is
# what the literature reports.
PRESETS["fer2013"] = dict(_FACES, dataset="fer2013.csv", best_metric="accuracy", positive_label=None)
# The Emotion Detective's 6 classes: 'disgust' (1.5% of FER2013) dropped; --keep-disgust keeps it. The other six
# are still imbalanced (happy is 2.2x surprise), hence the class-balanced loss.
PRESETS["emotion6"] = dict(PRESETS["fer2013"], drop_labels="disgust,disgusted", class_balance="loss")
# Smile vs neutral: a folder with happy/ and neutral/ of UTKFace-named images (age_gender_race_datetime.jpg); age,
# gender and race become metadata for `evaluate --group-by race,age`.
# The positive class is happy (a smile), not neutral, though 'happy' sorts first.
PRESETS["smile"] = dict(_FACES, dataset="./smile", batch_size=32, best_metric="roc_auc", positive_label="happy")
# The audio expert (applies whenever --modality audio is given without a preset): a small AST from scratch on 1 s
# windows every 0.5 s at 16 kHz, every recording on one side of the split. Inputs are (frames, mel bins), not
# images: no channels-last, no image cache or augmentation. --model MIT/ast-finetuned-audioset-10-10-0.4593
# --pretrained fine-tunes an AudioSet AST instead (needs the Hub; use a smaller --learning-rate, e.g. 5e-5).
PRESETS["audio"] = dict(modality="audio", architecture="ast-tiny", pretrained=False, group_column="recording",
                        positive_label="laughter",
                        sampling_rate=16000, window_seconds=1.0, hop_seconds=0.5, epochs=12, batch_size=32,
                        learning_rate=1e-3, backbone_lr_scale=1.0, weight_decay=0.05, warmup_ratio=0.1,
                        augmentation="none", channels_last=False, cache_images=False, best_metric="loss")
# The SYNTHETIC sound sample: 200 three-second recordings (half laughter), about 1000 windows.
PRESETS["audio-sample"] = dict(PRESETS["audio"], dataset="sample", sample_size=200)


# Class names that mean "not the thing": the documented default rule for the positive class (and for the order of
# the class folders `kernel-laugh frames` writes).
NEGATIVE_LABEL = re.compile(r"^(non|no|not)[-_ ]|^(neutral|other|background|none)$", re.IGNORECASE)


def progress_bars(wanted: bool = True) -> bool:
    """Whether to show a progress bar the caller ``wanted``: not when the package's logger was set above INFO
    (``kernel-laugh --quiet``). An unconfigured logger (library use) leaves the caller's choice alone."""
    return wanted and logging.getLogger("kernel_laugh").level <= logging.INFO


def positive_label_index(label_names: list[str], requested: str | None = None) -> tuple[int | None, str]:
    """(index of the positive class, how it was chosen); (None, reason) for more than two classes.

    ``requested`` (``--positive-label``) must be one of the two names. Without it: the one class whose name is not
    negative-like (``NEGATIVE_LABEL``), else index 1, the second class in label order.
    Raises KernelLaughError for a requested name that is not a label, or for a multi-class dataset.
    """
    if len(label_names) != 2:
        if requested is not None:
            raise KernelLaughError(f"--positive-label {requested!r}: only binary datasets have a positive class; this one "
                                   f"has {len(label_names)} classes {label_names}")
        return None, "multi-class: precision, recall and F1 are macro averages"
    if requested is not None:
        if requested not in label_names:
            raise KernelLaughError(f"--positive-label {requested!r} is not one of the dataset's labels {label_names}")
        return label_names.index(requested), "named by --positive-label or the preset"
    positive = [i for i, name in enumerate(label_names) if not NEGATIVE_LABEL.search(name)]
    if len(positive) == 1:
        return positive[0], f"the only class not named like a negative ({label_names[1 - positive[0]]!r} is)"
    return 1, "the second class in label order (no --positive-label given)"


def _field_type(tp: Any) -> Any:
    """``int | None`` → int, so argparse can convert the value."""
    args = [a for a in get_args(tp) if a is not type(None)]
    return args[0] if get_origin(tp) is not None and args else tp


def check_choices(obj: Any) -> None:
    """Raise a clear error when a field with ``choices`` metadata holds another value (flags, files and code alike)."""
    for f in dataclasses.fields(obj):
        choices = f.metadata.get("choices")
        if choices and getattr(obj, f.name) not in choices:
                    raise KernelLaughError(f"--{f.name.replace('_', '-')}: {getattr(obj, f.name)!r} is not one of {choices}")


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one ``--flag`` per field of ``cls`` (plus any ``aliases``); booleans get ``--x`` / ``--no-x``."""
    group = parser.add_argument_group(cls.__name__)
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flags = ["--" + f.name.replace("_", "-"), *f.metadata.get("aliases", [])]
        tp = _field_type(hints[f.name])
        help_text = f.metadata.get("help", "")
        if tp is bool:
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default, help=help_text)
        else:
            # A help text that already says its default (e.g. "default: detected") is not told "default: None".
            group.add_argument(*flags, dest=f.name, type=tp, default=f.default, choices=f.metadata.get("choices"),
                               help=help_text if "(default: " in help_text else f"{help_text} (default: %(default)s)")


def load_config_file(path: str | Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Settings from a YAML or JSON file, checked against ``fields`` (name → type), as ``{field: value}``.

    Keys are field names (``learning_rate`` or ``learning-rate``), at the top level or under section names such as
    ``TrainConfig:`` (so an earlier run's ``training_args.json`` loads as it is); ``preset: NAME`` names a preset.
    """
    p = Path(path)
    if not p.is_file():
        raise KernelLaughError(f"--config {p}: no such file")
    text = p.read_text()
    try:
        if p.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            raw = yaml.safe_load(text)
    except Exception as err:  # yaml.YAMLError / json.JSONDecodeError: both say where
        raise KernelLaughError(f"--config {p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'} ({err})") from None
    if not isinstance(raw, dict):
        raise KernelLaughError(f"--config {p}: expected a mapping of setting: value at the top level")
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "environment":  # written by training for the record; not a setting
            continue
        if isinstance(value, dict) and key.endswith("Config"):  # a section, as in training_args.json
            flat.update(value)
        else:
            flat[key] = value
    out = {}
    for key, value in flat.items():
        name = str(key).replace("-", "_")
        if name != "preset" and name not in fields:
            raise KernelLaughError(f"--config {p}: unknown setting {key!r} (see `kernel-laugh train --help`)")
        out[name] = value if name == "preset" else _coerce(name, fields[name], value, p)
    return out


def _coerce(name: str, tp: Any, value: Any, where: Path) -> Any:
    """A file's value as the field's type, or a clear error (YAML reads a bare `no` as false: quote it)."""
    base = _field_type(tp)
    optional = type(None) in get_args(tp)
    if value is None and optional:
        return None
    if base is bool and isinstance(value, bool):
        return value
    if base is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if base is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if base is str and value is False:  # YAML 1.1 reads a bare `no` (e.g. mixed_precision: no) as false
        return "no"
    hint = " (YAML reads a bare no/yes/off as a boolean: quote it)" if base is str and isinstance(value, bool) else ""
    raise KernelLaughError(f"--config {where}: {name} must be {base.__name__}{' or null' if optional else ''}, "
                           f"got {value!r}{hint}")


def from_namespace(cls: type, ns: argparse.Namespace) -> Any:
    return cls(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(cls) if hasattr(ns, f.name)})


def apply_preset(parser: argparse.ArgumentParser, name: str | None) -> None:
    """Make a preset's values the parser's defaults, so flags given on the command line still win."""
    if name is None:
        return
    if name not in PRESETS:
            raise KernelLaughError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    parser.set_defaults(**PRESETS[name])
