"""The saved folder loads in transformers (pipeline, Auto classes) and timm, offline, with the same logits."""

import json

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

from kernel_laugh.config import ModelConfig
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.modeling import build_model, load_model, save_model


def _image(seed=0, size=(50, 40)):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8))


def test_config_is_timm_hub_format_without_num_classes_in_model_args(tiny_model_dir):
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    assert cfg["architecture"] == "resnet18"
    assert cfg["num_classes"] == 2 and cfg["label_names"] == ["non-laughter", "laughter"]
    assert {"input_size", "interpolation", "crop_pct", "mean", "std"} <= set(cfg["pretrained_cfg"])
    assert "num_classes" not in cfg.get("model_args", {})  # the TimmWrapper double-num_classes trap
    assert (tiny_model_dir / "model.safetensors").is_file()
    assert not list(tiny_model_dir.glob("*.bin")) and not list(tiny_model_dir.glob("*.pth"))


def test_pipeline_auto_classes_and_timm_agree(tiny_model_dir):
    img = _image()
    pipe = pipeline("image-classification", model=str(tiny_model_dir))
    out = pipe(img)
    assert {d["label"] for d in out} == {"non-laughter", "laughter"}

    processor = AutoImageProcessor.from_pretrained(str(tiny_model_dir))
    auto = AutoModelForImageClassification.from_pretrained(str(tiny_model_dir)).eval()
    assert auto.config.id2label == {0: "non-laughter", 1: "laughter"}
    x = processor(img, return_tensors="pt")["pixel_values"]
    t = timm.create_model(f"local-dir:{tiny_model_dir}", pretrained=True).eval()
    ours = load_model(tiny_model_dir).eval()
    with torch.no_grad():
        ref = auto(x).logits
        assert torch.allclose(t(x), ref, atol=1e-5)
        assert torch.allclose(ours(x), ref, atol=1e-5)
        assert torch.allclose(pipe.model(x).logits, ref, atol=1e-5)


def test_any_timm_architecture_and_resave_keeps_labels(tmp_path):
    model = build_model(ModelConfig(architecture="mobilenetv3_small_050", pretrained=False, image_size=32), ["a", "b", "c"])
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m")
    save_model(again, tmp_path / "m2")
    assert json.loads((tmp_path / "m2" / "config.json").read_text())["label_names"] == ["a", "b", "c"]
    assert pipeline("image-classification", model=str(tmp_path / "m2"), top_k=3)(_image())[0]["label"] in {"a", "b", "c"}


def test_offline_pretrained_error_names_the_flag(monkeypatch):
    import kernel_laugh.modeling as modeling

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' (offline mode)")

    monkeypatch.setattr(modeling.timm, "create_model", offline)
    with pytest.raises(KernelLaughError, match="--no-pretrained"):
        build_model(ModelConfig(pretrained=True), ["a", "b"])


def test_unknown_architecture_and_missing_model(tmp_path):
    with pytest.raises(KernelLaughError, match="unknown timm architecture"):
        build_model(ModelConfig(architecture="resnet_does_not_exist", pretrained=False), ["a", "b"])
    with pytest.raises(KernelLaughError, match=r"not a model folder \(no config.json\)"):
        load_model(tmp_path)
