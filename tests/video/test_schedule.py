"""Key-frame policies and the change measures of adaptive scheduling."""

import pytest
import torch

from semvis.video import AdaptiveSchedule, FixedInterval, FlowEstimate
from semvis.video.schedule import KeyFrameTracker, flow_magnitude, scale_deviation, warp_residual


def test_fixed_interval_is_due_every_l_frames() -> None:
    policy = FixedInterval(3)
    assert [policy.due(n) for n in range(1, 5)] == [False, False, True, True]
    assert FixedInterval().interval == 10
    with pytest.raises(ValueError, match="at least 1"):
        FixedInterval(0)


def test_warp_residual_vanishes_along_the_true_flow() -> None:
    key = torch.rand(1, 3, 16, 16)
    current = torch.zeros_like(key)
    current[..., :-2] = key[..., 2:]  # current(p) = key(p + (2, 0))
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = 1.0  # 1 px on the half-size grid = 2 px on the frame
    assert warp_residual(current, key, FlowEstimate(flow, None)) == pytest.approx(0.0, abs=1e-6)
    assert warp_residual(current, key, FlowEstimate(torch.zeros(1, 2, 8, 8), None)) > 0.1


def test_flow_magnitude_is_in_frame_pixels_and_scale_deviation_from_one() -> None:
    frame = torch.zeros(1, 3, 32, 32)
    flow = torch.empty(1, 2, 4, 4)
    flow[:, 0], flow[:, 1] = 0.3, 0.4  # ½ px on the stride-8 grid = 4 px on the frame
    assert flow_magnitude(frame, frame, FlowEstimate(flow, None)) == pytest.approx(4.0)
    assert scale_deviation(frame, frame, FlowEstimate(flow, None)) == 0.0
    assert scale_deviation(frame, frame, FlowEstimate(flow, torch.full((1, 8, 4, 4), 0.75))) == pytest.approx(0.25)


def test_adaptive_schedule_thresholds_its_measure_and_can_force_keys() -> None:
    frame = torch.zeros(1, 3, 32, 32)
    still, moving = torch.zeros(1, 2, 4, 4), torch.full((1, 2, 4, 4), 2.0)
    policy = AdaptiveSchedule(10.0, measure="flow", max_interval=5)
    assert not policy.changed(frame, frame, FlowEstimate(still, None))
    assert policy.changed(frame, frame, FlowEstimate(moving, None))  # 2√2 · 8 ≈ 22.6 frame px
    assert [policy.due(n) for n in (4, 5)] == [False, True]
    assert not AdaptiveSchedule(0.1).due(1000)
    with pytest.raises(ValueError, match="unknown change measure"):
        AdaptiveSchedule(0.1, measure="entropy")


def test_the_tracker_makes_key_frames_when_due_or_changed_and_flows_to_the_key_otherwise() -> None:
    calls = []

    def flow(current: torch.Tensor, key: torch.Tensor) -> FlowEstimate:
        calls.append((current.item(), key.item()))
        return FlowEstimate(torch.zeros(1, 2, 1, 1), None)

    frames = [torch.tensor(float(i)) for i in range(5)]
    tracker = KeyFrameTracker(FixedInterval(2), flow)
    assert [tracker.step(f) is None for f in frames] == [True, False, True, False, True]
    assert calls == [(1.0, 0.0), (3.0, 2.0)]  # no flow for a frame that is due

    class CutAtThree(FixedInterval):
        def changed(self, current: torch.Tensor, key: torch.Tensor, estimate: FlowEstimate) -> bool:
            return current.item() == 3

    calls.clear()
    tracker = KeyFrameTracker(CutAtThree(10), flow)
    assert [tracker.step(f) is None for f in frames] == [True, False, False, True, False]
    assert calls == [(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 3.0)]
