"""Xception (Chollet 2017): Fig. 5 layout, Table 3 size, Figs. 9-10 switches, dilation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from semvis.backbones import KERAS_TF, create_backbone
from semvis.backbones.xception import ENTRY_WIDTHS, EXIT_WIDTHS, MaxPoolSame, Xception


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_parameter_count_is_table3() -> None:
    model = create_backbone("xception", num_classes=1000)
    assert n_params(model) == 22_855_952
    assert n_params(create_backbone("xception")) == 22_855_952 - (2048 * 1000 + 1000)


def test_no_residual_drops_exactly_the_residual_convs_and_bns() -> None:
    ins = [64] + [w[-1] for w in ENTRY_WIDTHS]
    outs = [w[-1] for w in ENTRY_WIDTHS] + [EXIT_WIDTHS[-1]]
    residual = sum(i * o + 2 * o for i, o in zip(ins, outs))  # 1×1 conv + BN gamma/beta
    assert residual == 977_072
    model = create_backbone("xception", num_classes=1000, residual=False)
    assert n_params(model) == 22_855_952 - residual
    assert all(getattr(stage, "shortcut", None) is None for stage in model.stages.values())


def test_intermediate_activation_keeps_size_changes_outputs() -> None:
    torch.manual_seed(0)
    base = create_backbone("xception").eval()
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        ref = base.forward_features(x, ["entry2"])["entry2"]
        for act in ("relu", "elu"):
            model = create_backbone("xception", intermediate_activation=act).eval()
            assert n_params(model) == n_params(base)
            model.load_state_dict(base.state_dict())
            out = model.forward_features(x, ["entry2"])["entry2"]
            assert out.shape == ref.shape and not torch.allclose(out, ref)


def test_keras_batchnorm_settings_and_input_spec() -> None:
    model = create_backbone("xception")
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 40 and {(m.eps, m.momentum) for m in bns} == {(1e-3, 0.01)}
    assert model.input_spec == KERAS_TF


@pytest.mark.parametrize("output_stride, exit_size", [(32, 10), (16, 19), (8, 37)])
def test_feature_sizes_on_299(output_stride: int, exit_size: int) -> None:
    model = create_backbone("xception", output_stride=output_stride).eval()
    with torch.no_grad():
        feats = model.forward_features(torch.rand(1, 3, 299, 299), model.feature_names)
    assert list(feats) == ["conv1", "conv2", "entry1", "entry2", "entry3"] + [f"middle{i}" for i in range(1, 9)] + [
        "exit",
        "exit_conv",
    ]
    for name, feat in feats.items():
        info = model.feature_info[name]
        assert feat.shape[1] == info.channels
        assert info.reduction <= output_stride
        # 'valid' stem: 299 → 149 → 147; afterwards every 'same' stride-2 pool halves, rounding up.
        expected = {"conv1": 149, "conv2": 147}.get(name, math.ceil(147 * 2 / info.reduction))
        assert feat.shape[-2:] == (expected, expected), name
    assert feats["exit"].shape[-1] == exit_size
    assert model.feature_info["exit_conv"].channels == 2048
    assert model.feature_info["exit"].channels == 1024


def test_output_stride_8_dilates_after_the_removed_strides() -> None:
    model = create_backbone("xception", output_stride=8)
    dilation = {
        name: stage.units[0].conv.depthwise.dilation[0]
        for name, stage in model.stages.items()
        if hasattr(stage, "units")
    }
    assert dilation["entry2"] == dilation["entry3"] == 1
    assert dilation["middle1"] == dilation["exit"] == 2
    assert model.stages["exit_conv"][0].conv.depthwise.dilation == (4, 4)
    assert model.stages["exit"].shortcut.conv.stride == (1, 1)


def test_maxpool_same_follows_tensorflow_padding() -> None:
    # TF 'same': an even input gets its one padded column at the end, so windows start at 0.
    x = torch.arange(6.0).view(1, 1, 1, 6).expand(1, 1, 3, 6)
    assert MaxPoolSame(3, 2)(x)[0, 0, 0].tolist() == [2.0, 4.0, 5.0]
    odd = torch.arange(5.0).view(1, 1, 1, 5)
    assert MaxPoolSame(3, 2)(odd)[0, 0, 0].tolist() == [1.0, 3.0, 4.0]
    assert MaxPoolSame(3, 1)(odd)[0, 0, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 4.0]


def test_forward_features_stops_early() -> None:
    model = create_backbone("xception").eval()

    def boom(*_: object) -> None:
        raise AssertionError("the middle flow ran")

    model.stages["middle1"].register_forward_pre_hook(boom)
    with torch.no_grad():
        out = model.forward_features(torch.rand(1, 3, 40, 40), ["entry1", "conv2"])
    assert list(out) == ["conv2", "entry1"] and out["entry1"].shape[1] == 128


def test_heads() -> None:
    x = torch.rand(2, 3, 40, 40)
    with torch.no_grad():
        assert create_backbone("xception").eval()(x).shape == (2, 2048, 2, 2)
        model = create_backbone("xception", num_classes=7, fc_layers=(32, 16)).eval()
        assert model(x).shape == (2, 7)
    assert model.head.classifier.in_features == 16
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.5 for m in model.head) == 3
    with pytest.raises(ValueError, match="num_classes"):
        Xception(fc_layers=(64,))
