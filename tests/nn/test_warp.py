"""Bilinear backward warping against a direct loop over the kernel g(a, b) = max(0, 1 − |a − b|)."""

import math

import pytest
import torch

from semvis.nn.warp import sample_positions, warp


def warp_by_loop(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """output(p) = Σ_q g(q_x, p_x + u) g(q_y, p_y + v) input(q), q over the image only."""
    b, c, h, w = features.shape
    out = torch.zeros_like(features)
    for n in range(b):
        for y in range(h):
            for x in range(w):
                sx, sy = x + flow[n, 0, y, x].item(), y + flow[n, 1, y, x].item()
                for qy in (math.floor(sy), math.floor(sy) + 1):
                    for qx in (math.floor(sx), math.floor(sx) + 1):
                        if 0 <= qx < w and 0 <= qy < h:
                            weight = max(0.0, 1 - abs(qx - sx)) * max(0.0, 1 - abs(qy - sy))
                            out[n, :, y, x] += weight * features[n, :, qy, qx]
    return out


def test_matches_loop_with_fractional_and_out_of_range_flow() -> None:
    g = torch.Generator().manual_seed(0)
    features = torch.rand(2, 3, 5, 6, generator=g, dtype=torch.float64)
    flow = (torch.rand(2, 2, 5, 6, generator=g, dtype=torch.float64) - 0.5) * 16  # many samples leave the image
    flow[0, :, 0, 0] = torch.tensor([-0.25, 0.5])  # partly outside the top-left corner
    flow[0, :, 2, 5] = torch.tensor([0.5, 0.0])  # half a pixel beyond the right edge
    out = warp(features, flow)
    torch.testing.assert_close(out, warp_by_loop(features, flow), atol=1e-12, rtol=0)
    assert out[0, :, 2, 5].allclose(0.5 * features[0, :, 2, 5])
    outside = (flow[:, 0] < -6) | (flow[:, 0] > 6) | (flow[:, 1] < -5) | (flow[:, 1] > 5)
    assert outside.any() and (out.permute(1, 0, 2, 3)[:, outside] == 0).all()


def test_zero_flow_is_identity_and_integer_flow_shifts() -> None:
    features = torch.rand(1, 4, 7, 9)
    torch.testing.assert_close(warp(features, torch.zeros(1, 2, 7, 9)), features)
    flow = torch.zeros(1, 2, 7, 9)
    flow[:, 0], flow[:, 1] = 2, -1  # output(x, y) = input(x + 2, y − 1)
    out = warp(features, flow)
    torch.testing.assert_close(out[..., 1:, :-2], features[..., :-1, 2:])
    assert (out[..., 0, :] == 0).all() and (out[..., -2:] == 0).all()


def test_single_row_and_column() -> None:
    features = torch.arange(5.0).view(1, 1, 1, 5)
    flow = torch.zeros(1, 2, 1, 5)
    flow[:, 0] = 0.5
    torch.testing.assert_close(warp(features, flow), torch.tensor([[[[0.5, 1.5, 2.5, 3.5, 2.0]]]]))
    column = features.transpose(2, 3)
    torch.testing.assert_close(warp(column, flow.transpose(2, 3).flip(1)), warp(features, flow).transpose(2, 3))


def test_sample_positions_are_pixel_plus_flow() -> None:
    flow = torch.rand(2, 2, 3, 4)
    positions = sample_positions(flow)
    assert positions.shape == (2, 2, 3, 4)
    torch.testing.assert_close(positions[1, :, 2, 3], flow[1, :, 2, 3] + torch.tensor([3.0, 2.0]))


def test_scale_multiplies_the_result() -> None:
    features, flow = torch.rand(1, 3, 4, 4), torch.rand(1, 2, 4, 4)
    scale = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(warp(features, flow, scale), warp(features, flow) * scale)


def test_gradcheck_features_flow_and_scale() -> None:
    g = torch.Generator().manual_seed(1)
    features = torch.rand(1, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    # fractional parts well away from integers, where the bilinear kernel has a kink
    whole = torch.randint(-2, 3, (1, 2, 4, 5), generator=g).double()
    flow = (whole + 0.2 + 0.6 * torch.rand(1, 2, 4, 5, generator=g, dtype=torch.float64)).requires_grad_()
    scale = torch.rand(1, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(warp, (features, flow, scale))


def test_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="B×C×H×W"):
        warp(torch.rand(3, 4, 4), torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"1×2×4×4"):
        warp(torch.rand(1, 3, 4, 4), torch.zeros(1, 2, 4, 5))
