"""A bounded fuzz of the command line: malformed images, videos, weight files and arguments.

Every case runs ``semvis …`` in-process with tiny models. A case passes when the command either
refuses with one ``semvis CMD: error: …`` line (argparse adds its usage above) and exit 2, or,
for an input that is fine though unusual (palette, CMYK, 16-bit, bilevel, alpha), succeeds.
An exception escaping :func:`semvis.cli.main.main` fails the test: that is a traceback.
(``semvis search`` and the server are fuzzed in ``tests/app/test_fuzz.py``, beside the index fixture.)
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest
import torch
from helpers import run_cli, save_tiny_segmenter
from PIL import Image

from semvis.backbones import create_backbone
from semvis.colorize import SemanticColorizer, save_colorizer
from semvis.weights import save_model
from tests.cli.fuzzing import (
    BAD_FILES,
    GOOD_IMAGES,
    SIZE,
    TOO_SMALL,
    gradient,
    refused,
    write_images,
    write_videos,
    write_weights,
)


class Files:
    """The corpus and the tiny models, built once for the module."""

    def __init__(self, root: Path) -> None:
        torch.manual_seed(0)
        self.root = root
        self.images = write_images(root / "images")
        self.segmenter = save_tiny_segmenter(root / "segmenter.safetensors")
        self.colorizer = save_colorizer(SemanticColorizer(num_classes=3, width=4), root / "colorizer.safetensors")
        classifier = create_backbone("mobilenet_v2", num_classes=3).eval()
        config = {"arch": "mobilenet_v2", "num_classes": 3}
        self.classifier = save_model(classifier, root / "classifier.safetensors", "backbone", config, half=False)
        self.weights = write_weights(root / "weights", self.segmenter)

    def image(self, name: str) -> str:
        return str(self.images / name)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return Files(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_videos(tmp_path_factory.mktemp("fuzz") / "videos")


def image_commands(files: Files, image: str, out: Path) -> dict[str, list[str]]:
    """Every command that reads one photo, run on ``image`` with the tiny models; outputs under ``out``."""
    segment = ["segment", image, "--weights", str(files.segmenter), "-o", str(out / "seg")]
    return {
        "segment": segment,
        "colorize": [
            "colorize",
            image,
            "--weights",
            str(files.colorizer),
            "--segment-weights",
            str(files.segmenter),
            "--work-size",
            "32",
            "-o",
            str(out / "colorized.png"),
        ],  # fmt: skip
        "classify": ["classify", image, "--weights", str(files.classifier), "--size", "32"],
        "stylize content": ["stylize", image, files.image("palette.png"), "-o", str(out / "s.png"), *ONE_STEP],
        "stylize style": ["stylize", files.image("palette.png"), image, "-o", str(out / "s.png"), *ONE_STEP],
    }


ONE_STEP = ("--size", "32", "--steps", "1")  # bounds the run should a refusal be missed


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_malformed_image_file_is_one_line_in_every_command(
    capsys: pytest.CaptureFixture[str], files: Files, tmp_path: Path, name: str
) -> None:
    for command, argv in image_commands(files, files.image(name), tmp_path).items():
        line = refused(capsys, *argv)
        # stylize and colorize read a folder as video frames
        folder_of_frames = name == "folder.jpg" and command in ("stylize content", "colorize")
        assert name in line and ("holds no images" if folder_of_frames else BAD_FILES[name]) in line, line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", TOO_SMALL)
def test_an_image_too_small_for_the_segmenter_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, files: Files, tmp_path: Path, name: str
) -> None:
    from semvis.cli import colorize, segment

    monkeypatch.setattr(segment, "load_segmenter", fail_if_called)  # refused before any model loads
    monkeypatch.setattr(colorize, "load_models", fail_if_called)
    commands = image_commands(files, files.image(name), tmp_path)
    for command in ("segment", "colorize"):
        line = refused(capsys, *commands[command])
        assert f"{name}: the image is {TOO_SMALL[name]}; every side must be at least 16 px" in line, line


@pytest.mark.parametrize("name", GOOD_IMAGES)
def test_an_unusual_but_valid_image_is_converted_and_accepted(
    capsys: pytest.CaptureFixture[str], files: Files, tmp_path: Path, name: str
) -> None:
    commands = image_commands(files, files.image(name), tmp_path)
    for command in ("segment", "colorize", "classify"):
        code, out, err = run_cli(capsys, *commands[command])
        assert code == 0 and not err, (command, err)
    labels, colorized = Image.open(tmp_path / "seg_labels.png"), Image.open(tmp_path / "colorized.png")
    assert labels.size == colorized.size == SIZE and labels.mode == "P" and colorized.mode == "RGB"


WEIGHT_FILES = (
    "garbage.safetensors",
    "empty.safetensors",
    "huge-header.safetensors",
    "bad-json.safetensors",
    "truncated.safetensors",
    "text.pt",
    "pickle.pt",
    "zip.safetensors",
    "headerless.safetensors",
    "folder.safetensors",
    "missing.safetensors",
)


@pytest.mark.parametrize("name", WEIGHT_FILES)
def test_a_broken_weight_file_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], files: Files, tmp_path: Path, name: str
) -> None:
    weights, photo, out = str(files.weights / name), files.image("palette.png"), str(tmp_path / "c.png")
    segmenter, colorizer = str(files.segmenter), str(files.colorizer)
    commands = [
        ["segment", photo, "--weights", weights, "-o", str(tmp_path / "seg")],
        ["colorize", photo, "--weights", weights, "--segment-weights", segmenter, "-o", out],
        ["colorize", photo, "--weights", colorizer, "--segment-weights", weights, "-o", out],
        ["classify", photo, "--weights", weights, "--arch", "mobilenet_v2", "--classes", "3"],
        ["serve", "--segmenter", weights, "--colorizer", colorizer, "--port", "0"],
    ]
    for argv in commands:
        assert name in refused(capsys, *argv)
    assert list(tmp_path.iterdir()) == []


BOTH = ("video", "stylize")


@pytest.mark.parametrize(
    ("name", "message", "commands"),
    [
        ("no-frames.mp4", "no video stream", BOTH),
        ("truncated.mp4", "not a readable video", BOTH),
        ("random.mp4", "not a readable video", BOTH),
        ("text.mp4", "not a readable video", BOTH),
        ("empty.mp4", "empty", BOTH),
        ("corrupt-frame", "00001.png: not an image", BOTH),
        ("tiny-frames", "its frames are 2×2 px", ("video",)),  # stylize scales them up to --size: fine
    ],
)
def test_a_broken_video_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str],
    files: Files,
    videos: Path,
    tmp_path: Path,
    name: str,
    message: str,
    commands: tuple[str, ...],
) -> None:
    source, weights = str(videos / name), str(files.segmenter)
    argvs = {
        "video": ["video", source, "-o", str(tmp_path / "v.mp4"), "--weights", weights, "--flow", "zero"],
        "stylize": ["stylize", source, files.image("palette.png"), "-o", str(tmp_path / "s.mp4"), *ONE_STEP],
    }
    for command in commands:
        line = refused(capsys, *argvs[command])
        assert name in line and message in line, line
    assert list(tmp_path.iterdir()) == []


def busy_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def fail_if_called(*args: object, **kwargs: object) -> None:
    raise AssertionError("models were loaded before the arguments were checked")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "x.index", "q.jpg", "-k", "0"], "argument -k: must be at least 1, got 0"),
        (["search", "x.index", "q.jpg", "-k", "-3"], "argument -k: must be at least 1, got -3"),
        (["segment", "{photo}", "-o", "{out}/s", "--window", "1"], "argument --window: must be at least 16, got 1"),
        (["segment", "{photo}", "-o", "{photo}/s"], "palette.png is a file"),
        (["classify", "{photo}", "--weights", "w", "--top", "0"], "argument --top: must be at least 1"),
        (["classify", "{photo}", "--weights", "w", "--size", "8"], "argument --size: must be at least 32"),
        (["classify", "{photo}", "--weights", "{classifier}", "--labels", "{out}"], "cannot read class names"),
        (["classify", "{photo}", "--weights", "{classifier}", "--labels", "{photo}"], "cannot read class names"),
        (["colorize", "{photo}", "-o", "{out}/c.txt"], "c.txt: cannot tell an image format"),
        (["colorize", "{photo}", "-o", "{photo}/c.png"], "palette.png is a file"),
        (["colorize", "{photo}", "-o", "{out}/c.png", "--work-size", "100000"], "at most 2048, got 100000"),
        (["colorize", "--evaluate", "--photos", "{out}", "--limit", "0"], "argument --limit: must be at least 1"),
        (["serve", "--port", "70000"], "argument --port: must be between 0 and 65535, got 70000"),
        (["serve", "--host", "192.0.2.1", "--port", "0"], "--host 192.0.2.1: cannot listen on 192.0.2.1:0"),
        (["stylize", "{empty}", "{photo}", "-o", "{out}/s.png"], "empty: frame folder holds no images"),
        (["stylize", "{frames}", "{photo}", "-o", "{out}/s.png"], "is a directory, read as a folder of video frames"),
    ],
)
def test_bad_arguments_are_refused_before_any_model_loads(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    files: Files,
    tmp_path: Path,
    argv: list[str],
    message: str,
) -> None:
    from semvis.cli import colorize

    monkeypatch.setattr(colorize, "load_models", fail_if_called)
    monkeypatch.setattr("semvis.colorize.pipeline.load_colorization_models", fail_if_called)
    (tmp_path / "empty").mkdir()
    (tmp_path / "frames").mkdir()
    Image.fromarray(gradient(*SIZE)).save(tmp_path / "frames" / "00000.png")
    names = {"photo": files.image("palette.png"), "out": tmp_path, "classifier": files.classifier}
    line = refused(
        capsys, *(part.format(frames=tmp_path / "frames", empty=tmp_path / "empty", **names) for part in argv)
    )
    assert message in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "frames"]  # nothing written


def test_serve_on_a_busy_port_says_so_before_announcing_a_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("semvis.colorize.pipeline.load_colorization_models", fail_if_called)
    sock, port = busy_port()
    with sock:
        code, out, err = run_cli(capsys, "serve", "--port", str(port))
    assert code == 2 and "http://" not in out
    assert (
        err.strip()
        == f"semvis serve: error: --port {port}: port {port} is in use on 127.0.0.1; stop what uses it or pick another"
    )


def test_the_corpus_is_what_it_claims(files: Files) -> None:
    """The fuzz inputs are the cases they are named for (so a pass means something)."""
    modes: dict[str, str] = {"sixteen.png": "I;16", "cmyk.jpg": "CMYK", "palette.png": "P", "la.png": "LA"}
    for name, mode in modes.items():
        assert Image.open(files.image(name)).mode == mode
    assert "transparency" in Image.open(files.image("palette-alpha.png")).info
    assert Image.open(files.image("bilevel.png")).mode == "1" and Image.open(files.image("anim.gif")).n_frames == 2
    with open(files.image("bomb.png"), "rb") as bomb:
        assert struct.unpack(">II", bomb.read(24)[16:]) == (100_000, 100_000)  # IHDR: width, height
