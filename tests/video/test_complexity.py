"""FLOP counts against hand computation, r (eq. 5/6) and the speedup of eq. 7."""

import pytest
import torch
from torch import nn

from semvis.video import (
    Complexity,
    DeepFeatureFlow,
    FlowEstimate,
    SegmentationTask,
    build_dff,
    count_flops,
    dff_complexity,
    speedup,
)


def test_a_convolution_costs_two_flops_per_multiply_accumulate() -> None:
    conv = nn.Conv2d(3, 8, 5, stride=2, padding=2)
    assert count_flops(conv, torch.rand(1, 3, 10, 12)) == 2 * (5 * 5 * 3) * 8 * (5 * 6)


def test_task_is_a_1x1_convolution_plus_bilinear_upsampling() -> None:
    task = SegmentationTask(1024, 20)
    features = torch.rand(1, 1024, 4, 6)
    assert count_flops(task, features, (64, 96)) == 2 * 1024 * 20 * (4 * 6) + 8 * 20 * (64 * 96)


def test_warp_counts_resizing_flow_and_scale_and_sampling() -> None:
    features = torch.rand(1, 32, 4, 6)
    estimate = FlowEstimate(torch.zeros(1, 2, 8, 12), torch.ones(1, 32, 8, 12))
    expected = 8 * (2 + 32) * (4 * 6) + 8 * 32 * (4 * 6)  # resize flow and S, then sample every value
    assert count_flops(DeepFeatureFlow.propagate, features, estimate) == expected


def test_speedup_of_eq_7() -> None:
    assert speedup(10, 0.1) == pytest.approx(10 / 1.9) and round(speedup(10, 0.1), 2) == 5.26
    assert speedup(1, 0.5) == 1 and speedup(10, 0.0) == 10 and speedup(10, 1.0) == 1
    with pytest.raises(ValueError, match="interval"):
        speedup(0, 0.1)


def test_ratio_of_eq_5_and_its_approximation() -> None:
    cost = Complexity(features=1000, flow=80, warp=10, task=10)
    assert cost.ratio == pytest.approx(100 / 1010)
    assert cost.approximate_ratio == pytest.approx(0.08)
    assert cost.speedup(10) == pytest.approx(10 / (1 + 9 * 100 / 1010))


def test_dff_at_1024x512_counted_on_the_meta_device() -> None:
    with torch.device("meta"):
        model = build_dff(20, "vgg19", "simple")
    cost = dff_complexity(model, (1024, 512))
    # VGG-19 up to relu5_4 (blocks at strides 1, 2, 4, 8, 16) and the dilated 3×3 conv to 1024
    vgg, c_in = 0, 3
    for block, (depth, width) in enumerate(zip((2, 2, 4, 4, 4), (64, 128, 256, 512, 512))):
        for _ in range(depth):
            vgg += 2 * 9 * c_in * width * (512 >> block) * (1024 >> block)
            c_in = width
    assert cost.features == vgg + 2 * 9 * 512 * 1024 * (32 * 64)
    assert cost.task == 2 * 1024 * 20 * (32 * 64) + 8 * 20 * (512 * 1024)
    assert cost.warp == 8 * (2 + 1024) * (32 * 64) + 8 * 1024 * (32 * 64)
    assert 0 < cost.approximate_ratio < cost.ratio < 1
