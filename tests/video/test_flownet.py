"""The three flow networks of DFF Appendix A, the scale field and flow resizing."""

import pytest
import torch
import torch.nn.functional as F

from semvis.nn.warp import warp
from semvis.video import FLOWNETS, FlowEstimate, build_flownet, count_flops, resize_flow
from semvis.video.flownet import SIMPLE_DECONV, SIMPLE_LAYERS


def conv_params(c_in: int, c_out: int, kernel: int) -> int:
    return kernel * kernel * c_in * c_out + c_out


def flownet_params(divisor: int, scale_channels: int) -> int:
    """FlowNetS' layer table (widths ÷ ``divisor``): encoder, then per refinement level a 3×3 flow
    predictor, a 4×4 flow upsampler (2 → 2) and a 4×4 feature deconvolution, then the 3×3 head."""
    encoder, c_in, widths = 0, 6, {}
    for name, kernel, _, c_out in SIMPLE_LAYERS:
        encoder += conv_params(c_in, c_out // divisor, kernel)
        c_in = widths[name] = c_out // divisor
    decoder = 0
    for skip, deconv in zip(("conv5_1", "conv4_1", "conv3_1", "conv2"), SIMPLE_DECONV):
        deconv //= divisor
        decoder += conv_params(c_in, 2, 3) + conv_params(2, 2, 4) + conv_params(c_in, deconv, 4)
        c_in = widths[skip] + deconv + 2
    return encoder + decoder + conv_params(c_in, 2 + scale_channels, 3)


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(
    ("name", "divisor", "refined"), [("simple", 1, [1024, 1026, 770, 386, 194]), ("half", 2, [512, 514, 386, 194, 98])]
)
def test_parameter_counts_follow_the_layer_table(name: str, divisor: int, refined: list[int]) -> None:
    with torch.device("meta"):
        net = build_flownet(name)
        assert n_params(net) == flownet_params(divisor, 0)
        assert n_params(build_flownet(name, scale_channels=1024)) == flownet_params(divisor, 1024)
    # the refinement sees conv6_1, then FlowNetS' concatenations [skip, deconvolved features, flow]
    assert [p.in_channels for p in net.predict] + [net.head.in_channels] == refined
    assert flownet_params(1, 0) == 38_676_514


@pytest.mark.parametrize("name", FLOWNETS)
def test_flow_at_stride_4_of_the_half_size_input(name: str) -> None:
    torch.manual_seed(0)
    net = build_flownet(name, scale_channels=8).eval()
    with torch.no_grad():
        for (h, w), expected in [((64, 96), (8, 12)), ((50, 70), (7, 9))]:  # ⌈⌈n/2⌉/4⌉
            out = net(torch.rand(2, 3, h, w), torch.rand(2, 3, h, w))
            assert isinstance(out, FlowEstimate)
            assert out.flow.shape == (2, 2, *expected) and out.scale.shape == (2, 8, *expected)
    assert build_flownet(name).eval()(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)).scale is None


def test_half_and_inception_cost_a_quarter_and_an_eighth() -> None:
    """§4: FlowNet Half has about 1/4 of FlowNet's complexity, FlowNet Inception about 1/8."""
    with torch.device("meta"):
        frame = torch.empty(1, 3, 512, 1024)
        flops = {name: count_flops(build_flownet(name), frame, frame) for name in FLOWNETS}
    assert 0.2 < flops["half"] / flops["simple"] < 0.3
    assert 0.1 < flops["inception"] / flops["simple"] < 0.15


def test_scale_field_starts_at_one_and_then_warping_with_zero_flow_is_the_identity() -> None:
    torch.manual_seed(0)
    net = build_flownet("inception", scale_channels=16)
    out = net(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    assert torch.equal(out.scale, torch.ones_like(out.scale))
    features = torch.rand(1, 16, 8, 8)
    torch.testing.assert_close(warp(features, torch.zeros(1, 2, 8, 8), out.scale.detach()), features)
    out.scale.sum().backward()  # S is learnable: its weights get gradients
    assert net.head.weight.grad[2:].abs().sum() > 0 and net.head.bias.grad[2:].abs().sum() > 0


def test_resize_flow_scales_the_vectors_with_the_grid() -> None:
    flow = torch.empty(1, 2, 16, 24)
    flow[:, 0], flow[:, 1] = 8.0, -4.0  # pixels of a stride-4 grid
    resized = resize_flow(flow, (4, 6))  # the stride-16 grid of the same frame
    torch.testing.assert_close(resized[:, 0], torch.full((1, 4, 6), 2.0))
    torch.testing.assert_close(resized[:, 1], torch.full((1, 4, 6), -1.0))


def test_resized_flow_aligns_coarse_features_in_the_warp_direction() -> None:
    """current(p) = key(p + 8 px): the flow from current to key is +8 px on the frame; at stride
    16 it is ½ px, and warping the key's stride-16 features by it gives the current's."""
    ramp = torch.arange(64.0).expand(1, 1, 64, 64)
    key, current = ramp, ramp + 8  # a ramp shifted left by 8 px
    flow = torch.zeros(1, 2, 64, 64)
    flow[:, 0] = 8.0
    warped = warp(F.avg_pool2d(key, 16), resize_flow(flow, (4, 4)))
    torch.testing.assert_close(warped[..., :3], F.avg_pool2d(current, 16)[..., :3])


def test_rejects_unknown_names_and_mismatched_frames() -> None:
    with pytest.raises(ValueError, match="unknown flow network"):
        build_flownet("flownet2")
    with pytest.raises(ValueError, match="two B×3×H×W frames"):
        build_flownet("half")(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 48))
