"""The package's layers (docs/architecture.md): what each part of semvis may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "semvis"
#: Modules with no semvis dependency but each other.
CORE = {"errors", "paths", "atomic", "progress", "device", "assets", "viz", "nn", "bundled"}
FOUNDATION = CORE | {"weights", "data", "flow", "train", "backbones"}
CAPABILITIES = {"style", "segment", "colorize", "hashing", "video", "detect", "classify"}
#: Each top-level part of ``semvis`` and the parts it may import (besides itself).
ALLOWED = {
    **{name: CORE for name in CORE},
    "weights": CORE,
    "data": CORE,
    "flow": CORE | {"weights"},
    "train": CORE | {"data", "weights"},
    "backbones": CORE | {"weights"},
    **{name: FOUNDATION | CAPABILITIES for name in CAPABILITIES},
    "app": FOUNDATION | CAPABILITIES,
    "demo": FOUNDATION | CAPABILITIES,
    "cli": FOUNDATION | CAPABILITIES | {"app", "demo"},
}


def imports_of(path: Path) -> set[str]:
    """Top-level names this file imports: ``semvis.<part>`` as ``<part>``, other packages by their root."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
        names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            parts = name.split(".")
            found.add(parts[1] if parts[0] == "semvis" and len(parts) > 1 else f"<{parts[0]}>")
    return found


FILES = sorted(p for p in SRC.rglob("*.py") if p.parent != SRC or p.name != "__init__.py")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_each_module_imports_only_its_own_layer_and_those_below(path: Path) -> None:
    part = path.relative_to(SRC).parts[0].removesuffix(".py")
    assert part in ALLOWED, f"{part}: add the new part of semvis to the layer table (docs/architecture.md)"
    semvis_parts = {name for name in imports_of(path) if not name.startswith("<")} - {part}
    assert semvis_parts <= ALLOWED[part], f"{path.name} imports {sorted(semvis_parts - ALLOWED[part])}"


@pytest.mark.parametrize("path", [p for p in FILES if p.relative_to(SRC).parts[0] != "cli"], ids=str)
def test_only_the_command_line_draws_with_rich(path: Path) -> None:
    assert "<rich>" not in imports_of(path), f"{path}: library code reports progress through callbacks"


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    circle = tmp_path / "keras.py"
    circle.write_text("import torch\nfrom semvis.backbones.xception import ENTRY_WIDTHS\nimport semvis.errors\n")
    assert imports_of(circle) == {"<torch>", "backbones", "errors"}
    assert not {"backbones", "errors"} <= ALLOWED["weights"]
