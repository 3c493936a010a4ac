"""Forward–backward consistency (Ruder et al. 2016), end-point error and flicker."""

import numpy as np
import pytest
import torch

from semvis.flow import end_point_error, flicker, occlusion_mask
from semvis.nn.warp import warp

H, W = 12, 16


def constant_flow(u: float, v: float) -> torch.Tensor:
    flow = torch.zeros(1, 2, H, W)
    flow[:, 0], flow[:, 1] = u, v
    return flow


def test_consistent_translation_reliable_except_the_border_it_leaves() -> None:
    # frame t+1 = frame t moved by (3, 2): its pixels with x < 3 or y < 2 come from outside frame t
    mask = occlusion_mask(constant_flow(3, 2), constant_flow(-3, -2))
    expected = torch.zeros(1, 1, H, W)
    expected[..., 2:, 3:] = 1
    torch.testing.assert_close(mask, expected)


def test_inconsistent_pair_is_flagged() -> None:
    # both flows point the same way: |w̃ + ŵ|² = 4·13 = 52 > 0.01·26 + 0.5
    assert occlusion_mask(constant_flow(3, 2), constant_flow(3, 2)).sum() == 0
    # a small mismatch passes: |w̃ + ŵ|² = 0.25 < 0.01·0.25 + 0.5; 0.64 > 0.01·0.64 + 0.5 does not
    assert occlusion_mask(constant_flow(0.5, 0), constant_flow(0, 0)).sum() == H * W
    assert occlusion_mask(constant_flow(0.8, 0), constant_flow(0, 0)).sum() == 0


def test_alphas_are_the_thresholds() -> None:
    fw, bw = constant_flow(0.8, 0), constant_flow(0, 0)
    assert occlusion_mask(fw, bw, alpha2=0.65).sum() == H * W
    assert occlusion_mask(fw, bw, alpha1=0.0, alpha2=0.63).sum() == 0


def test_motion_boundary_is_flagged() -> None:
    # the right half moves back by 0.2 px, the left half stands still: consistent everywhere,
    # but the flow jumps between columns 7 and 8 (central-difference gradient 0.1 there)
    bw = torch.zeros(1, 2, H, W)
    bw[..., 0, :, W // 2 :] = -0.2
    fw = -warp(bw, bw)  # exactly consistent except at the jump
    mask = occlusion_mask(fw, bw)
    # |∇û|² = 0.01 > 0.01·0.04 + 0.002 on the two columns next to the jump
    assert (mask[..., :, W // 2 - 1 : W // 2 + 1] == 0).all()
    assert (mask[..., :, : W // 2 - 1] == 1).all() and (mask[..., :, W // 2 + 1 :] == 1).all()


def test_accepts_arrays_and_rejects_mismatch() -> None:
    fw = np.zeros((H, W, 2), np.float32)
    assert occlusion_mask(fw, fw).shape == (1, 1, H, W)
    with pytest.raises(ValueError, match="same shape"):
        occlusion_mask(fw, np.zeros((H, W + 1, 2), np.float32))


def test_end_point_error_by_hand() -> None:
    gt = np.zeros((2, 2, 2), np.float32)
    flow = gt.copy()
    flow[0, 0] = (3, 4)  # EPE 5 at one pixel of four
    assert end_point_error(flow, gt) == pytest.approx(1.25)
    gt[1, 1] = (1e10, 0)  # unknown ground truth is left out
    assert end_point_error(flow, gt) == pytest.approx(5 / 3)


def test_flicker_zero_for_exactly_moving_frames() -> None:
    base = torch.rand(1, 3, H, W + 4)
    frames = [base[..., 4 - t : 4 - t + W] for t in range(4)]  # content moves right by 1 px per frame
    flows = [constant_flow(-1, 0)] * 3  # frame t(x) = frame t−1(x − 1)
    assert flicker(frames, flows) == pytest.approx(0.0, abs=1e-7)
    # without flow the frames differ
    assert flicker(frames, [constant_flow(0, 0)] * 3) > 0.1


def test_flicker_known_value_and_masks() -> None:
    frames = [torch.full((1, 3, H, W), c) for c in (0.2, 0.5, 0.4)]
    zero = constant_flow(0, 0)
    assert flicker(frames, [zero, zero]) == pytest.approx((0.3 + 0.1) / 2)
    half = torch.zeros(1, 1, H, W)
    half[..., : H // 2, :] = 1
    frames[2][..., H // 2 :, :] = 1.0  # only in the masked-out half
    assert flicker(frames, [zero, zero], masks=[half, half]) == pytest.approx((0.3 + 0.1) / 2)


def test_flicker_rejects_bad_input() -> None:
    frame = torch.rand(1, 3, H, W)
    with pytest.raises(ValueError, match="one flow per consecutive pair"):
        flicker([frame, frame], [])
    with pytest.raises(ValueError, match="masks"):
        flicker([frame, frame], [constant_flow(0, 0)], masks=[])
    with pytest.raises(ValueError, match="no reliable pixels"):
        flicker([frame, frame], [constant_flow(W, 0)])
