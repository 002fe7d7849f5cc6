"""Reading one image file: decoded now (a truncated file fails here, with its name, not mid-epoch), as RGB.

Kept apart from ``data`` so that prediction does not import ``datasets`` (and pandas) just to open a file."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.transforms import to_rgb

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def load_image_file(path: str | Path, min_side: int | None = None) -> Image.Image:
    """Open and fully decode an image as RGB, or raise a one-line error naming the file.

    ``min_side``: let JPEG decoding skip detail (DCT scaling by 1/2, 1/4, 1/8) while both sides stay at least
    twice this size, so a 4K frame bound for a 224 px model is not decoded at full size."""
    p = Path(path)
    if not p.exists():
        raise KernelLaughError(f"{p}: no such file")
    if p.is_dir():
        raise KernelLaughError(f"{p}: is a folder, not an image")
    try:
        with Image.open(p) as im:
            if min_side and im.format == "JPEG":
                im.draft("RGB", (2 * min_side, 2 * min_side))
            im.load()  # decode now: truncated files fail here, not in the middle of an epoch
            return to_rgb(im)
    except UnidentifiedImageError:
        raise KernelLaughError(f"{p}: not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise KernelLaughError(f"{p}: corrupt or truncated image ({err})") from None
