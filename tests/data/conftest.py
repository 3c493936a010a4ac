"""Real-data fixtures for the data tests; each skips with a reason when its folder is absent."""

from __future__ import annotations

from pathlib import Path

import pytest


def _dataset(real_data: Path, name: str) -> Path:
    path = real_data / name
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set SEMVIS_DATA)")
    return path


@pytest.fixture
def camvid(real_data: Path) -> Path:
    return _dataset(real_data, "camvid")


@pytest.fixture
def caltech101(real_data: Path) -> Path:
    return _dataset(real_data, "caltech101")


@pytest.fixture
def davis(real_data: Path) -> Path:
    return _dataset(real_data, "davis")
