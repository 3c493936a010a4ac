"""Training on cached maps: targets in resized pixels, the loss and where its gradient goes; a checkpoint evaluated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.detect.data import Frame, Sequence
from semvis.detect.evaluate import evaluate_dff, load_trained
from semvis.detect.rfcn import Detector
from semvis.detect.train import CachedFrames, detection_loss, frame_targets
from semvis.train.cache import CachedSplit


def tiny_sequence(folder: Path, frames: int = 3) -> Sequence:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    out = []
    for i in range(frames):
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(rng.integers(0, 255, (36, 48, 3), dtype=np.uint8)).save(path)
        out.append(Frame(path, torch.tensor([[6.0 + i, 6, 30, 30]]), torch.tensor([1])))
    return Sequence("tiny", out)


def test_frame_targets_are_in_the_resized_frames_pixels(tmp_path: Path) -> None:
    boxes, labels, size = frame_targets(tiny_sequence(tmp_path / "seq"), short_side=72)[0]
    assert size == (72, 96) and labels.tolist() == [1]
    assert boxes.tolist() == [[12.0, 12.0, 60.0, 60.0]]


def test_the_loss_trains_the_new_layers_and_leaves_the_backbone_alone() -> None:
    torch.manual_seed(0)
    detector = Detector(3)
    detector.features.backbone.requires_grad_(False)
    cached = CachedSplit(torch.randn(2, 320, 6, 8).half(), torch.arange(2, dtype=torch.int16))
    targets = [(torch.tensor([[20.0, 10, 70, 80]]), torch.tensor([2]), (96, 128))] * 2
    item = CachedFrames(cached, targets)[1]
    batch = tuple(t[None] for t in item)
    loss, logs = detection_loss(detector, batch)
    loss.backward()
    assert set(logs) == {"rpn_cls", "rpn_box", "cls", "box"} and torch.isfinite(loss)
    assert detector.features.reduce.weight.grad.abs().sum() > 0 and detector.task.ps_cls.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in detector.features.backbone.parameters())


@pytest.mark.slow
def test_a_checkpoint_is_evaluated_over_key_intervals(tmp_path: Path) -> None:
    torch.manual_seed(0)
    (tmp_path / "ckpt").mkdir()
    torch.save({"model": Detector(3).state_dict()}, tmp_path / "ckpt" / "checkpoint-epoch0001.pt")
    detector = load_trained(tmp_path / "ckpt")
    report = evaluate_dff(detector, [tiny_sequence(tmp_path / "seq")], [1, 2], short_side=48)
    rows = report["rows"]
    assert report["frames"] == 3 and [r["l"] for r in rows] == [1, 2]
    assert rows[0]["speedup_measured"] == 1.0 and 0 <= rows[1]["mAP"] <= 1
