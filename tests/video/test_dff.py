"""N_feat, N_task and their composition with F and W."""

import pytest
import torch

from semvis.video import DeepFeatureFlow, FeatureNetwork, FlowEstimate, SegmentationTask, build_dff


@pytest.mark.parametrize(("backbone", "width"), [("vgg19", 512), ("xception", 2048)])
def test_feature_network_is_the_dilated_backbone_at_stride_16_then_1024_channels(backbone: str, width: int) -> None:
    torch.manual_seed(0)
    net = FeatureNetwork(backbone).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 64, 96)).shape == (1, 1024, 4, 6)
    assert (net.conv.in_channels, net.conv.kernel_size, net.conv.dilation, net.conv.padding) == (
        width,
        (3, 3),
        (6, 6),
        (6, 6),
    )


def test_task_is_one_1x1_convolution_upsampled_to_the_frame() -> None:
    task = SegmentationTask(1024, 20)
    assert [type(m).__name__ for m in task.modules()] == ["SegmentationTask", "Conv2d"]
    assert task.classifier.kernel_size == (1, 1)
    assert task(torch.rand(2, 1024, 4, 6), (64, 96)).shape == (2, 20, 64, 96)


@pytest.mark.parametrize("scale_head", ["conv", "pooled"])
def test_training_pair_reaches_every_part(scale_head: str) -> None:
    torch.manual_seed(0)
    model = build_dff(5, flownet="inception", scale_head=scale_head)
    assert model.flow.scale_head == scale_head and model.flow.scale_channels == 1024
    key, frame = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    logits = model(key, frame)
    assert logits.shape == (2, 5, 64, 64)
    logits.square().mean().backward()
    scale = [] if model.flow.scale is None else [model.flow.scale]
    for part in (model.features.conv, model.features.backbone, model.flow.encoder, model.flow.head, *scale, model.task):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())


def test_propagation_with_zero_flow_and_unit_scale_is_the_identity() -> None:
    features = torch.rand(1, 32, 4, 6)
    estimate = FlowEstimate(torch.zeros(1, 2, 8, 12), torch.ones(1, 32, 8, 12))  # at stride 8, resized to 16
    torch.testing.assert_close(DeepFeatureFlow.propagate(features, estimate), features)
    halved = DeepFeatureFlow.propagate(features, FlowEstimate(torch.zeros(1, 2, 4, 6), torch.full((1, 32, 4, 6), 0.5)))
    torch.testing.assert_close(halved, features / 2)


def test_without_flow_network_forward_asks_for_a_flow_function() -> None:
    model = build_dff(3, flownet=None)
    assert model.flow is None
    with pytest.raises(ValueError, match="flow function"):
        model(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
