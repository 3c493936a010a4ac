"""Colorization test setup: the real CamVid folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def camvid(real_data: Path) -> Path:
    path = real_data / "camvid"
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set SEMVIS_DATA)")
    return path
