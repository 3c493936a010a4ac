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


def test_named_maps_are_each_warped_on_their_own_grid() -> None:
    dense, low = torch.rand(1, 8, 4, 6), torch.rand(1, 4, 16, 24)
    shift = torch.zeros(1, 2, 32, 48)
    shift[:, 0] = 8.0  # 8 px of the 32×48 flow grid: 1 cell of the 4×6 map, 4 of the 16×24 one
    warped = DeepFeatureFlow.propagate({"dense": dense, "low": low}, FlowEstimate(shift, None))
    torch.testing.assert_close(warped["dense"][..., :-1], dense[..., 1:])
    torch.testing.assert_close(warped["low"][..., :-4], low[..., 4:])
    with pytest.raises(ValueError, match="one feature map"):
        DeepFeatureFlow.propagate({"dense": dense}, FlowEstimate(shift, torch.ones(1, 8, 32, 48)))


def test_a_deeplab_segmenter_runs_as_dff_n() -> None:
    from semvis.segment.deeplab import DeepLabV3Plus
    from semvis.video import run_video, segmenter_dff, zero_flow
    from semvis.video.schedule import FixedInterval

    torch.manual_seed(0)
    net = DeepLabV3Plus(3, "mobilenet_v2", width=8).eval()
    frame = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        results = list(run_video(segmenter_dff(net), [frame] * 3, FixedInterval(3), zero_flow))
        expected = net(frame).argmax(1)[0]
    assert all(torch.equal(r.labels, expected) for r in results)  # zero flow: every frame as the key frame
