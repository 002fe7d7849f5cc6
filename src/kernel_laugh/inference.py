"""A ``Predictor``: one loaded model answering for images, through ``transformers.pipeline`` (the path users
of the Hub model take). Used by ``kernel-laugh predict``, the video timeline and the Space.

A model folder may carry a decision threshold (``config.json`` keys ``decision_threshold`` and
``positive_label``, written by ``kernel-laugh evaluate --target-recall/--target-precision``; transformers and
timm ignore them). ``decide`` applies it; the scores themselves are never changed."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from kernel_laugh.data import load_image_file
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.transforms import to_rgb


class Predictor:
    """``Predictor("runs/sample")`` or ``Predictor("user/model")`` → ``predictor(images)``."""

    def __init__(self, model: str | Path, device: str | int | None = None, precision: str = "auto"):
        """``precision``: "auto" (bf16 autocast where the hardware runs it natively: CPUs with AVX512-BF16/AMX,
        CUDA GPUs with bf16; fp32 elsewhere), "fp32" (bit-for-bit the plain pipeline) or "bf16"."""
        from transformers import pipeline

        ref = str(model)
        if Path(ref).exists() and not (Path(ref) / "config.json").is_file():
            raise KernelLaughError(f"{ref}: not a model folder (no config.json)")
        if not Path(ref).exists() and (ref.startswith((".", "/", "~")) or ref.count("/") != 1):
            raise KernelLaughError(f"{ref}: no such model folder (and not a Hub id like user/name)")
        try:
            self.pipe = pipeline("image-classification", model=ref, device=device)
        except OSError as err:  # offline / unknown Hub id / missing files
            raise KernelLaughError(f"could not load model {ref!r}: {str(err).splitlines()[0]}") from err
        self.label_names = [self.pipe.model.config.id2label[i] for i in range(self.pipe.model.config.num_labels)]
        self.pretrained_cfg = dict(self.pipe.image_processor.data_config)
        # The pipeline's own preprocessing (timm's eval transform for the folder's pretrained_cfg), applied by us
        # so that batches are stacked once and run under inference_mode / autocast in channels-last layout.
        self.transform = self.pipe.image_processor.val_transforms
        self.model = self.pipe.model.eval()
        self.device = self.pipe.device
        self.compute_dtype = _compute_dtype(precision, self.device)
        if self.compute_dtype == torch.bfloat16:
            # NHWC lets oneDNN / cuDNN pick their fast bf16 convolution kernels; the weights stay fp32.
            self.model = self.model.to(memory_format=torch.channels_last)
        # Unknown config.json keys become attributes of the transformers config, for folders and Hub ids alike.
        config = self.pipe.model.config
        self.threshold: float | None = getattr(config, "decision_threshold", None)
        self.positive_label: str | None = getattr(config, "positive_label", None)
        if self.threshold is not None and (len(self.label_names) != 2 or self.positive_label not in self.label_names):
            raise KernelLaughError(f"{ref}: config.json has decision_threshold {self.threshold}, which needs two labels "
                                   f"and positive_label among them; got {self.positive_label!r} and {self.label_names}")

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """Any PIL image → (3, H, W) float tensor, exactly as the pipeline prepares it."""
        return self.transform(to_rgb(image))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) → (B, K) class probabilities (fp32)."""
        x = pixel_values.to(self.device, memory_format=torch.channels_last if self.compute_dtype == torch.bfloat16
                            else torch.contiguous_format)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16,
                                                    enabled=self.compute_dtype == torch.bfloat16):
            logits = self.model(pixel_values=x).logits
        return logits.float().softmax(-1).cpu()

    def __call__(self, images: list[Image.Image], batch_size: int = 32) -> list[list[dict[str, Any]]]:
        """One list per image of ``{"label", "score"}`` for every class, best first."""
        rows: list[list[dict[str, Any]]] = []
        for start in range(0, len(images), batch_size):
            probs = self.forward(torch.stack([self.preprocess(im) for im in images[start:start + batch_size]]))
            for p in probs.tolist():  # (K,) per image
                ranked = sorted(zip(self.label_names, p), key=lambda lp: -lp[1])
                rows.append([{"label": label, "score": float(score)} for label, score in ranked])
        return rows

    def decide(self, predictions: list[dict[str, Any]]) -> str:
        """The label decided for one image's ``[{"label", "score"}, ...]``: the positive label when its score
        reaches the folder's threshold, the other label otherwise; the top-scoring label when there is none."""
        if self.threshold is None:
            return max(predictions, key=lambda p: p["score"])["label"]
        scores = {p["label"]: p["score"] for p in predictions}
        if self.positive_label not in scores:
            raise KernelLaughError(f"predictions lack the positive label {self.positive_label!r}: pass every class (top_k=all)")
        if scores[self.positive_label] >= self.threshold:
            return self.positive_label
        return next(label for label in self.label_names if label != self.positive_label)

    def predict_files(self, paths: list[str | Path], batch_size: int = 32) -> list[dict[str, Any]]:
        """Load every file first (so a bad file fails before any work), then classify them together. Each
        result holds every label's score and the ``decision`` (at the folder's threshold, if it has one)."""
        side = max(self.pretrained_cfg["input_size"][-2:])
        images = [load_image_file(p, min_side=side) for p in paths]
        return [{"image": str(p), "predictions": preds, "decision": self.decide(preds)}
                for p, preds in zip(paths, self(images, batch_size=batch_size))]

    def preprocess_file(self, path: str | Path) -> torch.Tensor:
        side = max(self.pretrained_cfg["input_size"][-2:])
        return self.preprocess(load_image_file(path, min_side=side))


@functools.cache
def _cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matmuls run natively (elsewhere bf16 is emulated and slower than fp32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def _compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    if precision not in ("auto", "fp32", "bf16"):
        raise KernelLaughError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision == "auto":
        native = torch.cuda.is_bf16_supported() if device.type == "cuda" else device.type == "cpu" and _cpu_has_bf16()
        return torch.bfloat16 if native else torch.float32
    return torch.bfloat16 if precision == "bf16" else torch.float32
