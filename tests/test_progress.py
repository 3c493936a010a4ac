"""The callback progress API: report, tracked, and no terminal library in library code."""

from __future__ import annotations

import ast
from pathlib import Path

from semvis.progress import ProgressUpdate, report, tracked

SRC = Path(__file__).resolve().parents[1] / "src" / "semvis"


def test_report_sends_one_update_and_none_is_a_no_op() -> None:
    seen: list[ProgressUpdate] = []
    report(seen.append, "stylize", 3, 10, "loss 1.2e+05")
    report(None, "stylize", 4, 10)
    assert seen == [ProgressUpdate("stylize", 3, 10, "loss 1.2e+05")]


def test_tracked_reports_zero_then_each_item_with_the_length_as_total() -> None:
    seen: list[ProgressUpdate] = []
    assert list(tracked(["a", "b"], "demo", seen.append)) == ["a", "b"]
    assert [(u.task, u.done, u.total) for u in seen] == [("demo", 0, 2), ("demo", 1, 2), ("demo", 2, 2)]


def test_tracked_takes_a_total_for_generators_and_passes_items_through_without_a_callback() -> None:
    seen: list[ProgressUpdate] = []
    assert list(tracked((i for i in range(3)), "g", seen.append)) == [0, 1, 2]
    assert seen[-1] == ProgressUpdate("g", 3, None)
    list(tracked((i for i in range(3)), "g", seen.append, total=3))
    assert seen[-1] == ProgressUpdate("g", 3, 3)
    assert list(tracked(range(2), "quiet", None)) == [0, 1]


def test_no_library_module_imports_rich() -> None:
    """rich belongs to the command line (semvis.cli); weights/fetch.py is being moved to a callback too."""
    offenders = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith("cli/") or relative == "weights/fetch.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "rich" or name.startswith("rich.") for name in names):
                offenders.append(relative)
    assert offenders == []
