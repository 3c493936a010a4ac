"""Weight files of video models: DFF's N without its ImageNet backbone, and any N for `semvis video`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from semvis.data import LabelSpec
from semvis.errors import WeightsError
from semvis.segment.models import load_segmenter
from semvis.video.dff import DeepFeatureFlow, build_dff, segmenter_dff

#: Header key of a DFF file's description (classes, backbone entry, training notes).
META_KEY = "semvis.dff"
#: The frozen ImageNet backbone, left out of DFF files and fetched through the registry.
BACKBONE_PREFIX = "features.backbone."


def save_dff(
    model: DeepFeatureFlow, path: str | Path, labels: LabelSpec, backbone_weights: str, notes: dict[str, Any]
) -> Path:
    """N of a segmentation DFF (fp16) and its flow network F if it has one, without the VGG-19 backbone,
    which the header names by registry entry."""
    from semvis.weights import save_safetensors

    flownet = None if model.flow is None else model.flow.name
    description = asdict(labels) | {"backbone_weights": backbone_weights, "flownet": flownet, "notes": notes}
    return save_safetensors(model, path, {META_KEY: json.dumps(description)}, skip_prefix=BACKBONE_PREFIX)


def load_dff(path: str | Path) -> tuple[DeepFeatureFlow, LabelSpec]:
    """A DFF model from :func:`save_dff`'s file (with F if it was saved with one), backbone from the
    registry; eval mode."""
    from semvis.weights import load_state, read_config_header, read_state

    description = read_config_header(path, META_KEY, "Deep Feature Flow")
    try:
        labels = LabelSpec(
            tuple(description["classes"]), tuple(tuple(c) for c in description["colors"]), description["ignore_index"]
        )
        model = build_dff(
            len(labels.classes),
            "vgg19",
            flownet=description.get("flownet"),
            pretrained=description["backbone_weights"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: malformed {META_KEY!r} header ({type(exc).__name__}: {exc})") from None
    state, _ = read_state(Path(path))
    load_state(model, state, str(path), kept_prefix=BACKBONE_PREFIX)
    return model.eval(), labels


def load_video_model(path: str | Path) -> tuple[DeepFeatureFlow, LabelSpec]:
    """N for Algorithm 1 from a DFF file (:func:`save_dff`) or any segmenter file with a features/classify split."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            is_dff = META_KEY in (handle.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None
    if is_dff:
        return load_dff(path)
    segmenter, labels = load_segmenter(path)
    try:
        return segmenter_dff(segmenter), labels
    except TypeError as exc:
        raise WeightsError(f"{path}: {exc}") from None
