import numpy as np
from PIL import Image

from kernel_laugh.transforms import eval_transform, to_rgb, train_transform


def test_every_mode_becomes_8bit_rgb():
    grey16 = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    assert grey16.mode.startswith("I;16")
    assert np.asarray(to_rgb(grey16)).min() == 255  # rescaled, not clipped to 255 by accident of convert()
    half16 = Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16))
    assert abs(int(np.asarray(to_rgb(half16))[0, 0, 0]) - 128) <= 1
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red → background
    assert np.asarray(to_rgb(rgba)).max() == 0
    for im in (Image.new("L", (4, 4), 7), Image.new("P", (4, 4)), Image.new("CMYK", (4, 4)), Image.new("1", (4, 4))):
        out = to_rgb(im)
        assert out.mode == "RGB" and out.size == (4, 4)


def test_train_and_eval_transforms_give_model_sized_tensors():
    pcfg = {"input_size": (3, 32, 32), "interpolation": "bicubic", "crop_pct": 1.0, "crop_mode": "squash",
            "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
    img = Image.new("RGB", (80, 60), (10, 200, 30))
    assert eval_transform(pcfg)(img).shape == (3, 32, 32)
    assert train_transform(pcfg)(img).shape == (3, 32, 32)
