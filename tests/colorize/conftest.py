"""Colorization test setup: one torch thread (the tests' tiny convolutions only lose from more), CamVid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def camvid(real_data: Path) -> Path:
    path = real_data / "camvid"
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set SEMVIS_DATA)")
    return path
