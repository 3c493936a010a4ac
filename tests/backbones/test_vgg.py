import pytest
import torch

from semvis.backbones import CAFFE_BGR, FeatureExtractor, InputNormalize, create_backbone, list_backbones


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(("name", "expected"), [("vgg16", 138_357_544), ("vgg19", 143_667_240)])
def test_parameter_counts_match_the_imagenet_networks(name: str, expected: int) -> None:
    assert n_params(create_backbone(name, num_classes=1000)) == expected


def test_caffe_layer_names_in_order() -> None:
    names = create_backbone("vgg19").feature_names
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[-3:] == ["conv5_4", "relu5_4", "pool5"]
    assert len([n for n in names if n.startswith("conv")]) == 16
    assert len([n for n in create_backbone("vgg16").feature_names if n.startswith("conv")]) == 13


def test_forward_features_stops_after_the_deepest_requested_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    model = create_backbone("vgg19")

    def boom(x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("a layer deeper than requested was computed")

    monkeypatch.setattr(model.stages["conv4_3"], "forward", boom)
    feats = model.forward_features(torch.rand(1, 3, 32, 32), ["relu4_2", "relu1_1"])
    assert list(feats) == ["relu1_1", "relu4_2"]
    assert feats["relu4_2"].shape == (1, 512, 4, 4)
    assert (feats["relu1_1"] >= 0).all()


def test_conv_output_is_not_modified_by_the_following_relu() -> None:
    feats = create_backbone("vgg19").forward_features(torch.rand(1, 3, 16, 16), ["conv1_1", "relu1_1"])
    assert (feats["conv1_1"] < 0).any()
    assert torch.equal(feats["relu1_1"], feats["conv1_1"].clamp_min(0))


def test_unknown_layer_names_are_listed_in_the_error() -> None:
    with pytest.raises(ValueError, match=r"no layer\(s\) \['relu9_9'\].*conv1_1"):
        create_backbone("vgg19").forward_features(torch.rand(1, 3, 16, 16), ["relu9_9"])


def test_average_pooling_switch() -> None:
    model = create_backbone("vgg19", pooling="avg")
    assert isinstance(model.stages["pool1"], torch.nn.AvgPool2d)
    x = torch.rand(1, 3, 16, 16)
    torch.manual_seed(0)
    max_model = create_backbone("vgg19")
    max_model.load_state_dict(model.state_dict())
    a, b = model.forward_features(x, ["pool1"])["pool1"], max_model.forward_features(x, ["pool1"])["pool1"]
    assert (b >= a - 1e-6).all() and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="pooling"):
        create_backbone("vgg19", pooling="median")


@pytest.mark.parametrize("stride", [32, 16, 8])
def test_output_stride_dilates_and_feature_info_matches(stride: int) -> None:
    model = create_backbone("vgg16", output_stride=stride)
    x = torch.rand(1, 3, 64, 64)
    names = ["relu3_3", "relu4_3", "relu5_3", "pool5"]
    feats = model.forward_features(x, names)
    for name in names:
        assert feats[name].shape[-1] == 64 // model.feature_info[name].reduction
    assert model.feature_info["pool5"].reduction == stride


def test_feature_extractor_drops_deeper_layers_and_head() -> None:
    extractor = create_backbone("vgg19", num_classes=10, features=["relu2_1", "relu1_1"])
    assert isinstance(extractor, FeatureExtractor)
    assert extractor.backbone.feature_names[-1] == "relu2_1"
    assert [i.channels for i in extractor.feature_info] == [64, 128]
    out = extractor(torch.rand(2, 3, 8, 8))
    assert set(out) == {"relu1_1", "relu2_1"} and out["relu2_1"].shape == (2, 128, 4, 4)


def test_caffe_normalisation_is_bgr_minus_mean() -> None:
    norm = InputNormalize(CAFFE_BGR)
    red = torch.zeros(1, 3, 1, 1)
    red[:, 0] = 1.0
    out = norm(red).flatten().tolist()
    assert out == pytest.approx([-103.939, -116.779, 255 - 123.68])


def test_registry_errors() -> None:
    assert {"vgg16", "vgg19"} <= set(list_backbones())
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        create_backbone("resnet")
    with pytest.raises(ValueError, match="output_stride"):
        create_backbone("vgg19", output_stride=4)
