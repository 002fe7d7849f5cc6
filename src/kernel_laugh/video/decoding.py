"""Decoding: a recording sampled at F frames per second, as displayed, optionally cropped to a region.

- ``iter_frames`` / ``probe``: frames as displayed (display rotation applied), read by the package's one frame
  reader, ``kernel_laugh.readers.frames`` (PyAV, seeking when a keyframe is expected before the next sample).
- ``REGIONS`` / ``region_box`` / ``parse_crop``: the named crops of the podcast frames (brain render, person) and
  typed ``x,y,w,h`` boxes.

Times are seconds from the start of the video stream. Crops are ``(x, y, w, h)`` in pixels of the displayed frame.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from kernel_laugh.config import REGIONS
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.readers import frames
from kernel_laugh.readers.frames import (  # re-exported (__all__): the one frame reader
    Box,
    VideoInfo,
    probe,
)

logger = logging.getLogger(__name__)

# Named crops in the original project's 3840x2160 frames (rows 600:1400, columns 1900:2950 for the brain render;
# columns 500:1800 at full height for the person), scaled to the actual frame size.
REFERENCE_SIZE = (3840, 2160)


def region_box(name: str, width: int, height: int) -> Box:
    """A named region (``brain``, ``person``) scaled from the original 3840x2160 frames to ``width`` x ``height``."""
    if name not in REGIONS:
        raise KernelLaughError(f"unknown region {name!r}; choose one of {sorted(REGIONS)}")
    sx, sy = width / REFERENCE_SIZE[0], height / REFERENCE_SIZE[1]
    x, y, w, h = REGIONS[name]
    return round(x * sx), round(y * sy), max(1, round(w * sx)), max(1, round(h * sy))


def parse_crop(text: str) -> Box:
    """``"x,y,w,h"`` → a box (for the command line)."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise KernelLaughError(f"--crop {text!r}: expected four integers x,y,w,h (pixels)") from None
    return x, y, w, h


def iter_frames(path: str | Path, fps: float, crop: Box | str | None = None, *, progress: bool = False,
                ) -> Iterator[tuple[float, Image.Image]]:
    """``(time_s, RGB image)`` every ``1 / fps`` seconds, as displayed (see ``kernel_laugh.readers.frames``).
    ``crop`` is ``(x, y, w, h)`` in the displayed frame or a region name (see ``REGIONS``), scaled to its size."""
    box = (lambda w, h: region_box(crop, w, h)) if isinstance(crop, str) else crop
    return frames.iter_frames(path, fps, box, progress=progress)


__all__ = ["REFERENCE_SIZE", "REGIONS", "Box", "VideoInfo", "iter_frames", "parse_crop", "probe", "region_box"]
