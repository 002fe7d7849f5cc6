"""Which part of a video frame a model looks at, from ``frames --region/--crop`` to the Space's video tab.

A podcast frame shows the person and the brain render side by side; a brain model was trained on crops of the
render alone, so a whole frame means nothing to it. The region travels with the data and the model:

- ``kernel-laugh frames --region brain`` (or ``--crop x,y,w,h``) records it in the frames folder
  (``frames_region.json``, ``record_region``);
- training on that folder copies it into the model's ``config.json`` (key ``video_region``, ``recorded_region``);
- the Space's video tab and its ``/timeline`` API default to it (``parse_region`` reads what a visitor types).

A region is written as text: a name of ``kernel_laugh.video.REGIONS`` (``brain``, ``person``: the original
project's crops, scaled to the frame), ``x,y,w,h`` in pixels of the displayed frame, or ``whole frame``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.readers.frames import Box

logger = logging.getLogger(__name__)

RECORD_NAME = "frames_region.json"  # in a frames folder: the regions its frames were cut from
CONFIG_KEY = "video_region"  # in a model's config.json: the region its training frames were cut from
WHOLE_FRAME = "whole frame"
_WHOLE = {"", "whole", WHOLE_FRAME, "full", "none"}


def region_text(crop: Box | str | None) -> str:
    """A crop as ``iter_frames`` takes it (None, a region name, a box) → its text form."""
    if crop is None:
        return WHOLE_FRAME
    if isinstance(crop, str):
        return crop
    return ",".join(str(int(v)) for v in crop)


def parse_region(text: str | None) -> Box | str | None:
    """Text → a crop for ``kernel_laugh.video.iter_frames``: None (the whole frame), a region name (checked
    against the frame when it is used), or a box. Raises ``KernelLaughError`` for a malformed box."""
    value = (text or "").strip()
    if value.lower() in _WHOLE:
        return None
    if "," not in value:
        return value
    try:
        x, y, w, h = (round(float(v)) for v in value.split(","))
    except ValueError:
        raise KernelLaughError(f"region {value!r}: expected a region name or four numbers x,y,w,h (pixels)") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise KernelLaughError(f"region {value!r}: x and y must be at least 0 and the width and height positive")
    return x, y, w, h


def record_region(folder: str | Path, crop: Box | str | None) -> None:
    """Add the region of frames just exported into ``folder`` to its ``frames_region.json``."""
    path = Path(folder) / RECORD_NAME
    regions = _read_record(path)
    text = region_text(crop)
    if text not in regions:
        if regions:
            logger.warning("%s: frames cut from different regions (%s and %s): a model trained on it records none",
                           folder, ", ".join(regions), text)
        path.write_text(json.dumps({"regions": [*regions, text]}, indent=2) + "\n", encoding="utf-8")


def recorded_region(dataset: str | Path | None) -> str | None:
    """The one region the frames of the folder ``dataset`` were cut from, or None (not a frames folder, whole
    frames, or several regions)."""
    if not dataset or not Path(dataset).is_dir():
        return None
    regions = _read_record(Path(dataset) / RECORD_NAME)
    return regions[0] if len(regions) == 1 and regions[0] != WHOLE_FRAME else None


def _read_record(path: Path) -> list[str]:
    if not path.is_file():
        return []
    try:
        regions = json.loads(path.read_text(encoding="utf-8")).get("regions", [])
    except (ValueError, AttributeError) as err:
        raise KernelLaughError(f"{path}: not a frames region record ({err}); delete it or export the frames again") from None
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        raise KernelLaughError(f"{path}: 'regions' should be a list of texts; delete it or export the frames again")
    return regions


__all__ = ["CONFIG_KEY", "RECORD_NAME", "WHOLE_FRAME", "parse_region", "record_region", "recorded_region",
           "region_text"]
