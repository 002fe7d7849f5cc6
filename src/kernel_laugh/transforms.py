"""The one place preprocessing is built, from the model's own ``pretrained_cfg``.

Evaluation uses exactly timm's eval transform for that config, which is also what transformers'
TimmWrapperImageProcessor (and so ``pipeline``) applies: training, evaluation, predict and the Space cannot
drift apart. Training adds mild augmentation that keeps blob positions meaningful (no flips, small crops).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import timm.data
import torch
from PIL import Image
from torchvision import transforms as T


def data_config(pretrained_cfg: dict[str, Any]) -> dict[str, Any]:
    """input_size, interpolation, mean, std, crop_pct, crop_mode, resolved the way timm does it."""
    return timm.data.resolve_data_config(pretrained_cfg=dict(pretrained_cfg), verbose=False)


def eval_transform(pretrained_cfg: dict[str, Any]) -> Callable[[Image.Image], torch.Tensor]:
    """PIL RGB image → (3, H, W) normalised tensor, identical to the pipeline's preprocessing."""
    return timm.data.create_transform(**data_config(pretrained_cfg), is_training=False)


def train_transform(pretrained_cfg: dict[str, Any], hflip: bool = False) -> Callable[[Image.Image], torch.Tensor]:
    """Mild augmentation. Flips are off by default: the brain render's left and right hemispheres differ."""
    cfg = data_config(pretrained_cfg)
    h, w = cfg["input_size"][-2:]
    name = cfg["interpolation"] if cfg["interpolation"] in ("bilinear", "bicubic", "nearest") else "bilinear"
    interp = T.InterpolationMode(name)
    pct = cfg.get("crop_pct") or 1.0
    # Same geometry as evaluation (squash the whole frame, or scale the short side), then a small random crop.
    resize = (round(h / pct), round(w / pct)) if cfg.get("crop_mode") == "squash" else round(min(h, w) / pct)
    steps: list[Any] = [T.Resize(resize, interpolation=interp),
                        T.RandomResizedCrop((h, w), scale=(0.7, 1.0), ratio=(0.9, 1.1), interpolation=interp)]
    if hflip:
        steps.append(T.RandomHorizontalFlip())
    steps += [T.ColorJitter(0.1, 0.1, 0.1), T.ToTensor(), T.Normalize(cfg["mean"], cfg["std"])]
    return T.Compose(steps)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode → 8-bit RGB: greyscale is repeated, alpha is composited on black (the renders'
    background), and 16-bit / 32-bit images are rescaled to 0-255 instead of being clipped."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16"):
        arr = np.asarray(image, dtype=np.float64) / 257.0  # 65535 → 255
        return Image.fromarray(arr.round().astype(np.uint8)).convert("RGB")
    if image.mode in ("I", "F"):  # no fixed range: stretch what is there
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
