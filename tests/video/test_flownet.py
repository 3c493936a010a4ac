"""The three flow networks of DFF Appendix A, the scale field and flow resizing."""

import pytest
import torch
import torch.nn.functional as F

from semvis.nn.warp import warp
from semvis.video import FLOWNETS, FlowEstimate, build_flownet, count_flops, resize_flow
from semvis.video.flownet import SCALE_HEADS, SIMPLE_DECONV, SIMPLE_LAYERS, InceptionBlock

#: DFF Appendix A, Tables 6 and 7 as printed: (layer, kernel, stride, # output of FlowNet, of FlowNet Half).
TABLES_6_7 = [
    ("conv1", 7, 2, 64, 32),
    ("conv2", 5, 2, 128, 64),
    ("conv3", 5, 2, 256, 128),
    ("conv3_1", 3, 1, 256, 128),
    ("conv4", 3, 2, 512, 256),
    ("conv4_1", 3, 1, 512, 256),
    ("conv5", 3, 2, 512, 256),
    ("conv5_1", 3, 1, 512, 256),
    ("conv6", 3, 2, 1024, 512),
    ("conv6_1", 3, 1, 1024, 512),
]
#: Table 8 as printed: layer, type, stride, # output, #1x1, #1x1-#3x3, #1x1-#3x3-#3x3, #pool ("" = empty cell).
TABLE_8 = """
conv1   | 7x7 conv     | 2 | 32  |     |         |          |
pool1   | 3x3 max pool | 2 | 32  |     |         |          |
conv2   | Inception    |   | 64  |     | 24-32   | 24-32-32 |
conv3_1 | 3x3 conv     | 2 | 128 |     |         |          |
conv3_2 | Inception    |   | 128 | 48  | 32-64   | 8-16-16  |
conv3_3 | Inception    |   | 128 | 48  | 48-64   | 12-16-16 |
conv4_1 | Reduction    | 2 | 256 | 32  | 112-128 | 28-32-32 | 64
conv4_2 | Inception    |   | 256 | 96  | 112-128 | 28-32-32 |
conv5_1 | Reduction    | 2 | 384 | 48  | 96-192  | 36-48-48 | 96
conv5_2 | Inception    |   | 384 | 144 | 96-192  | 36-48-48 |
conv6_1 | Reduction    | 2 | 512 | 64  | 192-256 | 48-64-64 | 128
conv6_2 | Inception    |   | 512 | 192 | 192-256 | 48-64-64 |
"""


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


def output_strides(net: torch.nn.Module, side: int = 128) -> dict[str, tuple[int, int]]:
    """(stride relative to the half-size input, channels) of every encoder layer's output, by running it."""
    x, out = torch.rand(1, 6, side, side), {}
    for name, layer in net.encoder.items():
        x = layer(x)
        out[name] = (side // x.shape[-1], x.shape[1])
    return out


def convs(module: torch.nn.Module) -> list[torch.nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]


@pytest.mark.parametrize(("name", "column"), [("simple", 3), ("half", 4)])
def test_simple_and_half_are_tables_6_and_7(name: str, column: int) -> None:
    net = build_flownet(name).eval()
    assert list(net.encoder) == [row[0] for row in TABLES_6_7]
    stride = 1
    with torch.no_grad():
        shapes = output_strides(net)
    for row in TABLES_6_7:
        stride *= row[2]
        (conv,) = convs(net.encoder[row[0]])
        assert (conv.kernel_size, conv.stride, conv.out_channels) == ((row[1],) * 2, (row[2],) * 2, row[column])
        assert shapes[row[0]] == (stride, row[column])


def test_inception_is_table_8() -> None:
    net = build_flownet("inception").eval()
    rows = [[cell.strip() for cell in line.split("|")] for line in TABLE_8.strip().splitlines()]
    assert list(net.encoder) == [row[0] for row in rows]
    with torch.no_grad():
        shapes = output_strides(net)
    stride = 1
    for name, kind, row_stride, width, one, double, triple, pool in rows:
        layer, stride = net.encoder[name], stride * int(row_stride or 1)
        assert shapes[name] == (stride, int(width)), name
        if kind == "3x3 max pool":
            assert isinstance(layer, torch.nn.MaxPool2d) and (layer.kernel_size, layer.stride) == (3, 2)
            continue
        if kind.endswith("conv"):
            (conv,) = convs(layer)
            assert conv.kernel_size == (int(kind[0]),) * 2 and conv.stride == (int(row_stride),) * 2
            continue
        assert isinstance(layer, InceptionBlock) and (kind == "Reduction") == bool(pool)
        branches = [[c.out_channels for c in convs(branch)] for branch in layer.branches]
        expected = [[int(one)]] if one else []
        expected += [[int(w) for w in cell.split("-")] for cell in (double, triple) if cell]
        expected += [[int(pool)]] if pool else []
        assert branches == expected, name
        # 1×1 first, then 3×3; stride 2 on the last conv of each conv branch, and on the pooling
        for branch, widths in zip(layer.branches, expected):
            kernels = [c.kernel_size[0] for c in convs(branch)]
            assert kernels == ([1] if len(widths) == 1 else [1] + [3] * (len(widths) - 1))
            strides = [c.stride[0] for c in convs(branch)]
            pooling = [m for m in branch.modules() if isinstance(m, torch.nn.MaxPool2d)]
            if pooling:
                assert pooling[0].stride == int(row_stride) and strides == [1]
            else:
                assert strides == [1] * (len(widths) - 1) + [int(row_stride or 1)]
    # the decoder concatenates conv2, conv3_3, conv4_2 and conv5_2 (Table 8's last layer at each stride)
    assert net.skips == ("conv2", "conv3_3", "conv4_2", "conv5_2")
    assert [p.in_channels for p in net.predict] + [net.head.in_channels] == [
        512,
        384 + 128 + 2,
        256 + 64 + 2,
        128 + 32 + 2,
        64 + 16 + 2,
    ]


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
    """§4: FlowNet Half has about 1/4 of FlowNet's complexity, FlowNet Inception about 1/8 (without a scale field:
    0.266 and 0.143 here; conv1 sees the same 6 channels in all three, so Half is a little over 1/4)."""
    with torch.device("meta"):
        frame = torch.empty(1, 3, 512, 1024)
        flops = {name: count_flops(build_flownet(name), frame, frame) for name in FLOWNETS}
    assert round(flops["half"] / flops["simple"], 3) == 0.266
    assert round(flops["inception"] / flops["simple"], 3) == 0.143


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


def test_inception_block_refuses_a_table_it_cannot_build() -> None:
    with pytest.raises(ValueError, match="2 widths for #1x1-#3x3"):
        InceptionBlock(8, 4, (4,), (2, 4, 4))
    with pytest.raises(ValueError, match="pooling branch belongs to a Reduction"):
        InceptionBlock(8, 4, (4, 8), (2, 4, 4), pool=4)


@pytest.mark.parametrize("name", FLOWNETS)
def test_the_pooled_scale_head_is_a_1x1_conv_at_the_feature_stride(name: str) -> None:
    """``scale_head="pooled"``: S from a 1×1 conv on the last concatenation average-pooled 2×2 (the official code),
    against the paper's reading, 1024 extra channels of the last 3×3 conv at the flow's stride 8."""
    torch.manual_seed(0)
    net = build_flownet(name, scale_channels=16, scale_head="pooled")
    out = net(torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96))
    assert out.flow.shape == (1, 2, 8, 12) and out.scale.shape == (1, 16, 4, 6)
    assert torch.equal(out.scale, torch.ones_like(out.scale)) and net.head.out_channels == 2
    out.scale.sum().backward()
    assert net.scale.weight.grad.abs().sum() > 0 and net.scale.bias.grad.abs().sum() > 0
    width = net.head.in_channels
    with torch.device("meta"):
        frame = torch.empty(1, 3, 512, 1024)
        flops = {head: count_flops(build_flownet(name, 1024, head), frame, frame) for head in SCALE_HEADS}
        bare = count_flops(build_flownet(name), frame, frame)
    assert flops["conv"] - bare == 2 * 9 * width * 1024 * (64 * 128)  # at stride 8 of the frame
    assert flops["pooled"] - bare == 2 * width * 1024 * (32 * 64)  # at stride 16 (pooling is not counted)


def test_with_the_official_scale_field_half_costs_what_table_2_says() -> None:
    """Table 2's 1/r give FlowNet Half / FlowNet = 9.20 / 33.56 = 0.274 (ResNet-50) and 12.71 / 46.30 = 0.275
    (ResNet-101), and Inception 9.20 / 68.97 = 0.133. Counting F with a 1024-channel S from the pooled 1×1 head
    reproduces Half's ratio; our Inception (its decoder is not in Table 8) is 0.153."""
    with torch.device("meta"):
        frame = torch.empty(1, 3, 512, 1024)
        flops = {name: count_flops(build_flownet(name, 1024, "pooled"), frame, frame) for name in FLOWNETS}
    assert flops["half"] / flops["simple"] == pytest.approx(9.20 / 33.56, abs=0.002)
    assert flops["half"] / flops["simple"] == pytest.approx(12.71 / 46.30, abs=0.002)
    assert round(flops["inception"] / flops["simple"], 3) == 0.153


def test_an_unknown_scale_head_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scale head 'dense'"):
        build_flownet("half", 8, "dense")
