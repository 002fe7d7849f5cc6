"""Face detection (OpenCV's Haar cascade on drawn faces) and cropping with margins."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.faces import (FaceDetector, HaarFaceDetector, crop_faces, default_detector, detect_and_crop,
                                expand_box, largest_box, largest_face)

FACES = [(80, 100, 90), (230, 100, 110)]  # centre x, centre y, face width of the two drawn faces


def _draw_face(d: ImageDraw.ImageDraw, cx: float, cy: float, s: float) -> None:
    """A cartoon frontal face: what the cascade keys on is dark eyes and brows over lighter cheeks."""
    d.ellipse([cx - s * 0.5, cy - s * 0.65, cx + s * 0.5, cy + s * 0.65], fill=(200, 170, 150))
    for ex in (-0.2, 0.2):
        d.ellipse([cx + ex * s - s * 0.11, cy - s * 0.25, cx + ex * s + s * 0.11, cy - s * 0.15], fill=(40, 30, 30))
        d.rectangle([cx + ex * s - s * 0.14, cy - s * 0.33, cx + ex * s + s * 0.14, cy - s * 0.29], fill=(70, 50, 40))
    d.polygon([(cx, cy - s * 0.1), (cx - s * 0.07, cy + s * 0.12), (cx + s * 0.07, cy + s * 0.12)], fill=(170, 140, 120))
    d.ellipse([cx - s * 0.18, cy + s * 0.26, cx + s * 0.18, cy + s * 0.34], fill=(120, 60, 60))
    d.chord([cx - s * 0.52, cy - s * 0.7, cx + s * 0.52, cy - s * 0.1], 180, 360, fill=(50, 35, 25))


@pytest.fixture(scope="module")
def two_faces() -> Image.Image:
    img = Image.new("RGB", (320, 200), (90, 110, 130))
    d = ImageDraw.Draw(img)
    for cx, cy, s in FACES:
        _draw_face(d, cx, cy, s)
    return img.filter(ImageFilter.GaussianBlur(1.5))


def test_haar_cascade_finds_both_drawn_faces(two_faces):
    boxes = sorted(default_detector().detect(two_faces))
    assert len(boxes) == 2, boxes
    for (x, y, w, h), (cx, cy, s) in zip(boxes, FACES):
        assert x < cx < x + w and y < cy < y + h  # the box holds the face's centre
        assert 0.8 * s < w < 1.8 * s  # and is about the face's size
    assert default_detector().detect(Image.new("L", (200, 160), 128)) == []
    big = two_faces.resize((1280, 800))  # shrunk for detection, boxes scaled back to the big image
    assert sorted(b[0] // 4 for b in HaarFaceDetector(max_side=320).detect(big)) == pytest.approx([b[0] for b in boxes], abs=6)


def test_crops_with_margin_clip_and_rgb():
    grey = Image.fromarray(np.arange(100 * 80, dtype=np.uint32).reshape(80, 100).astype(np.uint8), mode="L")
    assert expand_box((40, 30, 20, 10), (100, 80), margin=0.5) == (30, 25, 40, 20)
    assert expand_box((0, 0, 20, 20), (100, 80), margin=0.5) == (0, 0, 30, 30)  # clipped at the border
    crops = crop_faces(grey, [(40, 30, 20, 10), (90, 70, 10, 10)], margin=0.5)
    assert [c.size for c in crops] == [(40, 20), (15, 15)] and all(c.mode == "RGB" for c in crops)
    assert np.asarray(crops[0])[0, 0].tolist() == [np.asarray(grey)[25, 30]] * 3  # greyscale became 3 channels
    assert crop_faces(grey, [(40, 30, 20, 10)], margin=0)[0].size == (20, 10)
    assert largest_box([(0, 0, 5, 5), (10, 10, 8, 9), (3, 3, 9, 7)]) == (10, 10, 8, 9) and largest_box([]) is None


def test_any_detector_fits_the_interface(two_faces):
    class Fixed:
        def detect(self, image):
            return [(200, 50, 60, 60), (10, 20, 30, 30)]

    assert isinstance(Fixed(), FaceDetector) and isinstance(default_detector(), FaceDetector)
    found = detect_and_crop(two_faces, Fixed(), margin=0.0)
    assert [box for box, _ in found] == [(10, 20, 30, 30), (200, 50, 60, 60)]  # left to right
    assert [box for box, _ in detect_and_crop(two_faces, Fixed(), largest_only=True)] == [(200, 50, 60, 60)]
    assert largest_face(two_faces, Fixed(), margin=0.0).size == (60, 60)
    assert largest_face(Image.new("RGB", (50, 50)), type("NoFace", (), {"detect": lambda self, im: []})()) is None


def test_missing_cascade_says_what_to_install(monkeypatch, tmp_path):
    import cv2

    with pytest.raises(KernelLaughError, match="no_such_cascade.xml.*haarcascade_"):
        HaarFaceDetector(cascade="no_such_cascade.xml")
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path))  # an OpenCV 5.x wheel: no cascade files
    with pytest.raises(KernelLaughError, match="opencv-python-headless<5"):
        HaarFaceDetector()


def test_predict_faces_gives_one_result_per_face(tiny_model_dir, two_faces, tmp_path):
    png = tmp_path / "two.png"
    two_faces.save(png)
    out = subprocess.run([sys.executable, "-m", "kernel_laugh.cli", "predict", str(tiny_model_dir), str(png), "--faces",
                          "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)[0]
    assert result["image"] == str(png) and len(result["faces"]) == 2
    assert result["faces"][0]["box"][0] < result["faces"][1]["box"][0]
    assert {p["label"] for p in result["faces"][0]["predictions"]} == {"non-laughter", "laughter"}
