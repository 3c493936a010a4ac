import pytest
import torch
from helpers import needs_weights

from semvis.backbones import CAFFE_BGR, create_backbone
from semvis.segment import PSPNet


def net(**kwargs: object) -> PSPNet:
    torch.manual_seed(0)
    return PSPNet(**({"num_classes": 5} | kwargs)).eval()


def test_vgg19_at_stride_8_and_16_with_the_auxiliary_head() -> None:
    model = net()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        assert model.features(x).shape == (2, 512, 8, 12)
        logits, aux = model(x, aux=True)
        assert logits.shape == aux.shape == (2, 5, 64, 96)
        assert net(output_stride=16, aux=False).features(x).shape == (2, 512, 4, 6)
    assert model.psp.bins == (1, 2, 3, 6) and model.psp.out_channels == 1024
    assert model.head.conv.conv.out_channels == 512 and model.aux_head.conv.conv.in_channels == 512


def test_features_and_classify_compose_to_forward() -> None:
    """Deep Feature Flow runs N_feat on key frames and N_task on warped features."""
    model = net(aux=False)
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        torch.testing.assert_close(model.classify(model.features(x), x.shape[-2:]), model(x))
        assert model(x, aux=True)[1] is None


def test_gray_input_is_the_rgb_network_on_repeated_pixels() -> None:
    gray, rgb = net(in_channels=1, aux=False), net(aux=False)
    rgb.load_state_dict(gray.state_dict())
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(gray(x), rgb(x.repeat(1, 3, 1, 1)))
    with pytest.raises(ValueError, match=r"N×1×H×W"):
        gray(torch.rand(1, 3, 32, 32))


def test_xception_uses_exit_conv_and_the_middle_flow_for_supervision() -> None:
    model = net(backbone="xception", output_stride=16)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert model.features(x).shape[:2] == (2, 2048)
        logits, aux = model(x, aux=True)
    assert logits.shape == aux.shape == (2, 5, 64, 64)
    assert model.psp.out_channels == 4096 and model.aux_head.conv.conv.in_channels == 728


@needs_weights
def test_pretrained_vgg19_keeps_its_caffe_convention() -> None:
    model = PSPNet(11, pretrained=True)
    assert model.input_spec == CAFFE_BGR
    reference = create_backbone("vgg19", pretrained=True)
    torch.testing.assert_close(model.backbone.backbone.stages["conv5_4"].weight, reference.stages["conv5_4"].weight)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backbone": "resnet50"}, "backbone"),
        ({"in_channels": 2}, "in_channels"),
        ({"output_stride": 32}, "output_stride"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PSPNet(**({"num_classes": 3} | kwargs))
