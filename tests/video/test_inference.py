"""Algorithm 1 over synthetic clips: key frames, propagation, flow functions and streaming."""

from unittest.mock import Mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semvis.video import (
    AdaptiveSchedule,
    DeepFeatureFlow,
    DenseFlow,
    DISFlow,
    FixedInterval,
    build_dff,
    run_video,
    zero_flow,
)


@pytest.fixture(scope="module")
def model() -> DeepFeatureFlow:
    torch.manual_seed(0)
    return build_dff(4, flownet=None).eval()


def scene(seed: int, frames: int, noise: float = 0.0) -> list[torch.Tensor]:
    """A smooth random picture, repeated with independent noise."""
    g = torch.Generator().manual_seed(seed)
    picture = F.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=(32, 32), mode="bilinear")
    return [(picture + noise * torch.rand(picture.shape, generator=g)).clamp(0, 1) for _ in range(frames)]


def test_feature_network_runs_exactly_on_frames_0_l_2l(model: DeepFeatureFlow) -> None:
    frames = [torch.full((1, 3, 32, 32), i / 10) for i in range(10)]  # frame i holds i / 10

    def index(frame: torch.Tensor) -> int:
        return round(frame.mean().item() * 10)

    seen: list[int] = []
    hook = model.features.register_forward_hook(lambda module, args, out: seen.append(index(args[0])))
    flow = Mock(wraps=zero_flow)
    try:
        results = list(run_video(model, frames, FixedInterval(3), flow))
    finally:
        hook.remove()
    assert seen == [0, 3, 6, 9]
    assert [r.key for r in results] == [i % 3 == 0 for i in range(10)]
    assert [r.index for r in results] == list(range(10))
    # F runs on the other frames, against the latest key frame
    pairs = [(index(current), index(key)) for (current, key), _ in flow.call_args_list]
    assert pairs == [(i, i - i % 3) for i in range(10) if i % 3]


def test_zero_flow_on_a_static_video_equals_the_per_frame_network(model: DeepFeatureFlow) -> None:
    frames = scene(0, 5)
    results = list(run_video(model, frames, FixedInterval(4), zero_flow))
    with torch.no_grad():
        features = model.features(frames[0])
        per_frame = model.classify(features, (32, 32))
        propagated = model.classify(model.propagate(features, zero_flow(frames[1], frames[0])), (32, 32))
    torch.testing.assert_close(propagated, per_frame)
    for result in results:
        assert torch.equal(result.labels, per_frame.argmax(1)[0])
    assert [r.key for r in results] == [True, False, False, False, True]


def test_adaptive_schedule_makes_a_key_frame_at_a_scene_cut(model: DeepFeatureFlow) -> None:
    clip = scene(1, 6, noise=0.02) + scene(2, 6, noise=0.02)
    adaptive = list(run_video(model, clip, AdaptiveSchedule(0.1, measure="residual"), zero_flow))
    assert [r.index for r in adaptive if r.key] == [0, 6]
    fixed = list(run_video(model, clip, FixedInterval(10), zero_flow))
    assert [r.index for r in fixed if r.key] == [0, 10]


def test_streams_uint8_frames_lazily_with_timing(model: DeepFeatureFlow) -> None:
    def frames():
        for _ in range(3):
            yield np.full((32, 48, 3), 128, np.uint8)

    stream = run_video(model, frames(), flow=zero_flow)
    first = next(stream)  # computed before the remaining frames are read
    assert first.key and first.labels.shape == (32, 48) and first.labels.dtype == torch.int64
    rest = list(stream)
    assert [r.key for r in rest] == [False, False] and all(r.seconds > 0 for r in [first, *rest])
    with pytest.raises(ValueError, match="one RGB frame"):
        next(run_video(model, [torch.rand(2, 3, 32, 32)], flow=zero_flow))


def test_without_a_flow_network_or_function_it_refuses(model: DeepFeatureFlow) -> None:
    with pytest.raises(ValueError, match="pass a flow function"):
        next(run_video(model, [torch.rand(1, 3, 32, 32)]))


def test_dis_flow_plugs_in_as_hand_crafted_flow(model: DeepFeatureFlow) -> None:
    pytest.importorskip("cv2")
    g = torch.Generator().manual_seed(3)
    texture = F.interpolate(torch.rand(1, 3, 24, 24, generator=g), size=(96, 96), mode="bilinear")
    key, current = texture[..., 8:72], texture[..., 11:75]  # current(p) = key(p + (3, 0))
    estimate = DISFlow()(current, key)
    assert estimate.scale is None and estimate.flow.shape == (1, 2, 96, 64)
    assert estimate.flow[0, 0, 16:-16, 16:-16].median().item() == pytest.approx(3.0, abs=0.5)
    results = list(run_video(model, [key, current], flow=DISFlow("fast")))
    assert [r.key for r in results] == [True, False] and results[1].labels.shape == (96, 64)


def test_a_dense_flow_plugs_in_without_a_scale_field(model: DeepFeatureFlow) -> None:
    """:class:`DenseFlow` wraps a plain ``flow(frame1, frame2)`` such as :class:`semvis.flow.RAFTFlow`."""
    from semvis.flow import RAFTFlow

    calls: list[tuple[torch.Size, torch.Size]] = []

    def shift(current: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        calls.append((current.shape, key.shape))
        return torch.full((1, 2, *current.shape[-2:]), 3.0)

    frames = scene(4, 2)
    estimate = DenseFlow(shift)(frames[1], frames[0])
    assert estimate.scale is None and torch.equal(estimate.flow, torch.full((1, 2, 32, 32), 3.0))
    assert calls == [(frames[1].shape, frames[0].shape)]
    results = list(run_video(model, frames, flow=DenseFlow(RAFTFlow(iterations=2, weights=False))))
    assert [r.key for r in results] == [True, False] and results[1].labels.shape == (32, 32)
