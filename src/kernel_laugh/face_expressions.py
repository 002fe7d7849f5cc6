"""Every face of an image with its expression: the results, a table of them, and the boxes drawn on the image.

A face-expression model (FER2013 emotions, smile vs neutral) classifies face crops. The Space's image tab, its
live tab and ``/classify`` find every face with ``kernel_laugh.faces`` and classify each crop in one batch;
this module turns those results into what a person reads: ``FaceExpression`` records, table rows, and a copy of
the image with one labelled box per face. Pure functions of images and numbers (no gradio, no model).
"""

from __future__ import annotations

import colorsys
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from kernel_laugh.faces import Box, FaceDetector, detect_and_crop
from kernel_laugh.transforms import to_rgb

logger = logging.getLogger(__name__)

# A classifier as the Space calls it: crops → one list of {"label", "score"} per crop (the Predictor's output).
ClassifyCrops = Callable[[list[Image.Image]], list[list[dict[str, Any]]]]


@dataclass(frozen=True)
class FaceExpression:
    """One detected face: its box ``(x, y, w, h)`` in pixels of the analysed image and the model's probability
    for every class (the model's label order)."""

    box: Box
    scores: dict[str, float]

    @property
    def label(self) -> str:
        """The most probable expression."""
        return max(self.scores, key=self.scores.__getitem__)

    @property
    def score(self) -> float:
        """The probability of ``label``."""
        return self.scores[self.label]

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: ``{"box": [x, y, w, h], "label", "score", "scores": {label: probability}}``."""
        return {"box": list(self.box), "label": self.label, "score": self.score, "scores": dict(self.scores)}


def read_expressions(image: Image.Image, detector: FaceDetector, classify: ClassifyCrops, labels: Sequence[str],
                     margin: float = 0.2) -> list[FaceExpression]:
    """Detect every face in ``image`` (left to right), classify all crops in one call, and return one
    ``FaceExpression`` per face (empty when no face is found). ``labels`` fixes the order of ``scores``."""
    found = detect_and_crop(image, detector, margin)
    if not found:
        return []
    preds = classify([crop for _, crop in found])
    out = []
    for (box, _), p in zip(found, preds, strict=True):
        by_label = {d["label"]: float(d["score"]) for d in p}
        out.append(FaceExpression(box=tuple(int(v) for v in box), scores={lab: by_label[lab] for lab in labels}))  # type: ignore[arg-type]
    return out


def main_face(faces: Sequence[FaceExpression]) -> FaceExpression | None:
    """The largest face (the subject of a portrait or a talking-head video), or None."""
    return max(faces, key=lambda f: f.area, default=None)


TABLE_COLUMNS = ["face", "x", "y", "width", "height", "expression", "score"]


def expression_rows(faces: Sequence[FaceExpression]) -> list[dict[str, Any]]:
    """One table row per face: number (as drawn on the image), box, top expression and its score, then every
    class's probability (rounded to 4 places)."""
    return [{"face": i, "x": f.box[0], "y": f.box[1], "width": f.box[2], "height": f.box[3],
             "expression": f.label, "score": round(f.score, 4), **{k: round(v, 4) for k, v in f.scores.items()}}
            for i, f in enumerate(faces, 1)]


def label_colour(label: str, labels: Sequence[str]) -> tuple[int, int, int]:
    """A distinct, saturated colour per class (hues spread evenly in the model's label order), the same one
    in boxes and charts."""
    i = list(labels).index(label) if label in labels else 0
    r, g, b = colorsys.hsv_to_rgb(i / max(1, len(labels)), 0.85, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 scales its bundled font
    except TypeError:  # an older Pillow: the fixed bitmap font
        logger.warning("this Pillow cannot scale its default font; face labels use the small bitmap font")
        return ImageFont.load_default()


def draw_expressions(image: Image.Image, faces: Sequence[FaceExpression], labels: Sequence[str]) -> Image.Image:
    """A copy of ``image`` (RGB) with a box around every face and ``"<n> <expression> <score>"`` above it (below
    when the box touches the top edge). Line width and text size follow the image size, so they stay readable
    on a 4K photo and a 320x240 webcam frame alike."""
    out = to_rgb(image).copy()
    draw = ImageDraw.Draw(out)
    side = min(out.size)
    width = max(2, side // 200)
    font = _font(max(12, side // 30))
    for i, face in enumerate(faces, 1):
        x, y, w, h = face.box
        colour = label_colour(face.label, labels)
        draw.rectangle((x, y, x + w - 1, y + h - 1), outline=colour, width=width)
        text = f"{i} {face.label} {face.score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left, bottom - top
        ty = y - th - 2 * width if y - th - 2 * width >= 0 else y + h
        draw.rectangle((x, ty, x + tw + 2 * width, ty + th + 2 * width), fill=colour)
        draw.text((x + width - left, ty + width - top), text, fill=(0, 0, 0), font=font)
    return out


@dataclass
class ExpressionReader:
    """A face-expression model's eyes: ``detector`` finds the faces, ``classify`` reads their crops (one call
    per image), ``labels`` is the model's class order. ``annotate`` is the live tab's per-frame work."""

    detector: FaceDetector
    classify: ClassifyCrops
    labels: Sequence[str]
    margin: float = 0.2

    def read(self, image: Image.Image) -> list[FaceExpression]:
        """Every face of ``image``, left to right (see ``read_expressions``)."""
        return read_expressions(image, self.detector, self.classify, self.labels, self.margin)

    def annotate(self, image: Image.Image) -> tuple[list[FaceExpression], Image.Image]:
        """Every face and a copy of ``image`` with their boxes drawn (see ``draw_expressions``)."""
        faces = self.read(image)
        return faces, draw_expressions(image, faces, self.labels)


def summary_text(faces: Sequence[FaceExpression]) -> str:
    """One line for the page: how many faces, and each one's top expression."""
    if not faces:
        return "No face found."
    parts = [f"{i}: **{f.label}** ({f.score:.2f})" for i, f in enumerate(faces, 1)]
    return f"{len(faces)} face(s), numbered left to right: " + " · ".join(parts)


__all__ = ["TABLE_COLUMNS", "ClassifyCrops", "ExpressionReader", "FaceExpression", "draw_expressions", "expression_rows", "label_colour",
           "main_face", "read_expressions", "summary_text"]
