"""The callback progress API: report and tracked (tests/test_layers.py keeps rich out of library code)."""

from __future__ import annotations

from semvis.progress import ProgressUpdate, report, tracked


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


def test_a_download_bar_shows_bytes_and_closes_at_the_end() -> None:
    import io

    from rich.console import Console

    from semvis.cli.progress import DownloadBar

    out = io.StringIO()
    bar = DownloadBar(Console(file=out, width=80, force_terminal=True))
    bar(1 << 20, 4 << 20)
    assert bar.bars is not None
    bar(4 << 20, 4 << 20)
    assert bar.bars is None and "downloading weights" in out.getvalue() and "MB" in out.getvalue()
