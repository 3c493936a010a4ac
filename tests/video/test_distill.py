"""Distilling a teacher flow into F on real video (issue 16): pairs, teacher cache, multi-scale loss, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import davis_like, run_cli, write_frames

from semvis.errors import DataError
from semvis.video import distill
from semvis.video.distill import DistillPairs, VideoPairs, frame_pairs, teacher_cache
from semvis.video.flow_train import MULTISCALE_WEIGHTS, end_point_error, multiscale_loss, save_flownet
from semvis.video.flownet import build_flownet
from semvis.weights.modelfile import read_header


def _constant_teacher(u: float, v: float, calls: list[int]):
    def flow(frame1: np.ndarray, frame2: np.ndarray) -> np.ndarray:
        calls.append(1)
        return np.broadcast_to(np.float32([u, v]), (*frame1.shape[:2], 2)).copy()

    return flow


@pytest.fixture
def teacher(monkeypatch) -> list[int]:
    """Every teacher is a constant flow of (4, −8) px; the list counts its calls."""
    calls: list[int] = []
    monkeypatch.setattr(distill, "teacher_flow", lambda name: _constant_teacher(4.0, -8.0, calls))
    return calls


def test_pairs_go_both_ways_up_to_the_largest_gap_inside_each_sequence() -> None:
    assert sorted(frame_pairs([3, 1], 1)) == [(0, 0, 1), (0, 1, 0), (0, 1, 2), (0, 2, 1)]
    assert len(frame_pairs([10], 5)) == 2 * sum(10 - d for d in range(1, 6))
    with pytest.raises(ValueError, match="max_gap must be at least 1"):
        frame_pairs([3], 0)


def test_the_teacher_cache_round_trips_and_is_computed_once(tmp_path, teacher) -> None:
    pairs = VideoPairs([write_frames(tmp_path / "clip", range(4))], max_gap=2, size=(32, 48))
    assert len(pairs) == 10
    cached = teacher_cache(pairs, "dis", tmp_path / "run")
    assert cached.features.shape == (10, 2, 8, 12) and cached.features.dtype == torch.float16  # stride 4
    torch.testing.assert_close(cached.features[:, 0].float(), torch.full((10, 8, 12), 1.0))  # 4 px / 4
    torch.testing.assert_close(cached.features[:, 1].float(), torch.full((10, 8, 12), -2.0))
    again = teacher_cache(pairs, "dis", tmp_path / "run")
    assert len(teacher) == 10 and torch.equal(again.features, cached.features)  # read back, not recomputed
    first, second, flow = DistillPairs(pairs, again)[3]
    assert first.shape == second.shape == (3, 32, 48) and 0 <= first.min() and first.max() <= 1
    torch.testing.assert_close(flow[:, 4:-4, 4:-4], torch.tensor([4.0, -8.0])[:, None, None].expand(2, 24, 40))
    s, t, later = pairs.pairs[3]
    assert torch.equal((first * 255).round().byte(), pairs.frames[s][t])
    assert torch.equal((second * 255).round().byte(), pairs.frames[s][later])


def test_a_cache_of_other_pairs_is_refused(tmp_path, teacher) -> None:
    clip = write_frames(tmp_path / "clip", range(3))
    cached = teacher_cache(VideoPairs([clip], max_gap=1, size=(32, 32)), "dis", tmp_path / "run")
    pairs = VideoPairs([clip], max_gap=1, size=(32, 32))
    (path,) = (tmp_path / "run").glob("teacher-dis-32x32-*.safetensors")
    type(cached)(cached.features[:2], cached.labels[:2]).save(path)  # a truncated file under the right name
    with pytest.raises(DataError, match="does not hold one flow per pair"):
        teacher_cache(pairs, "dis", tmp_path / "run")


class _Levels(torch.nn.Module):
    """A 'student' predicting a constant flow (pixels of the frame) at each of FlowNet's five grids."""

    def __init__(self, vectors: list[tuple[float, float]]) -> None:
        super().__init__()
        self.vectors = vectors

    def forward(self, current: torch.Tensor, key: torch.Tensor, pyramid: bool = False) -> list[torch.Tensor]:
        b, _, h, w = current.shape
        strides = (128, 64, 32, 16, 8)
        return [
            (torch.tensor(v) / s)[None, :, None, None].expand(b, 2, -(-h // s), -(-w // s))
            for v, s in zip(self.vectors, strides)
        ]


def test_the_multiscale_loss_is_zero_when_the_student_is_the_teacher_and_weighs_coarse_levels_more() -> None:
    frames = torch.rand(2, 3, 256, 384)
    target = torch.tensor([16.0, -8.0])[None, :, None, None].expand(2, 2, 256, 384)
    loss, logs = multiscale_loss(_Levels([(16.0, -8.0)] * 5), (frames, frames, target))
    assert float(loss) < 1e-5 and float(logs["epe"]) < 1e-6
    off = [(16.0 + 128.0, -8.0)] + [(16.0, -8.0)] * 4  # the coarsest level 1 px of its grid off
    loss, logs = multiscale_loss(_Levels(off), (frames, frames, target))
    torch.testing.assert_close(loss, torch.tensor(MULTISCALE_WEIGHTS[0] / MULTISCALE_WEIGHTS[-1]))  # 64
    assert float(logs["epe"]) < 1e-6  # F's own flow is still right


def test_the_moving_weight_counts_pixels_moving_apart_from_the_camera_more() -> None:
    target = torch.zeros(1, 2, 16, 16)
    target[:, 0, :8, :8] = 8.0  # an object (a quarter of the frame) moving 8 px right, the rest still
    on_object, on_background = target.clone(), target.clone()
    on_object[:, 1, :8, :8] += 1.0  # 1 px off on the object
    on_background[:, 1, 8:, :] += 1.0  # 1 px off on half of the background
    assert end_point_error(on_object, target) < end_point_error(on_background, target)  # 0.25 < 0.5
    assert end_point_error(on_object, target, moving=2.0) > end_point_error(on_background, target, moving=2.0)
    still = torch.full((1, 2, 16, 16), 3.0)
    torch.testing.assert_close(end_point_error(still + 1, still, moving=2.0), end_point_error(still + 1, still))


def test_flownet_gives_its_five_flows_coarse_to_fine_the_last_its_own() -> None:
    model = build_flownet("half").eval()
    current, key = torch.rand(2, 1, 3, 256, 384)
    with torch.no_grad():
        levels, estimate = model(current, key, pyramid=True), model(current, key)
    assert [tuple(level.shape[-2:]) for level in levels] == [(2, 3), (4, 6), (8, 12), (16, 24), (32, 48)]
    assert torch.equal(levels[-1], estimate.flow)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "give --photos (synthetic pairs) or --teacher"),
        (("--teacher", "dis"), "--teacher needs real video"),
        (("--video", "somewhere"), "add --teacher dis|raft"),
        (
            ("--teacher", "dis", "--video", "v", "--test", "dog"),
            "--test names DAVIS sequences to hold out: add --davis",
        ),
        (("--teacher", "dis", "--video", "v", "--max-gap", "0"), "--max-gap must be at least 1, got 0"),
        (("--teacher", "dis", "--video", "v", "--moving-weight", "-1"), "--moving-weight must be non-negative"),
    ],
)
def test_the_cli_refuses_incomplete_distillation_settings(capsys, tmp_path, argv, message) -> None:
    code, _, err = run_cli(capsys, "train", "flow", "--out", str(tmp_path / "run"), *argv)
    assert code == 2 and message in err
    assert not (tmp_path / "run").exists()


def test_distillation_from_the_cli_leaves_the_test_sequences_out_and_resumes(capsys, tmp_path, teacher) -> None:
    davis = davis_like(tmp_path / "davis", frames=3)  # sequences a, b, c: c is held out by default
    write_frames(tmp_path / "boxes" / "walk" / "frames", range(3))
    torch.manual_seed(0)
    init = save_flownet(build_flownet("half"), tmp_path / "init.safetensors", {})
    common = ["train", "flow", "--teacher", "dis", "--davis", str(davis), "--video", str(tmp_path / "boxes")]
    common += ["--init", str(init), "--max-gap", "1", "--size", "32", "48", "--batch-size", "4", "--lr", "1e-3"]
    common += ["--out", str(tmp_path / "run")]
    code, out, err = run_cli(capsys, *common, "--epochs", "1")
    assert code == 0, err
    code, out, err = run_cli(capsys, *common, "--epochs", "2", "--resume")
    assert code == 0, err
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    notes = read_header(tmp_path / "run" / "model.safetensors").provenance
    assert notes["sequences"] == ["a", "b", "walk"] and notes["teacher"] == "dis" and notes["pairs"] == 12
    assert len(teacher) == 12  # the teacher ran once per pair, not again on resume
