"""The command line's rich bars stay readable at 80 columns: description, count and time left."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console

from semvis.cli.progress import progress_bars
from semvis.progress import ProgressUpdate

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LONG_STATUS = "total 1.234e+05  content 2.000e+04  style 1.000e+05  tv 0.000e+00"


def render(width: int, updates: list[ProgressUpdate], pause: float = 0.05) -> list[str]:
    """The final frame drawn for ``updates`` (sent ``pause`` s apart) on a terminal ``width`` columns wide."""
    out = io.StringIO()
    console = Console(width=width, file=out, force_terminal=True, color_system=None)
    with progress_bars(console) as progress:
        for update in updates:
            progress(update)
            time.sleep(pause)
    tasks = len({u.task for u in updates})
    return [line.rstrip() for line in ANSI.sub("", out.getvalue()).replace("\r", "\n").splitlines()][-tasks:]


def test_a_stylize_bar_keeps_its_count_and_time_left_at_80_columns() -> None:
    updates = [ProgressUpdate("stylize", done, 500, f"512×384 {LONG_STATUS}") for done in (0, 40, 80, 120)]
    (line,) = render(80, updates)
    assert len(line) <= 80
    assert line.startswith("stylize ") and "120/500" in line
    times = re.findall(r"\d+:\d\d:\d\d", line)
    assert len(times) == 2, line  # elapsed and remaining, not "-:--:--"
    assert "512×384 total" in line and line.endswith("…")  # the status is cut, not the count


def test_long_descriptions_are_shortened_and_each_task_has_its_own_bar() -> None:
    updates = [
        ProgressUpdate("features train on a very long dataset name", 1, 10),
        ProgressUpdate("epoch 3/10", 2, 4, "step 10 loss 0.6931"),
        ProgressUpdate("epoch 3/10", 3, 4, "step 1000 loss 0.6931"),
    ]
    first, second = render(80, updates)
    assert "…" in first and "1/10" in first and len(first) <= 80
    assert second.startswith("epoch 3/10") and "3/4" in second and second.endswith("step 1000 loss 0.6931")


def test_nothing_is_drawn_off_a_terminal() -> None:
    out = io.StringIO()
    with progress_bars(Console(file=out, force_terminal=False)) as progress:
        progress(ProgressUpdate("stylize", 1, 2))
    assert out.getvalue() == ""
