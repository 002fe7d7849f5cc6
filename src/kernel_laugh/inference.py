"""A ``Predictor``: one loaded model answering for images, through ``transformers.pipeline`` (the path users
of the Hub model take). Used by ``kernel-laugh predict``, the video timeline and the Space.

A model folder may carry a decision threshold (``config.json`` keys ``decision_threshold`` and
``positive_label``, written by ``kernel-laugh evaluate --target-recall/--target-precision``; transformers and
timm ignore them). ``decide`` applies it; the scores themselves are never changed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import pipeline

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.fastpath import inference_network
from kernel_laugh.hardware import available_cpus, native_bf16
from kernel_laugh.readers.images import read_image
from kernel_laugh.readers.models import resolve_model_ref
from kernel_laugh.transforms import normalize_batch, split_eval_transform, to_rgb


class Predictor:
    """``Predictor("runs/sample")`` or ``Predictor("user/model")`` → ``predictor(images)``.

    Loaded through ``pipeline`` (so it reads exactly what Hub users read), then run on a faster path with the
    same preprocessing and weights: batch norm folded into the convolutions, bf16 where the hardware runs it
    natively (in oneDNN's own layout on CPUs), ``inference_mode``, and images converted and normalised a batch
    at a time (see ``fastpath``). The model files are never changed."""

    def __init__(self, model: str | Path, device: str | int | None = None, precision: str = "auto"):
        """``precision``: "auto" (bf16 where the hardware runs it natively: CPUs with AVX512-BF16/AMX,
        CUDA GPUs with bf16; fp32 elsewhere), "fp32" (the pipeline's numbers to ~1e-6) or "bf16"."""
        ref = str(model)
        self.pipe = _load_pipeline(ref, device)
        config = self.pipe.model.config
        self.label_names = [config.id2label[i] for i in range(config.num_labels)]
        self.pretrained_cfg = dict(self.pipe.image_processor.data_config)
        # The pipeline's own preprocessing (timm's eval transform for the folder's pretrained_cfg): its PIL steps
        # run per image, its ToTensor + Normalize once per batch (same numbers, see normalize_batch).
        self.transform = self.pipe.image_processor.val_transforms
        split = split_eval_transform(self.transform)
        if split is None:
            raise KernelLaughError(f"{ref}: unexpected preprocessing {self.transform} (expected timm's eval transform)")
        self.geometry, self.mean, self.std = split
        self.device = self.pipe.device
        self.compute_dtype = _compute_dtype(precision, self.device)
        self.net = inference_network(self.pipe.model.timm_model, self.device, self.compute_dtype)
        # Unknown config.json keys become attributes of the transformers config, for folders and Hub ids alike.
        self.threshold: float | None = getattr(config, "decision_threshold", None)
        self.positive_label: str | None = getattr(config, "positive_label", None)
        if self.threshold is not None and (len(self.label_names) != 2 or self.positive_label not in self.label_names):
            raise KernelLaughError(f"{ref}: config.json has decision_threshold {self.threshold}, which needs two labels "
                                   f"and positive_label among them; got {self.positive_label!r} and {self.label_names}")

    def prepare(self, image: Image.Image) -> np.ndarray:
        """Any PIL image → (H, W, 3) uint8: the pipeline's resize and crop, before conversion to floats."""
        return np.asarray(self.geometry(to_rgb(image)))

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """Any PIL image → (3, H, W) float tensor, exactly as the pipeline prepares it."""
        return normalize_batch([self.prepare(image)], self.mean, self.std)[0]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) → (B, K) class probabilities (fp32)."""
        with torch.inference_mode():
            logits = self.net(pixel_values)
        return logits.softmax(-1).cpu()

    def predict_arrays(self, arrays: list[np.ndarray], batch_size: int = 32) -> torch.Tensor:
        """``prepare``d images → (N, K) probabilities, ``batch_size`` at a time."""
        out = [self.forward(normalize_batch(arrays[i:i + batch_size], self.mean, self.std))
               for i in range(0, len(arrays), batch_size)]
        return torch.cat(out) if out else torch.empty(0, len(self.label_names))

    def __call__(self, images: list[Image.Image], batch_size: int = 32) -> list[list[dict[str, Any]]]:
        """One list per image of ``{"label", "score"}`` for every class, best first."""
        return self._rank(self.predict_arrays([self.prepare(im) for im in images], batch_size))

    def _rank(self, probs: torch.Tensor) -> list[list[dict[str, Any]]]:
        rows = []
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
        """Read and resize every file first (so a bad file fails before any work, and only the small resized
        arrays are held), then classify them together. Each result holds every label's score and the
        ``decision`` (at the folder's threshold, if it has one)."""
        # Decoding releases the GIL: one thread per CPU decodes while the others do, before the model takes the
        # CPUs back. map() keeps the order and re-raises the first bad file's error.
        with ThreadPoolExecutor(max_workers=min(len(paths), available_cpus(), 8) or 1) as pool:
            arrays = list(pool.map(self.prepare_file, paths))
        return [{"image": str(p), "predictions": preds, "decision": self.decide(preds)}
                for p, preds in zip(paths, self._rank(self.predict_arrays(arrays, batch_size)))]

    def prepare_file(self, path: str | Path) -> np.ndarray:
        """An image file → (H, W, 3) uint8 model input; JPEGs are decoded at reduced size when that loses nothing
        the resize would keep."""
        side = max(self.pretrained_cfg["input_size"][-2:])
        return self.prepare(read_image(path, min_side=side))


def _load_pipeline(ref: str, device: str | int | None) -> Any:
    """``pipeline("image-classification")`` for a model folder or Hub id, with one-line errors."""
    model = resolve_model_ref(ref)  # a mistyped or damaged local folder: one line naming it, no Hub round trip
    try:
        return pipeline("image-classification", model=model, device=device)
    except OSError as err:  # offline / unknown Hub id / missing files
        local = Path(model).is_dir()
        raise KernelLaughError(f"{ref}: " + ("could not load this model folder" if local else
                               "no such model folder here, and loading it as a Hub id failed")
                               + f" ({str(err).splitlines()[0]})") from err


def _compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    if precision not in ("auto", "fp32", "bf16"):
        raise KernelLaughError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    return torch.bfloat16 if precision == "bf16" else torch.float32
