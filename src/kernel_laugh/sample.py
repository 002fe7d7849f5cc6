"""The embedded sample: SYNTHETIC "brain render" images in the style of the Kernel Flow podcast frames.

Each image is a grey folded cortex (side view) on a dark background with soft coloured activation blobs and
a small logo in the corner. The label depends on a noisy pattern of *where* the blobs are: "laughter"
frames put most blobs over frontal and temporal regions, "non-laughter" frames over the others; a few labels
are flipped. A good model does well but not perfectly. Frames come in sessions (the group to split on):
within a session the render is the same brain with small jitter, as consecutive video frames are.

These images are synthetic. They exist so that every stage of the package runs offline in minutes; numbers
measured on them say nothing about real brain data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

LABEL_NAMES = ["non-laughter", "laughter"]
# Anchor points (x, y as fractions of the cortex box) of the regions blobs sit on.
LAUGHTER_REGIONS = [(0.18, 0.38), (0.30, 0.22), (0.62, 0.72), (0.45, 0.70)]  # prefrontal, frontal, temporal
OTHER_REGIONS = [(0.55, 0.20), (0.78, 0.30), (0.88, 0.52), (0.70, 0.45)]  # parietal, occipital, motor
BLOB_COLOURS = np.array([[90, 230, 230], [80, 220, 120], [240, 220, 80], [230, 70, 60]], dtype=np.float32)
P_MATCHING_REGION = 0.85  # chance that a blob lands in its label's regions
LABEL_NOISE = 0.03  # share of labels flipped


def _cortex(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return (mask, grey level) arrays of shape (h, w) for one session's brain."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * rng.uniform(0.47, 0.53), h * rng.uniform(0.44, 0.50)
    rx, ry = w * rng.uniform(0.40, 0.44), h * rng.uniform(0.36, 0.40)
    angle = np.arctan2(yy - cy, xx - cx)
    wobble = 1 + 0.04 * np.sin(3 * angle + rng.uniform(0, 6)) + 0.02 * np.sin(7 * angle + rng.uniform(0, 6))
    r = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2) / wobble
    mask = r < 1.0
    cerebellum = ((xx - cx - 0.55 * rx) / (0.35 * rx)) ** 2 + ((yy - cy - 0.85 * ry) / (0.25 * ry)) ** 2 < 1
    mask |= cerebellum
    # Gyri: a warped sinusoid gives folded ridges; shading darkens towards the rim.
    warp = 2.5 * np.sin(xx / w * 9 + rng.uniform(0, 6)) + 2.5 * np.sin(yy / h * 7 + rng.uniform(0, 6))
    folds = np.sin((xx * 0.6 + yy * 0.8) / max(w, 1) * 38 + warp) * np.sin((xx * 0.9 - yy * 0.4) / w * 23 + warp)
    grey = 125 + 28 * folds - 45 * np.clip(r, 0, 1) ** 3
    return mask, grey


def _render(h: int, w: int, mask: np.ndarray, grey: np.ndarray, blobs: list[tuple[float, float, float, int]],
            rng: np.random.Generator) -> np.ndarray:
    """(h, w, 3) uint8 frame: background, cortex, blobs (x, y, radius as fractions of w/h; colour index), logo."""
    img = np.empty((h, w, 3), np.float32)
    img[:] = (34, 30, 26)  # the renders' warm dark background
    img[mask] = grey[mask, None] * np.array([1.0, 1.0, 0.98], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for bx, by, br, ci in blobs:
        alpha = 0.85 * np.exp(-(((xx - bx * w) ** 2 + (yy - by * h) ** 2) / (2 * (br * w) ** 2)))
        alpha *= mask
        img = img * (1 - alpha[..., None]) + BLOB_COLOURS[ci] * alpha[..., None]
    lh, lw = max(2, h // 24), max(4, w // 14)
    img[h - lh - 2 : h - 2, w - lw - 2 : w - 2] = (20, 30, 200)  # the corner logo
    img += rng.normal(0, 4, img.shape)  # video compression noise
    return np.clip(img, 0, 255).astype(np.uint8)


def generate_sample(n: int = 600, size: int = 96, seed: int = 42, n_sessions: int | None = None) -> list[dict]:
    """``n`` records ``{"image": PIL.Image, "label": int, "session": str}``; same seed, same images.

    ``size`` is the frame height; the width is 4/3 of it, like the 1050x800 brain crops. ``n_sessions`` defaults
    to one per 10 frames, at least 20 and at most 60: the default 600 frames give 60 sessions, so a 15% test split holds 9 of
    them, enough for an interval over sessions to mean something.
    """
    n_sessions = n_sessions or min(60, max(20, n // 10))
    rng = np.random.default_rng(seed)
    h, w = size, round(size * 4 / 3)
    sessions = []
    for s in range(n_sessions):
        mask, grey = _cortex(h, w, rng)
        # The brain's position inside the cortex box, to place blobs on it.
        ys, xs = np.nonzero(mask)
        box = (xs.min() / w, ys.min() / h, (xs.max() - xs.min()) / w, (ys.max() - ys.min()) / h)
        sessions.append((f"session-{s:02d}", mask, grey, box, int(rng.integers(0, 2))))
    records = []
    for i in range(n):
        name, mask, grey, (x0, y0, bw, bh), bias = sessions[i * n_sessions // n]
        # Sessions lean one way (a clip of laughter, a calm clip), as the real recordings do.
        label = int(rng.random() < (0.65 if bias else 0.35))
        blobs = []
        for _ in range(int(rng.integers(3, 5))):
            matching = rng.random() < P_MATCHING_REGION
            regions = LAUGHTER_REGIONS if (label == 1) == matching else OTHER_REGIONS
            ax, ay = regions[rng.integers(len(regions))]
            blobs.append((x0 + (ax + rng.normal(0, 0.04)) * bw, y0 + (ay + rng.normal(0, 0.04)) * bh,
                          rng.uniform(0.045, 0.08), int(rng.integers(len(BLOB_COLOURS)))))
        if rng.random() < LABEL_NOISE:
            label = 1 - label
        records.append({"image": Image.fromarray(_render(h, w, mask, grey, blobs, rng)), "label": label, "session": name})
    return records


def write_image_folder(out_dir: str | Path, n: int = 600, size: int = 96, seed: int = 42) -> Path:
    """Write the sample in the original project's ImageFolder layout (``0_non-laughter/``, ``1_laughter/``)
    plus a ``metadata.csv`` (file_name, session), so the folder code path can be tried on it."""
    out = Path(out_dir)
    rows = ["file_name,session"]
    for i, rec in enumerate(generate_sample(n, size, seed)):
        rel = f"{rec['label']}_{LABEL_NAMES[rec['label']]}/synthetic-{i:04d}.png"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        rec["image"].save(out / rel)
        rows.append(f"{rel},{rec['session']}")
    (out / "metadata.csv").write_text("\n".join(rows) + "\n")
    return out
