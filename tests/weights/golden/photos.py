"""The four bundled photos the real-weights golden values were computed on — Pillow and numpy only.

Shared by ``make_golden.py`` and ``test_pretrained.py``: 4 × 3 × 299 × 299 pixels are too
many to commit, so both sides resize the bundled JPEGs the same way and the test checks
the pixels against the digest ``make_golden.py`` recorded (a Pillow or libjpeg that decodes
or resizes differently is named as such, not mistaken for a converter error).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[3] / "src" / "semvis" / "assets" / "samples"
PHOTOS = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg")


def resized(size: int) -> np.ndarray:
    """uint8 N×size×size×3 RGB: each photo resized to a square with Pillow's bilinear filter (aspect not kept)."""
    return np.stack(
        [
            np.asarray(Image.open(SAMPLES / name).convert("RGB").resize((size, size), Image.BILINEAR), np.uint8)
            for name in PHOTOS
        ]
    )


def digest(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images, np.uint8).tobytes()).hexdigest()
