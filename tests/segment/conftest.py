"""Datasets for the segmentation tests: a synthetic one, and a small real CamVid subset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TOY_CLASSES = {"classes": ["ground", "box"], "colors": [[40, 40, 40], [250, 200, 0]], "ignore_index": 2}


def toy_sample(rng: np.random.Generator, size: tuple[int, int] = (40, 32)) -> tuple[np.ndarray, np.ndarray]:
    """A dark noisy RGB image with a bright box (class 1) and a void top row (2)."""
    w, h = size
    image = rng.integers(0, 90, (h, w, 3), dtype=np.uint8)
    label = np.zeros((h, w), np.uint8)
    x0, y0 = rng.integers(0, w // 2), rng.integers(1, h // 2)
    x1, y1 = x0 + rng.integers(6, w // 2), y0 + rng.integers(6, h // 2)
    image[y0:y1, x0:x1] = rng.integers(160, 255, (y1 - y0, x1 - x0, 3), dtype=np.uint8)
    label[y0:y1, x0:x1] = 1
    label[0] = 2
    return image, label


@pytest.fixture
def toy_root(tmp_path: Path) -> Path:
    """CamVid layout with 4 train, 2 val and 2 test images of 40×32."""
    rng = np.random.default_rng(0)
    root = tmp_path / "toy"
    for split, count in (("train", 4), ("val", 2), ("test", 2)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir()
        for i in range(count):
            image, label = toy_sample(rng)
            Image.fromarray(image).save(root / split / "images" / f"{i}.png")
            Image.fromarray(label).save(root / split / "labels" / f"{i}.png")
    (root / "classes.json").write_text(json.dumps(TOY_CLASSES))
    return root


@pytest.fixture
def camvid_subset(camvid: Path, tmp_path: Path) -> Path:
    """The first 4 train and 2 val CamVid frames, scaled to 120×90 (image bilinear, label nearest)."""
    root = tmp_path / "camvid"
    for split, count in (("train", 4), ("val", 2)):
        (root / split / "labels").mkdir(parents=True)
        (root / split / "images").mkdir()
        for path in sorted((camvid / split / "images").glob("*.jpg"))[:count]:
            Image.open(path).resize((120, 90), Image.Resampling.BILINEAR).save(root / split / "images" / path.name)
            label = Image.open(camvid / split / "labels" / f"{path.stem}.png")
            label.resize((120, 90), Image.Resampling.NEAREST).save(root / split / "labels" / f"{path.stem}.png")
    shutil.copy(camvid / "classes.json", root / "classes.json")
    return root
