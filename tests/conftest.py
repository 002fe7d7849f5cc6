"""Shared fixtures. Everything runs offline (HF_HUB_OFFLINE=1) on small synthetic images."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from kernel_laugh.config import CardConfig, DataConfig, ModelConfig, TrainConfig, PRESETS  # noqa: E402


def sample_configs(out: Path, **overrides) -> tuple[DataConfig, ModelConfig, TrainConfig, CardConfig]:
    """The `--preset sample` configuration, with overrides (e.g. fewer epochs for speed)."""
    values = {**PRESETS["sample"], "output_dir": str(out), **overrides}
    pick = lambda cls: cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})  # noqa: E731
    return pick(DataConfig), pick(ModelConfig), pick(TrainConfig), pick(CardConfig)


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory) -> Path:
    """A model trained by `kernel-laugh train --preset sample` exactly as the README says (the full preset:
    the suite checks its held-out ROC AUC), shared by every test that needs a trained model."""
    from kernel_laugh.cli import main

    out = tmp_path_factory.mktemp("runs") / "sample"
    assert main(["train", "--preset", "sample", "--output-dir", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """An untrained 2-class model folder (fast), for tests of loading and I/O rather than accuracy."""
    from kernel_laugh.modeling import build_model, save_model

    out = tmp_path_factory.mktemp("tiny")
    model = build_model(ModelConfig(pretrained=False, image_size=32, crop_pct=1.0), ["non-laughter", "laughter"])
    return save_model(model.eval(), out)


EMOTIONS = ["angry", "happy", "neutral", "sad"]


@pytest.fixture(scope="session")
def face_model_dir(tmp_path_factory) -> Path:
    """An untrained face-expression model folder (4 emotions, 32 px: fast), for the Space's face paths."""
    from kernel_laugh.modeling import build_model, save_model

    out = tmp_path_factory.mktemp("faces-model")
    model = build_model(ModelConfig(pretrained=False, image_size=32, crop_pct=1.0), EMOTIONS)
    return save_model(model.eval(), out)


@pytest.fixture(scope="session")
def two_face_photo():
    """A 640x480 picture of two real faces that OpenCV's Haar cascade finds: scikit-image's astronaut photo
    (Eileen Collins, NASA; public domain, shipped inside scikit-image) and its mirror image, side by side.
    The faces' boxes are about (93, 185, 83, 83) and (461, 185, 85, 85)."""
    data = pytest.importorskip("skimage.data", reason="the multi-face tests use scikit-image's photos (dev extra)")
    from PIL import Image, ImageOps

    face = Image.fromarray(data.astronaut()).crop((110, 10, 350, 250)).resize((200, 200))
    photo = Image.new("RGB", (640, 480), (128, 128, 128))
    photo.paste(face, (40, 140))
    photo.paste(ImageOps.mirror(face), (400, 140))
    return photo
