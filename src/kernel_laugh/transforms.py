"""The one place preprocessing is built, from the model's own ``pretrained_cfg``.

Evaluation uses exactly timm's eval transform for that config, which is also what transformers'
TimmWrapperImageProcessor (and so ``pipeline``) applies: training, evaluation, predict and the Space cannot
drift apart. Training adds a per-task augmentation policy (``AUGMENTATIONS``); brain renders are never flipped.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
import timm.data
import torch
from PIL import Image
from torchvision import transforms as T

from kernel_laugh.readers.images import to_rgb  # noqa: F401 - re-exported: the one mode conversion lives with the reader


def data_config(pretrained_cfg: dict[str, Any]) -> dict[str, Any]:
    """input_size, interpolation, mean, std, crop_pct, crop_mode, resolved the way timm does it."""
    return timm.data.resolve_data_config(pretrained_cfg=dict(pretrained_cfg), verbose=False)


def eval_transform(pretrained_cfg: dict[str, Any]) -> Callable[[Image.Image], torch.Tensor]:
    """PIL RGB image → (3, H, W) normalised tensor, identical to the pipeline's preprocessing."""
    return timm.data.create_transform(**data_config(pretrained_cfg), is_training=False)


def split_eval_transform(tf: Callable) -> tuple[Callable[[Image.Image], Image.Image], list[float], list[float]] | None:
    """Split timm's eval ``Compose([<PIL geometry>..., (Maybe)ToTensor, Normalize])`` into its PIL steps and the
    Normalize (mean, std), so that a whole batch is converted and normalised at once (``normalize_batch``), with
    the same float operations and so the same numbers as per image. None for any other layout."""
    steps = list(getattr(tf, "transforms", []))
    names = [type(t).__name__ for t in steps]
    if len(steps) < 2 or names[-2] not in ("ToTensor", "MaybeToTensor") or not isinstance(steps[-1], T.Normalize):
        return None
    mean, std = (torch.as_tensor(v, dtype=torch.float32).tolist() for v in (steps[-1].mean, steps[-1].std))
    return T.Compose(steps[:-2]), mean, std


def split_first_resize(tf: Callable) -> tuple[Callable[[Image.Image], Image.Image], Callable] | None:
    """``Compose([Resize, *rest])`` → (the Resize, ``Compose(rest)``): the deterministic first step that can be
    applied once and cached (see data.cache_resized), and what must still run per epoch. None otherwise."""
    steps = list(getattr(tf, "transforms", []))
    if not steps or type(steps[0]) is not T.Resize:
        return None
    return steps[0], T.Compose(steps[1:])


def normalize_batch(arrays: list[np.ndarray], mean: list[float], std: list[float]) -> torch.Tensor:
    """(H, W, 3) uint8 arrays → (B, 3, H, W) float32 in channels-last memory: ToTensor's ``/ 255`` and
    Normalize's ``(x - mean) / std``, applied once to the stacked batch (the (B, H, W, 3) stack *is* the
    channels-last layout, so no copy is needed for channels-last models)."""
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # a view: (B, 3, H, W), strides of NHWC
    x = x.to(torch.float32).div_(255)
    return x.sub_(torch.tensor(mean).view(1, 3, 1, 1)).div_(torch.tensor(std).view(1, 3, 1, 1))


# Augmentation policies per task. Brain renders are a left-lateral view: a horizontal flip would swap the
# hemispheres and move blobs to places they never are, so "brain" never flips; "faces" may (faces are roughly
# symmetric) and also rotates a little, as faces tilt. Both keep most of the frame (blobs sit near the edges).
AUGMENTATIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "brain": {"scale": (0.7, 1.0), "hflip": False, "rotate": 0, "jitter": 0.1},
    "faces": {"scale": (0.8, 1.0), "hflip": True, "rotate": 10, "jitter": 0.2},
}


def train_transform(pretrained_cfg: dict[str, Any], policy: str = "brain") -> Callable[[Image.Image], torch.Tensor]:
    """Augmented preprocessing for training: the evaluation geometry plus the ``policy``'s random changes."""
    if policy not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation policy {policy!r}; choose one of {sorted(AUGMENTATIONS)}")
    aug = AUGMENTATIONS[policy]
    if not aug:
        return eval_transform(pretrained_cfg)
    cfg = data_config(pretrained_cfg)
    h, w = cfg["input_size"][-2:]
    interp = _interpolation(cfg)
    # Same geometry as evaluation (squash the whole frame, or scale the short side), then a small random crop.
    steps: list[Any] = [T.Resize(_resize_size(cfg), interpolation=interp),
                        T.RandomResizedCrop((h, w), scale=aug["scale"], ratio=(0.9, 1.1), interpolation=interp)]
    if aug["hflip"]:
        steps.append(T.RandomHorizontalFlip())
    if aug["rotate"]:
        steps.append(T.RandomRotation(aug["rotate"], interpolation=interp))
    j = aug["jitter"]
    steps += [T.ColorJitter(j, j, j), T.ToTensor(), T.Normalize(cfg["mean"], cfg["std"])]
    return T.Compose(steps)


def _interpolation(cfg: dict[str, Any]) -> T.InterpolationMode:
    name = cfg["interpolation"] if cfg["interpolation"] in ("bilinear", "bicubic", "nearest") else "bilinear"
    return T.InterpolationMode(name)


def _resize_size(cfg: dict[str, Any]) -> tuple[int, int] | int:
    """Resize target before the crop: both sides for 'squash', else the short side (timm's eval geometry)."""
    h, w = cfg["input_size"][-2:]
    pct = cfg.get("crop_pct") or 1.0
    return (round(h / pct), round(w / pct)) if cfg.get("crop_mode") == "squash" else round(min(h, w) / pct)


def unnormalized_eval_transform(pretrained_cfg: dict[str, Any]) -> Callable[[Image.Image], torch.Tensor]:
    """The evaluation transform without its final Normalize: (3, H, W) in [0, 1], the pixels the model sees."""
    split = split_eval_transform(eval_transform(pretrained_cfg))
    if split is None:
        raise ValueError("expected the evaluation transform to end in ToTensor and Normalize")
    return T.Compose([split[0], T.ToTensor()])


def channel_statistics(images: Iterable[Image.Image], pretrained_cfg: dict[str, Any],
                       ) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) std over every pixel of ``images``, as the model sees them.

    Streamed: each image adds its pixel count, mean and sum of squared deviations, merged with Chan's parallel
    formula in float64, so the result equals numpy's mean/std over all pixels at once without holding them.
    (The original project averaged per-image means wrongly and normalised every input to about -2.2.)
    """
    tf = unnormalized_eval_transform(pretrained_cfg)
    count, mean, m2 = 0, torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    for image in images:
        x = tf(to_rgb(image)).to(torch.float64).flatten(1)  # (3, H*W)
        n_b, mean_b = x.shape[1], x.mean(1)
        m2_b = ((x - mean_b[:, None]) ** 2).sum(1)
        delta, total = mean_b - mean, count + n_b
        mean = mean + delta * n_b / total
        m2 = m2 + m2_b + delta**2 * count * n_b / total
        count = total
    if count == 0:
        raise ValueError("no images to compute statistics from")
    std = (m2 / count).sqrt()
    return [round(float(v), 6) for v in mean], [round(float(max(v, 1e-6)), 6) for v in std]
