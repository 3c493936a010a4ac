"""A trained segmenter as N in Algorithm 1, timing summaries and overlay frames."""

from collections.abc import Sequence

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import CLASSES, tiny_pspnet
from torch import nn

from semvis.segment import segment
from semvis.video import (
    DISFlow,
    FixedInterval,
    RunTiming,
    count_flops,
    dff_complexity,
    meta_copy,
    overlay_frame,
    run_video,
    segmenter_dff,
    speedup,
    zero_flow,
)
from semvis.video.render import LEGEND_LINE


class Fake(nn.Module):
    """features: 2×2 average pooling of the channels given; classify: a 1×1 conv, upsampled."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.head = nn.Conv2d(in_channels, 3, 1)
        self.seen: list[int] = []

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.shape[1])
        return F.avg_pool2d(x, 2)

    def classify(self, features: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return F.interpolate(self.head(features), size=tuple(size), mode="bilinear", align_corners=False)


def texture(seed: int, side: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(1, 3, side // 4, side // 4, generator=g), size=(side, side), mode="bilinear")


def test_a_pspnet_serves_as_n_and_zero_flow_on_a_static_clip_equals_per_frame() -> None:
    net = tiny_pspnet()
    frame = texture(0)
    results = list(run_video(segmenter_dff(net), [frame] * 4, FixedInterval(3), zero_flow))
    per_frame = segment(net, frame[0])  # N on the frame's luma
    assert [r.key for r in results] == [True, False, False, True]
    for result in results:
        assert torch.equal(result.labels, per_frame)


def test_gray_segmenters_get_luma_and_rgb_ones_rgb() -> None:
    for channels in (1, 3):
        fake = Fake(channels)
        list(run_video(segmenter_dff(fake), [texture(1)] * 2, flow=zero_flow))
        assert fake.seen == [channels]  # one key frame, in the model's channels


def test_propagation_resizes_dis_flow_to_the_feature_grid() -> None:
    pytest.importorskip("cv2")
    fake = Fake(3)
    model = segmenter_dff(fake)
    big = texture(2, 96)
    key, current = big[..., 16:80, 8:72], big[..., 16:80, 12:76]  # current(p) = key(p + (4, 0))
    estimate = DISFlow()(current, key)
    with torch.no_grad():
        features, target = model.features(key), model.features(current)
        warped = model.propagate(features, estimate)  # 4 frame px = 2 px on the stride-2 grid
    inner = (..., slice(4, -4), slice(4, -4))
    error, unwarped = (warped - target)[inner].abs().mean(), (features - target)[inner].abs().mean()
    assert error < 0.1 * unwarped


def test_modules_without_the_split_are_refused() -> None:
    with pytest.raises(TypeError, match="features/classify"):
        segmenter_dff(nn.Conv2d(3, 3, 1))


def test_flops_of_a_segmenter_with_zero_flow_count_n_feat_w_and_n_task() -> None:
    net = tiny_pspnet()
    cost = dff_complexity(meta_copy(segmenter_dff(net)), (32, 32), zero_flow)
    frame = torch.zeros(1, 1, 32, 32)
    assert cost.features == count_flops(net.features, frame) and cost.flow == 0
    features = net.features(frame)
    assert cost.task == count_flops(net.classify, features, (32, 32))
    assert cost.warp == 8 * 2 * 4 * 4 + 8 * features.shape[1] * 4 * 4  # resize the flow, sample every value
    assert 0 < cost.ratio < 1 and next(net.parameters()).device.type == "cpu"  # the model itself is untouched


def test_run_timing_gives_r_l_and_both_speedups() -> None:
    timing = RunTiming.of([2.0, 0.5, 0.5, 2.0, 0.5, 0.5], [True, False, False, True, False, False])
    assert timing.key_frames == [0, 3] and timing.interval == 3
    assert timing.key_seconds == 2 and timing.nonkey_seconds == 0.5 and timing.ratio == 0.25
    # eq. 7 with the clock's r and l is the key frames' mean time over the mean frame time: an estimate
    assert timing.predicted_speedup == pytest.approx(speedup(3, 0.25)) == pytest.approx(2 / 1.0)
    assert timing.speedup_over(RunTiming.of([2.5] * 6, [True] * 6)) == pytest.approx(15 / 6)
    report = timing.report()
    assert report["frames"] == 6 and report["mean_fps"] == pytest.approx(1.0) and report["r_measured"] == 0.25
    every = RunTiming.of([1.0, 1.0], [True, True])
    assert every.ratio is None and every.predicted_speedup == 1 and every.total_seconds == 2
    with pytest.raises(ValueError, match="a baseline of 2 frames for a run of 6"):
        timing.speedup_over(every)
    with pytest.raises(ValueError, match="key frame"):
        RunTiming.of([1.0], [False])


def test_overlay_frames_keep_the_size_and_blend_the_class_colours() -> None:
    frame = np.zeros((48, 80, 3), np.uint8)
    labels = torch.zeros(48, 80, dtype=torch.int64)
    labels[:, 40:] = 2
    palette = [(200, 0, 0), (0, 200, 0), (0, 0, 200)]
    out = overlay_frame(frame, labels, palette, CLASSES.classes)
    assert out.shape == (48, 80, 3) and out.dtype == np.uint8
    assert tuple(out[-1, 10]) == (100, 0, 0) and tuple(out[-1, 60]) == (0, 0, 100)  # below the legend
    assert tuple(out[5, 5]) == (200, 0, 0) and tuple(out[5 + LEGEND_LINE, 5]) == (0, 0, 200)  # its swatches
