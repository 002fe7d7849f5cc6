"""Face detection and cropping for the face-expression tasks (FER2013 emotions, smile vs neutral).

Any object with ``detect(image) -> [(x, y, w, h), ...]`` is a ``FaceDetector``; the default is OpenCV's Haar
cascade (the first emotion project used it). The cascade XML files ship inside ``opencv-python-headless`` 4.x
(``cv2.data.haarcascades``), so nothing is downloaded; the 5.0 wheels dropped them, hence the ``<5`` pin in the
``faces`` extra. ``crop_faces`` cuts faces out with a margin, as RGB (greyscale inputs become 3 channels, the
backbone's input); ``largest_face`` keeps the one face a single-subject photo is about.

Used by the Space (one result per face, drawn as boxes) and ``predict --faces``. FER2013 and UTKFace images are
already face crops, so training on them needs no detector.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.transforms import to_rgb

Box = tuple[int, int, int, int]  # x, y, w, h in pixels of the image given to detect()

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces: boxes ``(x, y, w, h)`` in the image's pixels, in any order."""

    def detect(self, image: Image.Image) -> list[Box]: ...


def _cascade_path(name: str) -> str:
    try:
        import cv2  # optional extra: `faces` (opencv-python-headless)
    except ImportError:
        raise KernelLaughError("face detection needs OpenCV: pip install 'kernel-laugh[faces]' "
                               "(opencv-python-headless>=4.8,<5)") from None
    if Path(name).is_file():
        return name
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    path = Path(folder) / name
    if not path.is_file():
        shipped = sorted(p.name for p in Path(folder).glob("haarcascade_*.xml")) if folder else []
        hint = (f"this OpenCV has {', '.join(shipped[:4])}..." if shipped else
                "opencv-python-headless 5.x no longer ships the cascade files; install 'opencv-python-headless<5'")
        raise KernelLaughError(f"Haar cascade {name!r} not found in {folder or 'cv2.data'} (OpenCV {cv2.__version__}): {hint}")
    return str(path)


class HaarFaceDetector:
    """OpenCV's Viola-Jones frontal-face cascade: fast on a CPU, frontal faces only.

    Large images are shrunk so their longer side is at most ``max_side`` before detection (the cascade's cost
    grows with the pixel count; faces in a frame are rarely tiny) and the boxes scaled back. ``min_size`` is
    the smallest face side in pixels of that shrunk image. Safe to share between threads (the Space does).
    """

    def __init__(self, cascade: str = DEFAULT_CASCADE, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_size: int = 24, max_side: int = 800):
        path = _cascade_path(cascade)  # first: a missing OpenCV or cascade gets a one-line error
        import cv2  # optional extra: `faces` (opencv-python-headless)

        self._cv2 = cv2
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise KernelLaughError(f"{cascade}: OpenCV could not load this cascade file")
        self.scale_factor, self.min_neighbors, self.min_size, self.max_side = scale_factor, min_neighbors, min_size, max_side
        self._lock = threading.Lock()  # one CascadeClassifier is not safe to call from several threads at once

    def detect(self, image: Image.Image) -> list[Box]:
        return [box for box, _ in self.detect_scored(image)]

    def detect_scored(self, image: Image.Image) -> list[tuple[Box, float]]:
        """``(box, confidence)`` per face: the confidence is the cascade's final-stage weight (OpenCV's
        ``detectMultiScale3`` level weight; larger = more face-like, typically 0-10; no fixed scale)."""
        grey = np.asarray(to_rgb(image).convert("L"))  # (H, W) uint8: the cascade works on intensity
        scale = min(1.0, self.max_side / max(grey.shape))
        # No face of min_size fits when the shrunk short side is smaller (a 20000x8 strip shrinks to 800x0, which
        # OpenCV's resize refuses with an assertion): there is no face to find.
        if min(grey.shape) * scale < self.min_size:
            return []
        if scale < 1.0:
            grey = self._cv2.resize(grey, (round(grey.shape[1] * scale), round(grey.shape[0] * scale)),
                                    interpolation=self._cv2.INTER_AREA)
        grey = self._cv2.equalizeHist(grey)  # the cascade's features are contrasts; equalising steadies them across lighting
        with self._lock:
            found, _, weights = self._cascade.detectMultiScale3(
                grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                minSize=(self.min_size, self.min_size), outputRejectLevels=True)
        boxes = np.asarray(found).reshape(-1, 4)
        scores = np.asarray(weights, dtype=np.float64).reshape(-1)
        return [(tuple(int(round(v / scale)) for v in box), float(s))  # type: ignore[misc]
                for box, s in zip(boxes, scores)]


@functools.cache
def default_detector() -> HaarFaceDetector:
    """A shared ``HaarFaceDetector`` (loading the cascade takes a moment; ``detect`` is thread-safe)."""
    return HaarFaceDetector()


def expand_box(box: Box, size: tuple[int, int], margin: float = 0.2) -> Box:
    """Grow ``box`` by ``margin`` of its width/height on every side (hair, chin and ears help expression
    models), clipped to the image ``size`` (width, height)."""
    x, y, w, h = box
    W, H = size
    dx, dy = round(w * margin), round(h * margin)
    x0, y0, x1, y1 = max(0, x - dx), max(0, y - dy), min(W, x + w + dx), min(H, y + h + dy)
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def crop_faces(image: Image.Image, boxes: list[Box], margin: float = 0.2) -> list[Image.Image]:
    """One RGB crop per box, each grown by ``margin`` (see ``expand_box``); greyscale images give 3-channel crops."""
    rgb = to_rgb(image)
    crops = []
    for box in boxes:
        x, y, w, h = expand_box(box, rgb.size, margin)
        crops.append(rgb.crop((x, y, x + w, y + h)))
    return crops


def largest_box(boxes: list[Box]) -> Box | None:
    """The box with the largest area (the subject of a portrait), or None."""
    return max(boxes, key=lambda b: b[2] * b[3], default=None)


def largest_face(image: Image.Image, detector: FaceDetector | None = None, margin: float = 0.2) -> Image.Image | None:
    """The crop of the largest detected face, or None when no face is found."""
    box = largest_box((detector or default_detector()).detect(image))
    return None if box is None else crop_faces(image, [box], margin)[0]


def detect_and_crop(image: Image.Image, detector: FaceDetector | None = None, margin: float = 0.2,
                    largest_only: bool = False) -> list[tuple[Box, Image.Image]]:
    """``(box, crop)`` for every detected face (or only the largest), left to right."""
    boxes = sorted((detector or default_detector()).detect(image), key=lambda b: (b[0], b[1]))
    if largest_only and boxes:
        boxes = [largest_box(boxes)]  # type: ignore[list-item]
    return list(zip(boxes, crop_faces(image, boxes, margin)))


def predict_faces(predictor: Any, image: Image.Image, detector: FaceDetector | None = None, margin: float = 0.2,
                  largest_only: bool = False) -> list[dict[str, Any]]:
    """Classify every face in ``image``: ``[{"box": [x, y, w, h], "predictions": [{"label", "score"}, ...]}]``
    (left to right; empty when no face is found). ``predictor`` is a ``kernel_laugh.inference.Predictor``."""
    found = detect_and_crop(image, detector, margin, largest_only)
    if not found:
        return []
    preds = predictor([crop for _, crop in found])
    return [{"box": list(box), "predictions": p} for (box, _), p in zip(found, preds)]


__all__ = ["Box", "FaceDetector", "HaarFaceDetector", "crop_faces", "default_detector", "detect_and_crop",
           "expand_box", "largest_box", "largest_face", "predict_faces"]
