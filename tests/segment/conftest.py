"""Datasets for the segmentation tests: a synthetic one, and a small real CamVid subset."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import write_toy_segmentation
from PIL import Image


@pytest.fixture
def toy_root(tmp_path: Path) -> Path:
    """CamVid layout with 4 train, 2 val and 2 test images of 40×32."""
    return write_toy_segmentation(tmp_path / "toy")


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
