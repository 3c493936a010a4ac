"""App test setup: tiny random models, so that the tests exercise the server and the page, not the networks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from helpers import HASH_SIZE, blocky_images, random_net

import semvis
from semvis.cli.main import main
from semvis.data import LabelSpec

#: Class 3 ("paint") is never predicted by :func:`brightness_bands`, so painting it always changes the map.
LABELS = LabelSpec(("dark", "mid", "light", "paint"))
SAMPLE = Path(semvis.__file__).parent / "assets" / "samples" / "chelsea.jpg"


def brightness_bands(rgb: torch.Tensor) -> torch.Tensor:
    """A stand-in segmenter: classes 0, 1, 2 by mean brightness in thirds."""
    return (rgb.mean(0) * 3).long().clamp(0, 2)


@pytest.fixture
def make_app() -> Callable[..., Any]:
    """``make_app(**limits)``: the app on :func:`brightness_bands` and a width-4 colorizer with fixed weights."""
    pytest.importorskip("fastapi", reason="the app needs the web extra: pip install 'semvis[web]'")
    from semvis.app import create_app
    from semvis.colorize import SemanticColorizer

    def make(**kwargs: Any) -> Any:
        torch.manual_seed(0)
        return create_app(brightness_bands, LABELS, SemanticColorizer(len(LABELS.classes), width=4).eval(), **kwargs)

    return make


class SearchIndex(NamedTuple):
    """A six-image hash index built by ``semvis index build`` with a random width-32 network at 32×32."""

    path: Path
    weights: Path
    images: list[Path]


@pytest.fixture(scope="session")
def search_index(tmp_path_factory: pytest.TempPathFactory) -> SearchIndex:
    pytest.importorskip("faiss", reason="the search index needs faiss: pip install 'semvis[search]'")
    root = tmp_path_factory.mktemp("search")
    weights, images = random_net(root), blocky_images(root / "photos", 6)
    index = root / "photos.index"
    argv = ["index", "build", str(root / "photos"), "--out", str(index), "--weights", str(weights), "--size", HASH_SIZE]
    assert main(argv) == 0
    return SearchIndex(index, weights, images)


@pytest.fixture(scope="session")
def searcher(search_index: SearchIndex) -> Iterator[Any]:
    """The index opened for the app, with the weights it records."""
    pytest.importorskip("fastapi", reason="the app needs the web extra: pip install 'semvis[web]'")
    from semvis.app import IndexSearcher

    with IndexSearcher(search_index.path) as searcher:
        yield searcher
