"""Shared test setup: never download, never touch the user's cache, find real data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from semvis.paths import data_root

os.environ["SEMVIS_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets an empty ``SEMVIS_HOME`` so caches never leak between tests or users."""
    home = tmp_path_factory.mktemp("semvis_home")
    monkeypatch.setenv("SEMVIS_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def torch_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run PyTorch unless a test asks for a runtime. Their default, ``--runtime auto``, exports
    each model to ONNX on first use: an 87 MB file and seconds per test for the bundled Xception models,
    which filled the disk here. ``tests/cli/test_export_cli.py`` and ``tests/nn/test_runtime*.py`` test
    the runtimes by asking for them."""
    monkeypatch.setenv("SEMVIS_RUNTIME", "torch")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread per test: the suite's tensors are small, and a second thread that waits on
    a busy CPU made small convolutions 10-20× slower here. Benchmarks measure thread scaling instead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def real_data() -> Path:
    """Root of the real datasets; skips the test with a reason when they are absent."""
    root = data_root().resolve()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set SEMVIS_DATA)")
    return root


def real_dataset(real_data: Path, name: str) -> Path:
    """The dataset folder ``name`` under the real data root, or skip with a reason naming it."""
    path = real_data / name
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set SEMVIS_DATA)")
    return path


@pytest.fixture
def camvid(real_data: Path) -> Path:
    return real_dataset(real_data, "camvid")


@pytest.fixture
def caltech101(real_data: Path) -> Path:
    return real_dataset(real_data, "caltech101")


@pytest.fixture
def davis(real_data: Path) -> Path:
    return real_dataset(real_data, "davis")


@pytest.fixture
def sintel(real_data: Path) -> Path:
    return real_dataset(real_data, "sintel")
