"""Grad-CAM: hooks are removed, maps line up with the image, and a trained model looks at the evidence."""

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from kernel_laugh.cli import main
from kernel_laugh.explain import GradCAM, _crop_box, default_layer, gradcam_overlay, mean_gradcam, upsample
from kernel_laugh.modeling import load_model
from kernel_laugh.transforms import eval_transform


def _noise_image(width=50, height=40, seed=0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8))


def test_overlay_shapes_and_no_hooks_left(tiny_model_dir):
    model = load_model(tiny_model_dir)
    layer = default_layer(model)
    assert layer is model.layer4
    for i in range(3):  # repeated calls, as in a long-running Space
        picture, heat = gradcam_overlay(model, _noise_image(seed=i), model.pretrained_cfg, target=i % 2)
        assert picture.mode == "RGB" and picture.size == (50, 40)
        assert heat.shape == (40, 50) and heat.min() >= 0 and heat.max() <= 1
    assert not layer._forward_hooks and not layer._backward_hooks
    assert all(p.grad is None for p in model.parameters())  # autograd.grad: nothing accumulates on the weights


def test_hook_removed_even_when_the_forward_fails(tiny_model_dir):
    model = load_model(tiny_model_dir)
    with pytest.raises(RuntimeError):
        with GradCAM(model) as cam:
            cam(torch.zeros(1, 5, 32, 32))  # wrong channel count
    assert not model.layer4._forward_hooks
    with pytest.raises(RuntimeError, match="with"):
        GradCAM(model)(torch.zeros(1, 3, 32, 32))


def test_works_on_the_transformers_pipeline_model(tiny_model_dir):
    from transformers import pipeline

    pipe = pipeline("image-classification", model=str(tiny_model_dir))
    picture, heat = gradcam_overlay(pipe.model, _noise_image(), dict(pipe.image_processor.data_config))
    assert picture.size == (50, 40) and heat.shape == (40, 50)
    assert not pipe.model.timm_model.layer4._forward_hooks


def test_upsample_puts_each_cell_on_the_pixel_it_is_centred_on():
    cam = torch.zeros(1, 1, 4, 4)
    cam[0, 0, 1, 2] = 1.0  # stride 16 on a 64 px input: centred on pixel (y=16, x=32)
    big = upsample(cam, (64, 64))[0, 0]
    assert np.unravel_index(int(big.argmax()), (64, 64)) == (16, 32)
    assert upsample(torch.full((1, 1, 1, 1), 0.5), (8, 8)).unique().tolist() == [0.5]


def test_heat_map_is_placed_on_the_cropped_region():
    squash = {"input_size": (3, 32, 32), "crop_pct": 1.0, "crop_mode": "squash", "mean": (0.5,) * 3, "std": (0.5,) * 3}
    assert _crop_box((100, 60), squash) == (0, 0, 100, 60)  # the whole frame, resized
    centre = dict(squash, crop_pct=0.5, crop_mode="center")
    # Short side 60 → 64, centre 32x32 kept: 30x30 of the original, in the middle.
    assert _crop_box((100, 60), centre) == (35, 15, 65, 45)


def test_mean_gradcam_is_an_image_at_input_size(tiny_model_dir):
    model = load_model(tiny_model_dir)
    picture = mean_gradcam(model, [_noise_image(seed=i) for i in range(5)], model.pretrained_cfg, target=1, batch_size=2)
    assert picture.size == (32, 32) and np.asarray(picture).std() > 0
    assert not model.layer4._forward_hooks


def test_explain_cli_writes_png_and_rejects_unknown_target(tiny_model_dir, tmp_path, capsys):
    src = tmp_path / "frame.png"
    _noise_image().save(src)
    out = tmp_path / "out" / "cam.png"
    assert main(["explain", str(tiny_model_dir), str(src), "--target", "laughter", "--output", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (50, 40) and np.asarray(im).std() > 0
    assert main(["explain", str(tiny_model_dir), str(src), "--target", "giggle", "--output", str(out)]) == 1
    assert "giggle" in capsys.readouterr().err
    assert main(["explain", str(tmp_path / "nope"), str(src), "--output", str(out)]) == 1


# ---- a model trained on images whose label is decided by one blob ---------------------------------------------

BLOB_W, BLOB_H, BLOB_R = 80, 60, 14
BLOB_CFG = {"input_size": (3, 64, 64), "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "squash",
            "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}


def _blob_image(rng: np.random.Generator, label: int) -> tuple[Image.Image, np.ndarray]:
    """Noise with a blue blob in both classes; 'positive' images also hold a yellow blob somewhere else. Only the
    yellow blob decides the label, so Grad-CAM of 'positive' should peak on it. Returns (image, yellow centre)."""
    img = rng.normal(60, 20, (BLOB_H, BLOB_W, 3))
    yy, xx = np.mgrid[0:BLOB_H, 0:BLOB_W]
    low, high = [BLOB_R + 2] * 2, [BLOB_W - BLOB_R - 2, BLOB_H - BLOB_R - 2]
    while True:
        yellow, blue = rng.uniform(low, high), rng.uniform(low, high)
        if np.hypot(*(yellow - blue)) > 2 * BLOB_R + 3:
            break
    img[np.hypot(xx - blue[0], yy - blue[1]) < BLOB_R] = (40, 90, 230)
    if label:
        img[np.hypot(xx - yellow[0], yy - yellow[1]) < BLOB_R] = (230, 200, 40)
    return Image.fromarray(img.clip(0, 255).astype(np.uint8)), yellow


@pytest.fixture(scope="module")
def blob_model() -> torch.nn.Module:
    """A narrow timm ResNet-18 (a quarter of the channels; last stage at stride 8, so a 64 px input gives an 8x8
    map), trained for a few seconds on blob images."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = timm.create_model("resnet18", num_classes=2, output_stride=8, channels=(16, 32, 64, 128), stem_width=16)
    transform = eval_transform(BLOB_CFG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ops this small run ~10x faster on one thread than on two busy cores
    try:
        model.train()
        for _ in range(60):
            labels = rng.integers(0, 2, 16)
            x = torch.stack([transform(_blob_image(rng, int(y))[0]) for y in labels])
            loss = torch.nn.functional.cross_entropy(model(x), torch.as_tensor(labels))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    assert loss.item() < 0.3, f"the blob model did not learn (loss {loss.item():.3f})"
    return model.eval()


def test_heat_map_peak_falls_inside_the_deciding_blob(blob_model):
    rng = np.random.default_rng(123)
    yy, xx = np.mgrid[0:BLOB_H, 0:BLOB_W]
    hits, contrasts = 0, []
    for _ in range(10):
        image, (cx, cy) = _blob_image(rng, 1)
        _, heat = gradcam_overlay(blob_model, image, BLOB_CFG, target=1)
        peak_y, peak_x = np.unravel_index(heat.argmax(), heat.shape)
        hits += np.hypot(peak_x - cx, peak_y - cy) < BLOB_R
        inside = np.hypot(xx - cx, yy - cy) < BLOB_R
        contrasts.append(heat[inside].mean() - heat[~inside].mean())
    assert hits >= 8, f"peak inside the blob in only {hits}/10 images"
    assert min(contrasts) > 0.3, f"a heat map is barely hotter on the blob than off it ({min(contrasts):.2f})"
