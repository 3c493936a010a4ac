"""Training on cached maps: targets in resized pixels, the loss and where its gradient goes; a checkpoint evaluated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.detect.data import Frame, Sequence, load_frame
from semvis.detect.evaluate import evaluate_dff, load_trained
from semvis.detect.rfcn import Detector
from semvis.detect.train import CachedFrames, FrameTarget, cache_sequence, detection_loss, frame_targets
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
    target = frame_targets(tiny_sequence(tmp_path / "seq"), short_side=72)[0]
    assert target.size == (72, 96) and target.labels.tolist() == [1]
    assert target.boxes.tolist() == [[12.0, 12.0, 60.0, 60.0]]
    assert target.ignore.shape == (0, 4) and not target.exhaustive


def test_ignore_regions_are_scaled_and_the_exhaustive_flag_travels_to_the_batch(tmp_path: Path) -> None:
    seq = tiny_sequence(tmp_path / "seq", frames=1)
    frame = seq.frames[0]
    seq = Sequence("tiny", [Frame(frame.path, frame.boxes, frame.labels, torch.tensor([[0.0, 0, 4, 8]]), True)])
    (target,) = frame_targets(seq, short_side=72)
    assert target.ignore.tolist() == [[0.0, 0.0, 8.0, 16.0]] and target.exhaustive
    cached = CachedSplit(torch.randn(1, 320, 5, 6).half(), torch.zeros(1, dtype=torch.int16))
    maps, boxes, labels, size, ignore, exhaustive = CachedFrames(cached, [target])[0]
    assert size.tolist() == [72, 96] and ignore.shape == (1, 4) and bool(exhaustive)


def test_the_loss_trains_the_new_layers_and_leaves_the_backbone_alone() -> None:
    torch.manual_seed(0)
    detector = Detector(3)
    detector.features.backbone.requires_grad_(False)
    cached = CachedSplit(torch.randn(2, 320, 6, 8).half(), torch.arange(2, dtype=torch.int16))
    target = FrameTarget(torch.tensor([[20.0, 10, 70, 80]]), torch.tensor([2]), torch.zeros(0, 4), (96, 128), False)
    targets = [target] * 2
    item = CachedFrames(cached, targets)[1]
    batch = tuple(t[None] for t in item)
    loss, logs = detection_loss(detector, batch)
    loss.backward()
    assert set(logs) == {"rpn_cls", "rpn_box", "cls", "box"} and torch.isfinite(loss)
    assert detector.features.reduce.weight.grad.abs().sum() > 0 and detector.task.ps_cls.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in detector.features.backbone.parameters())


def test_an_exhaustive_frame_without_objects_still_trains_on_its_negatives() -> None:
    torch.manual_seed(0)
    detector = Detector(3)
    cached = CachedSplit(torch.randn(1, 320, 6, 8).half(), torch.zeros(1, dtype=torch.int16))
    target = FrameTarget(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.zeros(0, 4), (96, 128), True)
    batch = tuple(t[None] for t in CachedFrames(cached, [target])[0])
    loss, logs = detection_loss(detector, batch)
    assert torch.isfinite(loss) and logs["rpn_cls"] > 0 and logs["cls"] > 0
    assert logs["rpn_box"] == 0 and logs["box"] == 0


def test_the_cache_is_computed_with_batchnorm_in_eval_mode(tmp_path: Path) -> None:
    torch.manual_seed(0)
    detector = Detector(3)
    seq = tiny_sequence(tmp_path / "seq", frames=1)
    cached = cache_sequence(detector, seq, tmp_path / "cache", short_side=48)
    assert detector.training  # the mode is restored
    image = load_frame(seq.frames[0], 48)[0][None]
    with torch.no_grad():
        expected = detector.eval().features.embed(image)[0]
    torch.testing.assert_close(cached.features[0].float(), expected, atol=2e-2, rtol=1e-2)


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
