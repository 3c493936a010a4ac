"""FLOP counts against hand computation, r (eq. 5/6) and the speedup of eq. 7."""

import pytest
import torch
from torch import nn

from semvis.segment.pspnet import PSP_BINS, PSPNet
from semvis.video import (
    Complexity,
    DeepFeatureFlow,
    FlowEstimate,
    SegmentationTask,
    build_dff,
    count_flops,
    dff_complexity,
    segmenter_dff,
    speedup,
    zero_flow,
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


def psp_head_flops(
    c: int, bins: tuple[int, ...], fuse: int, classes: int, grid: tuple[int, int], size: tuple[int, int]
) -> int:
    """PSPNet's head by hand: per bin b a 1×1 conv C → C/4 on b² cells and its bilinear upsampling to the grid,
    the 3×3 fuse conv on the 2C-channel concatenation, the 1×1 classifier and the upsampling to the frame."""
    cells = grid[0] * grid[1]
    branches = sum(2 * c * (c // len(bins)) * b * b + 8 * (c // len(bins)) * cells for b in bins)
    return branches + 2 * 9 * 2 * c * fuse * cells + 2 * fuse * classes * cells + 8 * classes * size[0] * size[1]


@pytest.mark.parametrize(("fuse", "frame", "grid"), [(64, (96, 64), (8, 12)), (256, (854, 480), (60, 106))])
def test_pspnet_head_as_n_task_matches_a_hand_count(fuse: int, frame: tuple[int, int], grid: tuple[int, int]) -> None:
    """N_task of ``segmenter_dff(PSPNet)``: a small config, and the bundled segmenter's (gray VGG-19, fuse width 256,
    11 classes) at 854×480, where the head costs 30.1 GFLOPs (docs/video.md; 60.2 was the default width 512's)."""
    with torch.device("meta"):
        net = PSPNet(11, "vgg19", in_channels=1, channels=fuse, aux=False)
    cost = dff_complexity(segmenter_dff(net).eval(), frame, zero_flow)
    width, height = frame
    assert cost.task == psp_head_flops(512, PSP_BINS, fuse, 11, grid, (height, width))
    if fuse == 256:
        assert round(cost.task / 1e9, 1) == 30.1 and round(cost.features / 1e9, 1) == 407.6
        assert round(cost.ratio, 3) == 0.069
