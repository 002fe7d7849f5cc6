"""Former home of the image reader; kept so existing imports work. The reader is ``kernel_laugh.readers.images``."""

from __future__ import annotations

from kernel_laugh.readers.images import IMAGE_EXTENSIONS, read_image

load_image_file = read_image  # the old name: same function, same arguments (path, min_side=...)

__all__ = ["IMAGE_EXTENSIONS", "load_image_file"]
