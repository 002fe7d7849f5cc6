"""A ``Predictor``: one loaded model answering for images, through ``transformers.pipeline`` (the path users
of the Hub model take). Used by ``kernel-laugh predict``, the video timeline and the Space."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from kernel_laugh.data import load_image_file
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.transforms import to_rgb


class Predictor:
    """``Predictor("runs/sample")`` or ``Predictor("user/model")`` → ``predictor(images)``."""

    def __init__(self, model: str | Path, device: str | int | None = None):
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

    def __call__(self, images: list[Image.Image], batch_size: int = 8) -> list[list[dict[str, Any]]]:
        """One list per image of ``{"label", "score"}`` for every class, best first."""
        rgb = [to_rgb(im) for im in images]
        out = self.pipe(rgb, top_k=len(self.label_names), batch_size=batch_size)
        return [[{"label": d["label"], "score": float(d["score"])} for d in row] for row in out]

    def predict_files(self, paths: list[str | Path]) -> list[dict[str, Any]]:
        """Load every file first (so a bad file fails before any work), then classify them together."""
        images = [load_image_file(p) for p in paths]
        return [{"image": str(p), "predictions": preds} for p, preds in zip(paths, self(images))]
