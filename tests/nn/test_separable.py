import pytest
import torch
from torch import nn

from semvis.nn import ConvBNAct, SeparableConv2d, make_activation


def test_separable_equals_depthwise_then_pointwise_by_hand() -> None:
    torch.manual_seed(0)
    conv = SeparableConv2d(3, 5, 3)
    x = torch.rand(1, 3, 6, 6)
    manual = torch.zeros(1, 3, 6, 6)
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    for c in range(3):
        for i in range(6):
            for j in range(6):
                manual[0, c, i, j] = (padded[0, c, i : i + 3, j : j + 3] * conv.depthwise.weight[c, 0]).sum()
    expected = torch.einsum("oc,nchw->nohw", conv.pointwise.weight[:, :, 0, 0], manual)
    torch.testing.assert_close(conv(x), expected)


def test_parameter_count_is_k2_c_plus_c_n() -> None:
    conv = SeparableConv2d(728, 728, 3)
    assert sum(p.numel() for p in conv.parameters()) == 3 * 3 * 728 + 728 * 728


@pytest.mark.parametrize("act", ["relu", "elu"])
def test_intermediate_activation_sits_between_the_convolutions(act: str) -> None:
    torch.manual_seed(0)
    plain, with_act = (
        SeparableConv2d(4, 4, intermediate_activation=None),
        SeparableConv2d(4, 4, intermediate_activation=act),
    )
    with_act.load_state_dict(plain.state_dict())
    x = torch.randn(1, 4, 5, 5)
    expected = with_act.pointwise(make_activation(act)(with_act.depthwise(x)))
    torch.testing.assert_close(with_act(x), expected)
    assert not torch.allclose(plain(x), with_act(x))


def test_dilation_keeps_size_and_stride_halves_it() -> None:
    x = torch.rand(1, 2, 16, 16)
    assert SeparableConv2d(2, 3, 3, dilation=4)(x).shape == (1, 3, 16, 16)
    assert SeparableConv2d(2, 3, 3, stride=2)(x).shape == (1, 3, 8, 8)
    assert ConvBNAct(2, 3, 3, stride=2, dilation=2)(x).shape == (1, 3, 8, 8)


def test_unknown_activation() -> None:
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        make_activation("swish")


def test_fuse_conv_bn_keeps_outputs_and_removes_batch_norm() -> None:
    from semvis.nn.fuse import fuse_conv_bn

    torch.manual_seed(0)
    model = nn.Sequential(ConvBNAct(3, 8), SeparableConv2d(8, 4), nn.BatchNorm2d(4))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    model.eval()
    fused = fuse_conv_bn(model)
    x = torch.rand(2, 3, 9, 9)
    torch.testing.assert_close(fused(x), model(x), atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
