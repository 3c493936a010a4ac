"""``semvis stylize VIDEO STYLE -o OUT.mp4``: end to end on a tiny frame folder, and its errors."""

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import SIDE, needs_weights, run_cli, write_frames
from PIL import Image

from semvis.assets import sample_path
from semvis.data.video import open_frames

TINY = ["--size", str(SIDE), "--steps", "2", "--steps-later", "1"]


@pytest.fixture
def style(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    Image.open(sample_path("starry_night")).resize((40, 40)).save(path)
    return path


@needs_weights
def test_a_frame_folder_becomes_a_video_and_pngs(
    tmp_path: Path, style: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip, out, pngs = write_frames(tmp_path / "clip"), tmp_path / "out.mp4", tmp_path / "pngs"
    code, stdout, err = run_cli(
        capsys, "stylize", str(clip), str(style), "-o", str(out), "--frames-dir", str(pngs), *TINY
    )
    assert code == 0, err
    assert "3 frames" in stdout.replace("\n", " ")
    video = open_frames(out)
    assert video.size == (SIDE, SIDE) and len(list(video)) == 3 and video.fps == 24
    assert sorted(p.name for p in pngs.iterdir()) == ["00000.png", "00001.png", "00002.png"]


@needs_weights
def test_a_frame_of_another_size_fails_naming_it_and_leaves_no_video(
    tmp_path: Path, style: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip, out = write_frames(tmp_path / "clip", range(2)), tmp_path / "out.mp4"
    Image.new("RGB", (SIDE + 8, SIDE)).save(clip / "00001.png")
    code, _, err = run_cli(capsys, "stylize", str(clip), str(style), "-o", str(out), *TINY)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "00001.png" in err
    assert list(tmp_path.glob("*.mp4")) == list(tmp_path.glob(".out*")) == []


def corrupt_video(folder: Path) -> Path:
    path = folder / "bad.mp4"
    path.write_bytes(b"not a video at all")
    return path


@pytest.mark.parametrize(
    ("make", "output", "named"),
    [
        (corrupt_video, "out.mp4", "bad.mp4"),
        (lambda folder: folder / "missing.mov", "out.mp4", "missing.mov"),
        (lambda folder: write_frames(folder / "clip"), "out.png", "out.png"),  # a video needs a video suffix
    ],
)
def test_unusable_inputs_are_one_line_naming_the_file(
    tmp_path: Path,
    style: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path], Path],
    output: str,
    named: str,
) -> None:
    code, _, err = run_cli(capsys, "stylize", str(make(tmp_path)), str(style), "-o", str(tmp_path / output))
    assert code == 2 and len(err.strip().splitlines()) == 1 and named in err, err
    assert not (tmp_path / output).exists()
