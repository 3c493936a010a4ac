"""Model files of video models: DFF's N (and F) without its ImageNet backbone, and any N for `semvis video`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from semvis.data import LabelSpec
from semvis.errors import WeightsError
from semvis.segment.models import load_segmenter
from semvis.video.dff import DeepFeatureFlow, segmenter_dff
from semvis.weights import ModelHeader, SharedWeights, load_model, read_header, register_legacy_header, save_model

#: Model-file kind of a segmentation DFF (:func:`~semvis.video.dff.build_dff`).
KIND = "dff"
#: The frozen ImageNet backbone, left out of DFF files and fetched through the registry.
BACKBONE_PREFIX = "features.backbone."


def save_dff(
    model: DeepFeatureFlow, path: str | Path, labels: LabelSpec, backbone_weights: str, notes: dict[str, Any]
) -> Path:
    """N of a segmentation DFF (fp16) and its flow network F if it has one, without the ImageNet backbone,
    which the header names by registry entry."""
    config = {
        "num_classes": len(labels.classes),
        "backbone": model.features.arch,
        "flownet": None if model.flow is None else model.flow.name,
        "pretrained": backbone_weights,
    }
    if model.flow is not None:
        config["scale_head"] = model.flow.scale_head
    shared = SharedWeights(BACKBONE_PREFIX, backbone_weights)
    return save_model(model, path, KIND, config, labels.to_dict(), notes, shared)


def load_dff(path: str | Path, device: str | None = None) -> tuple[DeepFeatureFlow, LabelSpec]:
    """A DFF model from its model file (with F if it was saved with one), backbone from the registry; eval mode."""
    loaded = load_model(path, (KIND,), device, "Deep Feature Flow")
    if loaded.header.labels is None:
        raise WeightsError(f"{path}: a Deep Feature Flow file without class names")
    return loaded.model, LabelSpec.from_dict(loaded.header.labels)


def load_video_model(path: str | Path, device: str | None = None) -> tuple[DeepFeatureFlow, LabelSpec]:
    """N for Algorithm 1 from a DFF file (:func:`save_dff`) or any segmenter file with a features/classify split."""
    if read_header(path, "video segmentation").kind == KIND:
        return load_dff(path, device)
    segmenter, labels = load_segmenter(path, device)
    try:
        return segmenter_dff(segmenter), labels
    except TypeError as exc:
        raise WeightsError(f"{path}: {exc}") from None


def _upgrade(meta: dict[str, str]) -> ModelHeader:
    """The header of a DFF file written before the v1 model file (``semvis.dff``)."""
    old = json.loads(meta["semvis.dff"])
    config = {
        "num_classes": len(old["classes"]),
        "backbone": "vgg19",
        "flownet": old.get("flownet"),
        "pretrained": old["backbone_weights"],
    }
    labels = {k: old[k] for k in ("classes", "colors", "ignore_index")}
    shared = SharedWeights(BACKBONE_PREFIX, old["backbone_weights"])
    return ModelHeader(KIND, config, labels=labels, shared=shared, provenance=old.get("notes") or {})


register_legacy_header("semvis.dff", _upgrade)
