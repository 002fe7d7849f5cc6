"""Uploads to the Space and ``kernel-laugh demo``: from what a visitor sends to a checked file path or image.

Every image is read by the package's one image reader (``kernel_laugh.readers.images``: EXIF orientation,
every mode, HEIF/AVIF), as predict and training read files. What this module adds is what only a public page
needs: friendly messages for a missing or empty upload, a pixel limit checked from the header, pasted images
that arrive as data URLs, and one scratch folder per request. No gradio import: the payloads are plain dicts.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from pathlib import Path
from typing import Any

from PIL import Image

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.readers.images import read_image

logger = logging.getLogger(__name__)

# Limits that keep one visitor from stalling the Space for everyone else.
MAX_PIXELS = 50_000_000  # an 8K frame is 33 MP; PIL itself only warns at 89 MP and refuses at 179 MP
MAX_UPLOAD = "200mb"  # per file, enforced by gradio before anything reaches this code (videos are the big ones)


def load_upload(path: str | Path | None, what: str = "image") -> Image.Image:
    """Open an uploaded file as an RGB image, or raise a ``KernelLaughError`` a visitor can act on.

    Read by ``kernel_laugh.readers.images`` like every other path (EXIF orientation, every mode, HEIF/AVIF). The
    pixel count is checked from the header, before anything is decoded, so a decompression bomb (a small file
    that expands to gigabytes) is refused without using the memory.
    """
    if path is None or str(path) == "":
        raise KernelLaughError(f"No {what} yet: upload one, paste one, or take a photo first.")
    p = Path(path)
    name = p.name
    if not p.is_file():
        raise KernelLaughError(f"{name}: the upload did not arrive; please try again.")
    if p.stat().st_size == 0:
        raise KernelLaughError(f"{name}: the file is empty (0 bytes).")
    # The package's one image reader, as predict and training read files: same orientation, modes and formats.
    return read_image(p, max_pixels=MAX_PIXELS, name=name)


def new_request_dir(workdir: Path) -> Path:
    """A fresh ``req-*`` folder under ``workdir`` (``DemoApp`` removes them after an hour)."""
    out = workdir / f"req-{uuid.uuid4().hex[:12]}"
    out.mkdir(parents=True)
    return out


def upload_path(payload: Any, workdir: Path) -> str | None:
    """The file path in an image event's raw payload (the events run with ``preprocess=False``).

    ``gr.Image``'s own preprocessing opens every upload with PIL: a non-image or a decompression bomb then fails
    with PIL's raw message, and inside a batched event it would fail the whole batch. With ``preprocess=False``
    gradio still moves the upload into its cache and checks where it came from, then hands over the
    ``FileData`` dict; ``load_upload`` gives each visitor a friendly error. A base64 data URL (pasted image)
    is written to ``workdir`` first.
    """
    if payload is None or isinstance(payload, str):
        return payload or None
    path, url = payload.get("path"), str(payload.get("url") or "")
    if not path and url.startswith("data:"):
        try:
            data = base64.b64decode(url.split(",", 1)[1], validate=False)
        except (IndexError, binascii.Error):
            raise KernelLaughError("the pasted data is not an image") from None
        out = new_request_dir(workdir) / "pasted-image"
        out.write_bytes(data)
        return str(out)
    return str(path) if path else None


__all__ = ["MAX_PIXELS", "MAX_UPLOAD", "load_upload", "new_request_dir", "upload_path"]
