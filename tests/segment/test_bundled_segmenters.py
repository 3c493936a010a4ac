"""The shipped DeepLabv3+ photo segmenters: their files, and what they do on CamVid test frames."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import needs_mobilenet_weights
from safetensors import safe_open

from semvis.bundled import PHOTO_SEGMENTERS, bundled_model
from semvis.data import SegmentationDataset
from semvis.segment import DeepLabV3Plus, confusion_matrix, load_segmenter, scores, segment


@needs_mobilenet_weights
@pytest.mark.parametrize("kind", ["rgb", "gray"])
def test_the_bundled_photo_segmenters_are_deeplab_heads_on_the_frozen_mobilenet(kind: str) -> None:
    path = bundled_model(PHOTO_SEGMENTERS[kind])
    assert path.stat().st_size < 4_000_000  # the head only; the backbone comes from the registry
    with safe_open(str(path), "pt") as handle:
        assert not any(k.startswith("backbone.") for k in handle.keys())
    model, labels = load_segmenter(path)
    assert isinstance(model, DeepLabV3Plus) and model.config["backbone"] == "mobilenet_v2"
    assert model.in_channels == (3 if kind == "rgb" else 1)
    assert len(labels.classes) == 11 and labels.ignore_index == 11


@needs_mobilenet_weights
@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rgb", "gray"])
def test_the_bundled_photo_segmenters_label_camvid_test_frames(camvid: Path, kind: str) -> None:
    model, labels = load_segmenter(bundled_model(PHOTO_SEGMENTERS[kind]))
    test = SegmentationDataset(camvid, "test")
    conf = torch.zeros(11, 11, dtype=torch.int64)
    for index in range(0, len(test), 80):  # 3 frames spread over the split
        image, label = test[index]
        conf += confusion_matrix(segment(model, image), label, 11, labels.ignore_index)
    result = scores(conf)
    assert result["pixel_acc"] > 0.75 and result["miou"] > 0.35, result
