"""Typed settings for every stage, as dataclasses with help text (stdlib only).

The CLI builds its arguments from these fields, parses once, and hands the dataclasses to the library;
library code never sees an argparse namespace. Presets are named sets of overrides for these fields.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin, get_type_hints


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
            "split, so near-duplicate video frames never leak between train and test. The sample uses 'session'."
        },
    )
    validation_fraction: float = field(default=0.15, metadata={"help": "Share of data for validation when the source has no validation split."})
    test_fraction: float = field(default=0.15, metadata={"help": "Share of data for test when the source has no test split."})
    max_corrupt_fraction: float = field(
        default=0.05,
        metadata={"help": "Corrupt images in a folder up to this share are skipped and listed; more stops the run before training."},
    )
    sample_size: int = field(default=600, metadata={"help": "Number of synthetic images when --dataset sample."})
    sample_image_size: int = field(default=96, metadata={"help": "Side in pixels of the synthetic images."})
    split_seed: int = field(default=42, metadata={"help": "Seed for the split and the synthetic sample."})


@dataclass
class ModelConfig:
    architecture: str = field(default="resnet18", metadata={"help": "Any timm model name."})
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


@dataclass
class TrainConfig:
    output_dir: str = field(default="runs/kernel-laugh", metadata={"help": "Folder for the Hub-ready model and the results."})
    epochs: int = field(default=10, metadata={"help": "Passes over the training split."})
    batch_size: int = field(default=16, metadata={"help": "Images per step on each process."})
    learning_rate: float = field(default=3e-4, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps spent warming the learning rate up linearly, before the cosine decay."})
    best_metric: str = field(default="roc_auc", metadata={"help": "Validation metric that picks the epoch whose weights are kept."})
    num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes."})
    mixed_precision: str = field(default="no", metadata={"help": "'no', 'fp16' or 'bf16' (passed to Accelerate)."})
    seed: int = field(default=42, metadata={"help": "Seed for weights init and data order."})
    resume: bool = field(default=False, metadata={"help": "Continue from the training state saved in OUTPUT_DIR/checkpoints."})


@dataclass
class CardConfig:
    model_id: str | None = field(default=None, metadata={"help": "Hub id the card refers to (e.g. user/kernel-laugh-resnet18)."})
    dataset_id: str | None = field(default=None, metadata={"help": "Hub id of the training dataset, for the card's metadata."})
    license: str = field(default="apache-2.0", metadata={"help": "License written into the card."})


PRESETS: dict[str, dict[str, Any]] = {
    # Small images, from scratch, a few epochs: trains in a couple of minutes on 2 CPU cores.
    "sample": dict(
        dataset="sample", group_column="session", pretrained=False, image_size=64, crop_pct=1.0, crop_mode="squash",
        epochs=10, batch_size=32, learning_rate=2e-3, weight_decay=0.05, warmup_ratio=0.1,
    ),
    # The flagship: Kernel Flow brain renders. Whole frame kept (blobs sit near the edges), no flips.
    "brain": dict(pretrained=True, image_size=224, crop_pct=1.0, crop_mode="squash", epochs=10, batch_size=16, learning_rate=3e-4),
}


def _field_type(tp: Any) -> Any:
    """``int | None`` → int, so argparse can convert the value."""
    args = [a for a in get_args(tp) if a is not type(None)]
    return args[0] if get_origin(tp) is not None and args else tp


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one ``--flag`` per field of ``cls``; booleans get ``--x`` / ``--no-x``."""
    group = parser.add_argument_group(cls.__name__)
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        tp = _field_type(hints[f.name])
        help_text = f.metadata.get("help", "")
        if tp is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, type=tp, default=f.default, help=f"{help_text} (default: %(default)s)")


def from_namespace(cls: type, ns: argparse.Namespace) -> Any:
    return cls(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(cls) if hasattr(ns, f.name)})


def apply_preset(parser: argparse.ArgumentParser, name: str | None) -> None:
    """Make a preset's values the parser's defaults, so flags given on the command line still win."""
    if name is None:
        return
    if name not in PRESETS:
        from kernel_laugh.errors import KernelLaughError

        raise KernelLaughError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    parser.set_defaults(**PRESETS[name])
