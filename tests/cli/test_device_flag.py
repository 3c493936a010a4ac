"""``--device`` on every command: present on each leaf, resolved once, and handed to the library call."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from helpers import run_cli, write_frames
from PIL import Image

import semvis.cli.main as cli_main
import semvis.colorize as colorize_package
import semvis.colorize.pipeline as pipeline
from semvis.cli import classify as cli_classify
from semvis.cli import demo as cli_demo
from semvis.cli import index as cli_index
from semvis.cli import search as cli_search
from semvis.cli import segment as cli_segment
from semvis.cli import style as cli_style
from semvis.cli import stylize as cli_stylize
from semvis.cli import stylize_video as cli_stylize_video
from semvis.data import LabelSpec

#: What the spied resolver hands out: a device no CPU test could produce by accident.
SENTINEL = torch.device("cuda", 7)


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The argv prefix of every command without subcommands under ``parser``."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path
    for group in groups:
        for name, child in group.choices.items():
            yield from leaf_commands(child, (*path, name))


LEAVES = sorted(leaf_commands(cli_main.build_parser()))


def test_the_walk_reaches_nested_commands() -> None:
    for nested in [("train", "segment"), ("weights", "list"), ("index", "build"), ("style", "grid"), ("serve",)]:
        assert nested in LEAVES
    assert len(LEAVES) >= 25


@pytest.mark.parametrize("command", LEAVES, ids=" ".join)
def test_every_command_documents_device(capsys: pytest.CaptureFixture[str], command: tuple[str, ...]) -> None:
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0 and "--device DEVICE" in out, out


def test_an_absent_device_is_refused_before_the_command_runs(capsys, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cli_demo, "run_demo", lambda *a: pytest.fail("the demo must not start"))
    code, _, err = run_cli(capsys, "demo", "--device", "cuda")
    assert code == 2 and "semvis demo: error: cuda requested but torch.cuda.is_available() is False" in err
    code, _, err = run_cli(capsys, "weights", "list", "--device", "gpu")
    assert code == 2 and "unknown device 'gpu'" in err


def test_info_prints_the_resolved_device(capsys) -> None:
    code, out, _ = run_cli(capsys, "info", "--device", "cpu")
    assert code == 0 and "device: cpu," in out


class Reached(Exception):
    """Raised by a spied library call once it has recorded its arguments."""


def spy_on(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, calls: list[inspect.BoundArguments]) -> None:
    """Replace ``owner.name`` by a stand-in that records its bound arguments and stops the command."""
    real: Callable[..., object] = getattr(owner, name)

    def record(*args: object, **kwargs: object) -> None:
        calls.append(inspect.signature(real).bind(*args, **kwargs))
        raise Reached

    monkeypatch.setattr(owner, name, record)


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What main asked the resolver; it answers :data:`SENTINEL` whatever the spec."""
    asked: list[object] = []
    monkeypatch.setattr(cli_main, "resolve_device", lambda spec: asked.append(spec) or SENTINEL)
    return asked


def image(path: Path) -> str:
    Image.new("RGB", (24, 16), (120, 80, 40)).save(path)
    return str(path)


def label_map(path: Path) -> str:
    """A map of class 0 at :func:`image`'s size (colorize reads it before loading the models)."""
    Image.new("L", (24, 16)).save(path)
    return str(path)


class FakeIndex:
    """Stands in for HashIndex where a command must open one before encoding."""

    open = staticmethod(lambda path: nullcontext(FakeIndex()))


def tiny_classifier(*args: object, **kwargs: object) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4))


CASES: dict[str, tuple[Callable[[Path], list[str]], object, str, dict[str, object]]] = {
    # command: (argv from tmp_path, module whose name is spied, spied name, other names to replace)
    "stylize": (
        lambda t: ["stylize", image(t / "c.png"), image(t / "s.png"), "-o", str(t / "o.png")],
        cli_stylize,
        "stylize",
        {},
    ),
    "stylize video": (
        lambda t: ["stylize", str(write_frames(t / "f")), image(t / "s.png"), "-o", str(t / "o.mp4")],
        cli_stylize_video,
        "stylize_video",
        {},
    ),
    "style reconstruct": (
        lambda t: ["style", "reconstruct", image(t / "c.png"), "--content-layer", "relu1_1", "-o", str(t / "o.png")],
        cli_style,
        "reconstruct",
        {},
    ),
    "style grid": (
        lambda t: ["style", "grid", image(t / "c.png"), image(t / "s.png"), "-o", str(t / "o.png")],
        cli_style,
        "style_grid",
        {},
    ),
    "segment": (
        lambda t: ["segment", image(t / "c.png"), "--weights", "w", "-o", str(t / "o")],
        cli_segment,
        "segment",
        {"load_segmenter": lambda path: (None, LabelSpec(("a", "b")))},
    ),
    "colorize": (
        lambda t: ["colorize", image(t / "c.png"), "--labels", label_map(t / "l.png"), "-o", str(t / "o.png")],
        colorize_package,
        "load_colorizer",
        {},
    ),
    "colorize (predicted map)": (
        lambda t: ["colorize", image(t / "c.png"), "-o", str(t / "o.png")],
        pipeline,
        "load_colorization_models",
        {},
    ),
    "serve": (lambda t: ["serve"], pipeline, "load_colorization_models", {}),
    "classify": (
        lambda t: ["classify", image(t / "c.png"), "--weights", "w", "--size", "32"],
        cli_classify,
        "classify",
        {"load_classifier": tiny_classifier},
    ),
    "index build": (
        lambda t: ["index", "build", str(Path(image(t / "c.png")).parent), "--out", str(t / "i")],
        cli_index,
        "ImageEncoder",
        {},
    ),
    "index add": (
        lambda t: ["index", "add", str(t / "i"), image(t / "c.png")],
        cli_index,
        "encoder_for",
        {"HashIndex": FakeIndex},
    ),
    "search": (
        lambda t: ["search", str(t / "i"), image(t / "c.png")],
        cli_search,
        "encoder_for",
        {"HashIndex": FakeIndex},
    ),
    "demo": (lambda t: ["demo", "--out", str(t)], cli_demo, "run_demo", {}),
}


@pytest.mark.parametrize("case", CASES)
def test_the_resolved_device_reaches_the_library_call(tmp_path, monkeypatch, resolved, case) -> None:
    make_argv, owner, name, replacements = CASES[case]
    for other, value in replacements.items():
        monkeypatch.setattr(owner, other, value)
    calls: list[inspect.BoundArguments] = []
    spy_on(monkeypatch, owner, name, calls)
    with pytest.raises(Reached):
        cli_main.main([*make_argv(tmp_path), "--device", "cuda:7"])
    assert resolved == ["cuda:7"]
    (call,) = calls
    assert call.arguments["device"] is SENTINEL
