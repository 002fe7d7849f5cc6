"""Reading images: the one place a file (or the bytes of one) becomes an RGB picture, as a viewer displays it.

- **Orientation**: the EXIF Orientation tag (1-8, mirrored ones included) is applied, so a phone photo stored
  sideways comes out upright (``PIL.ImageOps.exif_transpose``).
- **Modes**: every mode becomes 8-bit RGB as displayed (``to_rgb``): 16-bit grey and RGB rescaled, not clipped
  to white; CMYK, palette (with transparency), LA and RGBA converted; alpha composited on black (the renders'
  background). Animated GIF / WebP: the first frame.
- **Size**: Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``; ``DecompressionBombError`` is not
  an ``OSError``) and an optional lower ``max_pixels`` become one-line ``KernelLaughError``s naming the file.
- **Formats**: ``IMAGE_EXTENSIONS``, the one definition of "an image kernel-laugh can read", used by every path
  (folder walks, the Space's messages): Pillow's own formats, AVIF (native in Pillow >= 11.3) and HEIF/HEIC
  (the ``pillow-heif`` plugin, registered here on first use).

Kept light (Pillow and numpy only), so prediction does not import ``datasets`` or ``timm`` to open a file.
"""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError, features

from kernel_laugh.errors import KernelLaughError

logger = logging.getLogger(__name__)

# Lower-case file suffixes of images every path reads. HEIF needs pillow-heif (a dependency); AVIF needs a Pillow
# built with libavif (the PyPI wheels from 11.3 on).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".webp", ".tif", ".tiff",
    ".avif", ".heic", ".heif",
})

@functools.cache  # once per process: registering twice would only repeat the warnings
def register_formats() -> None:
    """Make Pillow open HEIF/HEIC (pillow-heif) and check AVIF; idempotent. Called before every decode."""
    try:
        from pillow_heif import register_heif_opener  # optional extra: a stripped environment still reads the rest
    except ImportError:  # the dependency is declared; a stripped environment still reads the other formats
        logger.warning("pillow-heif is not installed: HEIF/HEIC images cannot be read (pip install pillow-heif)")
    else:
        register_heif_opener()
    if not features.check("avif"):
        try:  # an older Pillow: the pillow-avif-plugin package, if installed, registers itself on import
            import pillow_avif  # noqa: F401  # optional extra: older Pillow only
        except ImportError:
            logger.warning("this Pillow has no AVIF support: .avif images cannot be read (Pillow >= 11.3 wheels have it)")


def is_image_file(path: str | Path) -> bool:
    """Whether ``path``'s suffix (any case) is one of ``IMAGE_EXTENSIONS``."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | Path, *, min_side: int | None = None, max_pixels: int | None = None,
               name: str | None = None) -> Image.Image:
    """Open and fully decode an image file as displayed: upright (EXIF), 8-bit RGB, first frame.

    ``min_side``: let JPEG decoding skip detail (DCT scaling by 1/2, 1/4, 1/8) while both sides stay at least
    twice this size, so a 4K frame bound for a 224 px model is not decoded at full size.
    ``max_pixels``: refuse larger images (width x height, read from the header before decoding).
    ``name``: how the file is named in errors (default: the path).

    Raises ``KernelLaughError`` (one line naming the file) for a missing file, a folder, an unknown format,
    a corrupt or truncated file, or an image above the pixel limit."""
    p = Path(path)
    shown = name or str(p)
    if not p.exists():
        raise KernelLaughError(f"{shown}: no such file")
    if p.is_dir():
        raise KernelLaughError(f"{shown}: is a folder, not an image")
    return _decode(p, shown, min_side, max_pixels)


def decode_image(value: Any, *, name: str | None = None) -> Image.Image:
    """An image as ``datasets`` stores it (``{"path", "bytes"}``, raw bytes, a path or a PIL image) → the same
    RGB picture ``read_image`` gives for that file. Training and evaluation decode their rows with this."""
    if isinstance(value, Image.Image):
        return to_displayed_rgb(value)
    if isinstance(value, (str, Path)):
        return read_image(value, name=name)
    if isinstance(value, (bytes, bytearray)):
        return _decode(io.BytesIO(value), name or "image bytes", None, None)
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data is not None:
            return _decode(io.BytesIO(data), name or path or "image bytes", None, None)
        if path:
            return read_image(path, name=name)
    raise KernelLaughError(f"{name or 'image'}: no image data (got {type(value).__name__})")


def _decode(fp: Path | BinaryIO, shown: str, min_side: int | None, max_pixels: int | None) -> Image.Image:
    register_formats()
    try:
        with Image.open(fp) as im:
            if max_pixels and im.width * im.height > max_pixels:
                raise KernelLaughError(too_large_message(shown, im.width, im.height, max_pixels))
            if min_side and im.format == "JPEG":
                im.draft("RGB", (2 * min_side, 2 * min_side))
            im.load()  # decode now (the first frame of an animation): truncated files fail here, with their name
            return to_displayed_rgb(im)
    except Image.DecompressionBombError as err:  # raised by open() from the header; not an OSError
        raise KernelLaughError(f"{shown}: the image is too large for Pillow's decompression-bomb limit of "
                               f"{Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels ({err})") from None
    except UnidentifiedImageError:
        raise KernelLaughError(f"{shown}: not an image file kernel-laugh can read "
                               f"({', '.join(sorted(IMAGE_EXTENSIONS))})") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise KernelLaughError(f"{shown}: corrupt or truncated image ({err})") from None


def too_large_message(shown: str, width: int, height: int, max_pixels: int) -> str:
    return (f"{shown}: the image is too large ({width} x {height} = {width * height / 1e6:.0f} megapixels); "
            f"the limit is {max_pixels / 1e6:.0f} megapixels. Please resize it (the model only looks at a small "
            "version anyway).")


def to_displayed_rgb(image: Image.Image) -> Image.Image:
    """A decoded PIL image → 8-bit RGB as a viewer shows it: EXIF orientation applied, then ``to_rgb``."""
    if image.getexif().get(Image.ExifTags.Base.Orientation, 1) != 1:
        image = ImageOps.exif_transpose(image)
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode → 8-bit RGB: greyscale is repeated, alpha is composited on black (the renders'
    background), and 16-bit / 32-bit images are rescaled to 0-255 instead of being clipped."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16"):
        arr = np.asarray(image, dtype=np.float64) / 257.0  # 65535 → 255
        return Image.fromarray(arr.round().astype(np.uint8)).convert("RGB")
    if image.mode in ("I", "F"):  # no fixed range: stretch what is there
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


__all__ = ["IMAGE_EXTENSIONS", "decode_image", "is_image_file", "read_image", "register_formats", "to_displayed_rgb",
           "to_rgb", "too_large_message"]
