"""``semvis colorize VIDEO -o OUT.mp4``: end to end on tiny clips with tiny models, and its errors."""

from pathlib import Path

import pytest
import torch
from helpers import SIDE, clip_frame, run_cli, write_frames

from semvis.colorize import SemanticColorizer, save_colorizer
from semvis.data import LabelSpec
from semvis.data.video import VideoWriter, open_frames
from semvis.segment import build_segmenter, save_segmenter

CLASSES = 3


@pytest.fixture
def models(tmp_path: Path) -> list[str]:
    """``--weights`` and ``--segment-weights`` of a tiny random colorizer and gray GridNet, and a small work size."""
    torch.manual_seed(0)
    colorizer = save_colorizer(SemanticColorizer(num_classes=CLASSES, width=4), tmp_path / "colorizer.safetensors")
    spec = LabelSpec(tuple(f"c{i}" for i in range(CLASSES)))
    segmenter = save_segmenter(
        build_segmenter("gridnet", CLASSES, in_channels=1), tmp_path / "segmenter.safetensors", spec
    )
    return ["--weights", str(colorizer), "--segment-weights", str(segmenter), "--work-size", "32"]


def write_video(path: Path, count: int) -> Path:
    with VideoWriter(path, 12.0, (SIDE, SIDE)) as writer:
        for i in range(count):
            writer.write(clip_frame(i))
    return path


@pytest.mark.parametrize("source", ["folder", "mp4"])
def test_the_output_video_has_the_inputs_frames_and_size(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, models: list[str], source: str
) -> None:
    clip = write_frames(tmp_path / "clip", range(5)) if source == "folder" else write_video(tmp_path / "in.mp4", 5)
    out = tmp_path / "out.mp4"
    code, stdout, err = run_cli(capsys, "colorize", str(clip), "-o", str(out), "--key-interval", "2", *models)
    assert code == 0, err
    assert "5 frames, 3 key frames" in stdout.replace("\n", " ")
    video = open_frames(out)
    assert video.size == (SIDE, SIDE) and len(list(video)) == 5
    assert video.fps == (24 if source == "folder" else 12)


def test_max_frames_stops_early(capsys: pytest.CaptureFixture[str], tmp_path: Path, models: list[str]) -> None:
    clip, out = write_frames(tmp_path / "clip", range(4)), tmp_path / "out.mkv"
    code, _, err = run_cli(capsys, "colorize", str(clip), "-o", str(out), "--max-frames", "2", *models)
    assert code == 0, err
    assert len(list(open_frames(out))) == 2


@pytest.mark.parametrize(
    ("source", "output", "extra", "message"),
    [
        ("missing.mp4", "out.mp4", (), "missing.mp4: video file not found"),
        ("clip", "out.png", (), "so the output must be a video"),
        ("clip", "file.txt/out.mp4", (), "cannot write there"),
        ("clip", "out.mp4", ("--labels", "map.png"), "--labels steers one photo"),
        ("clip", None, (), "give -o OUT.mp4"),
        ("clip", "out.mp4", ("--cut-threshold", "0"), "--cut-threshold must be positive"),
        ("clip", "out.mp4", ("--key-interval", "0"), "--key-interval"),
    ],
)
def test_bad_requests_are_one_line_errors_before_any_work(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    source: str,
    output: str | None,
    extra: tuple[str, ...],
    message: str,
) -> None:
    write_frames(tmp_path / "clip")
    (tmp_path / "file.txt").write_text("not a folder")
    out = [] if output is None else ["-o", str(tmp_path / output)]
    # the weight files do not exist: every one of these must be refused before the models load
    code, _, err = run_cli(capsys, "colorize", str(tmp_path / source), *out, *extra, "--weights", "absent.safetensors")
    lines = err.strip().splitlines()  # argparse's own errors (--key-interval 0) come after its usage lines
    assert code == 2 and (len(lines) == 1 or lines[0].startswith("usage: "))
    assert lines[-1].startswith("semvis colorize: error: ") and message in lines[-1]
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".out*"))
