"""App test setup: tiny random models, so that the tests exercise the server and the page, not the networks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import semvis
from semvis.segment import LabelSpec

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
