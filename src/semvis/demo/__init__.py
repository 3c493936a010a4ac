"""``semvis demo``: each capability contributes one showcase that writes pictures.

A showcase is a module in this package with ``TITLE`` and ``run(out_dir, device=None) -> list[Path]``
(``device`` as in :mod:`semvis.device`); ``SHOWCASES`` lists them in the order the demo runs them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from semvis.device import DeviceSpec
from semvis.progress import ProgressCallback, tracked

SHOWCASES = ("features", "colorize", "video", "search", "style")


def showcase(name: str) -> ModuleType:
    if name not in SHOWCASES:
        raise ValueError(f"unknown showcase {name!r}; available: {', '.join(SHOWCASES)}")
    return importlib.import_module(f"semvis.demo.{name}")


def run_demo(
    out_dir: str | Path,
    only: list[str] | None = None,
    progress: ProgressCallback | None = None,
    device: DeviceSpec | None = None,
) -> list[Path]:
    """Run the showcases (all, or ``only``) with their models on ``device``; return the files they wrote.
    ``progress`` counts showcases."""
    written: list[Path] = []
    for name in tracked(only or list(SHOWCASES), "demo", progress):
        written += showcase(name).run(Path(out_dir), device)
    return written
