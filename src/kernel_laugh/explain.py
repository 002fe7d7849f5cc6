"""Grad-CAM: which parts of an image drive a class's score (Selvaraju et al., 2017).

The heat map is ReLU(sum_c w_c A_c) where A (C, h, w) are the activations of the backbone's last stage and
w_c the spatial mean of d score / d A_c, the score being the target's logit minus the mean logit. ``GradCAM`` is a context manager: its forward hook exists only inside
the ``with`` block, so a long-running Space that explains many images never piles hooks up. Gradients are
taken with ``torch.autograd.grad`` on the captured activations, so no ``.grad`` is left on the weights either.

Used by ``kernel-laugh explain``, ``kernel-laugh evaluate --explain N`` and the Space (no training, accelerate
or evaluate imports here).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import matplotlib
import torch
from PIL import Image

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.transforms import data_config, eval_transform, to_rgb


def _backbone(model: torch.nn.Module) -> torch.nn.Module:
    """The timm model itself, also when it is wrapped by transformers' TimmWrapperForImageClassification."""
    return getattr(model, "timm_model", model)


def default_layer(model: torch.nn.Module) -> torch.nn.Module:
    """The backbone's last stage: timm's ``feature_info[-1]["module"]`` (``layer4`` for ResNets)."""
    backbone = _backbone(model)
    info = getattr(backbone, "feature_info", None)
    if info:
        return backbone.get_submodule(info[-1]["module"])
    if hasattr(backbone, "layer4"):
        return backbone.layer4
    raise KernelLaughError(f"cannot find the last stage of {type(backbone).__name__} for Grad-CAM; pass layer=...")


def _logits(output: Any) -> torch.Tensor:
    return output.logits if hasattr(output, "logits") else output  # transformers output or a plain tensor


class GradCAM:
    """``with GradCAM(model) as cam: heat, probs = cam(pixel_values, targets)``.

    ``pixel_values`` (B, 3, H, W) preprocessed; ``targets`` (B,) class indices or None for the predicted
    class. Returns heat maps (B, H, W) in [0, 1] at the input's resolution and the softmax probabilities (B, K).
    """

    def __init__(self, model: torch.nn.Module, layer: torch.nn.Module | None = None):
        self.model = model
        self.layer = layer if layer is not None else default_layer(model)
        self._handle: torch.utils.hooks.RemovableHandle | None = None
        self._activations: torch.Tensor | None = None

    def __enter__(self) -> GradCAM:
        self._handle = self.layer.register_forward_hook(self._keep)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._handle is not None:
            self._handle.remove()
        self._handle, self._activations = None, None

    def _keep(self, module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self._activations = output  # (B, C, h, w), still attached to the graph

    def __call__(self, pixel_values: torch.Tensor, targets: torch.Tensor | list[int] | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        if self._handle is None:
            raise RuntimeError("use GradCAM inside a `with` block, so its hook is removed afterwards")
        was_training = self.model.training
        self.model.eval()  # batch-norm statistics of the saved model, as at inference
        try:
            return self._explain(pixel_values, targets)
        finally:
            self.model.train(was_training)

    def _explain(self, pixel_values: torch.Tensor, targets: torch.Tensor | list[int] | None) -> tuple[torch.Tensor, torch.Tensor]:
        device = next(self.model.parameters()).device
        with torch.enable_grad():  # also when the caller is inside torch.no_grad()
            logits = _logits(self.model(pixel_values.to(device)))  # (B, K)
            chosen = logits.argmax(1) if targets is None else torch.as_tensor(targets, device=device).long()
            # Softmax ignores a shift shared by all logits, so one class's raw logit is only meaningful against
            # the others: explain the centred logit z_t - mean(z) (half the log-odds with two classes). A raw
            # logit can sit below zero everywhere and give an empty map after the ReLU.
            centred = logits - logits.mean(1, keepdim=True)  # (B, K)
            # Samples are independent in eval mode, so the gradient of the sum gives each sample its own.
            score = centred.gather(1, chosen[:, None]).sum()
            grads = torch.autograd.grad(score, self._activations)[0]  # (B, C, h, w)
        weights = grads.mean((2, 3), keepdim=True)  # (B, C, 1, 1): how much each channel raises the score
        cam = torch.relu((weights * self._activations).sum(1, keepdim=True)).detach()  # (B, 1, h, w)
        cam = upsample(cam, pixel_values.shape[-2:])  # (B, 1, H, W)
        peak = cam.amax((2, 3), keepdim=True)
        cam = torch.where(peak > 0, cam / peak.clamp_min(1e-12), torch.zeros_like(cam))
        return cam[:, 0].cpu(), logits.detach().float().softmax(-1).cpu()


def upsample(cam: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear (B, 1, h, w) → (B, 1, H, W) with each cell at the input pixel it is centred on.

    In a CNN of same-padded stride-2 convolutions and poolings, cell i of a stride-s map is centred on input
    pixel s * i, not s * i + s/2 as ``interpolate(align_corners=False)`` assumes; that half-cell shift moves
    the heat map by up to 16 pixels right and down on a ResNet's last stage. Pixels past the last cell take
    its value.
    """
    (h, w), (big_h, big_w) = cam.shape[-2:], size
    # Each output pixel's position in cell units (y / stride), as grid_sample's [-1, 1] with align_corners=True.
    ys = torch.arange(big_h, dtype=cam.dtype) * (h / big_h)
    xs = torch.arange(big_w, dtype=cam.dtype) * (w / big_w)
    gy = (2 * ys / max(h - 1, 1) - 1).clamp(-1, 1) if h > 1 else torch.zeros_like(ys)
    gx = (2 * xs / max(w - 1, 1) - 1).clamp(-1, 1) if w > 1 else torch.zeros_like(xs)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1)  # (H, W, 2) as (x, y)
    grid = grid[None].expand(cam.shape[0], -1, -1, -1).to(cam.device)
    return torch.nn.functional.grid_sample(cam, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _crop_box(size: tuple[int, int], pretrained_cfg: dict[str, Any]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the region of the original image that the eval transform keeps."""
    width, height = size
    cfg = data_config(pretrained_cfg)
    in_h, in_w = cfg["input_size"][-2:]
    pct = cfg.get("crop_pct") or 1.0
    if cfg.get("crop_mode") == "squash":  # both sides resized to input/pct, then the centre input kept
        box_w, box_h = width * pct, height * pct
    else:  # short side resized to input/pct, then the centre input kept
        scale = (min(in_h, in_w) / pct) / min(width, height)
        box_w, box_h = min(width, in_w / scale), min(height, in_h / scale)
    left, top = (width - box_w) / 2, (height - box_h) / 2
    return round(left), round(top), round(left + box_w), round(top + box_h)


def heatmap_to_image(heat: np.ndarray, size: tuple[int, int], pretrained_cfg: dict[str, Any]) -> np.ndarray:
    """A heat map (h, w) over the model's input → (H, W) over the original image (zeros outside the crop)."""
    left, top, right, bottom = _crop_box(size, pretrained_cfg)
    patch = Image.fromarray(heat.astype(np.float32), mode="F").resize((max(right - left, 1), max(bottom - top, 1)),
                                                                      Image.BILINEAR)
    full = np.zeros((size[1], size[0]), np.float32)
    full[top:top + patch.height, left:left + patch.width] = np.asarray(patch)[: size[1] - top, : size[0] - left]
    return np.clip(full, 0.0, 1.0)


def overlay(image: Image.Image, heat: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """The image with the heat map (H, W in [0, 1], same size) blended on top in the 'jet' colour map."""
    colours = matplotlib.colormaps["jet"](heat)[..., :3]  # (H, W, 3) in [0, 1]
    weight = alpha * heat[..., None] ** 0.5  # cold regions stay close to the original image
    base = np.asarray(to_rgb(image), np.float32) / 255.0
    return Image.fromarray(((1 - weight) * base * 255 + weight * colours * 255).clip(0, 255).astype(np.uint8))


def gradcam_overlay(model: torch.nn.Module, image: Image.Image, pretrained_cfg: dict, target: int | None = None,
                    ) -> tuple[Image.Image, np.ndarray]:
    """Grad-CAM of ``target`` (default: the predicted class) for one image, from the backbone's last stage.

    Returns an RGB overlay at the image's size and the (H, W) heat map in [0, 1] over the original image.
    """
    rgb = to_rgb(image)
    pixel_values = eval_transform(pretrained_cfg)(rgb)[None]  # (1, 3, h, w), the pipeline's preprocessing
    with GradCAM(model) as cam:
        heat, _ = cam(pixel_values, None if target is None else [target])
    full = heatmap_to_image(heat[0].numpy(), rgb.size, pretrained_cfg)
    return overlay(rgb, full), full


def mean_gradcam(model: torch.nn.Module, images: list[Image.Image], pretrained_cfg: dict, target: int,
                 batch_size: int = 16) -> Image.Image:
    """The mean Grad-CAM of ``target`` over ``images`` at the model's input size, overlaid on their mean
    (de-normalised) input: which regions drive that class across a whole set, e.g. all laughter frames."""
    transform = eval_transform(pretrained_cfg)
    cfg = data_config(pretrained_cfg)
    mean, std = (torch.tensor(cfg[k], dtype=torch.float32).view(3, 1, 1) for k in ("mean", "std"))
    heat_sum, image_sum = None, None
    with GradCAM(model) as cam:
        for start in range(0, len(images), batch_size):
            x = torch.stack([transform(to_rgb(im)) for im in images[start:start + batch_size]])  # (B, 3, H, W)
            heat, _ = cam(x, [target] * len(x))  # (B, H, W)
            heat_sum = heat.sum(0) if heat_sum is None else heat_sum + heat.sum(0)
            image_sum = (x * std + mean).sum(0) if image_sum is None else image_sum + (x * std + mean).sum(0)
    if heat_sum is None:
        raise KernelLaughError("mean_gradcam needs at least one image")
    heat = (heat_sum / heat_sum.max().clamp_min(1e-12)).numpy()
    base = ((image_sum / len(images)).clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)  # (H, W, 3)
    return overlay(Image.fromarray(base), heat)
