"""The real MPI-Sintel frame pairs; tests using them skip with a reason when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def sintel(real_data: Path) -> Path:
    path = real_data / "sintel"
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set SEMVIS_DATA)")
    return path
