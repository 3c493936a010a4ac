"""Building segmenters by name, and saving them in semvis' model file.

A saved segmenter is one model file (:mod:`semvis.weights.modelfile`) of kind ``gridnet``,
``pspnet`` or ``deeplab``: its config, its classes (:class:`~semvis.data.LabelSpec`), the input convention
of its backbone and, for a frozen backbone, the registry entry that supplies it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from semvis.data import LabelSpec
from semvis.errors import WeightsError
from semvis.segment.deeplab import DeepLabV3Plus
from semvis.segment.gridnet import GridNet
from semvis.segment.pspnet import PSPNet
from semvis.weights import (
    InputSpec,
    ModelHeader,
    SharedWeights,
    load_model,
    register_legacy_header,
    register_model,
    save_model,
)

#: The segmenters ``build_segmenter`` knows, by the name users give.
ARCHS = (
    "gridnet",
    "pspnet-vgg19",
    "pspnet-xception",
    "pspnet-mobilenet_v2",
    "deeplab-xception",
    "deeplab-mobilenet_v2",
)
#: Model-file kinds of segmenters.
KINDS = ("gridnet", "pspnet", "deeplab")


def input_convention(in_channels: int) -> str:
    """How a segmenter with ``in_channels`` inputs wants its pixels."""
    if in_channels == 1:
        return "N×1×H×W gray (ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B) in [0, 1]"
    return "N×3×H×W RGB in [0, 1]"


def build_segmenter(
    arch: str, num_classes: int, in_channels: int = 3, pretrained: bool | str | Path = False, **kwargs: Any
) -> nn.Module:
    """A :class:`GridNet` (always trained from scratch), a :class:`PSPNet` or a :class:`DeepLabV3Plus`.

    ``kwargs`` go to the constructor (``total_dropout`` for GridNet; ``output_stride``,
    ``aux``… for PSPNet; ``context``, ``width``… for DeepLabv3+).
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown segmenter {arch!r}; choose one of {', '.join(ARCHS)}")
    if arch == "gridnet":
        if pretrained:
            raise ValueError("GridNet has no pretrained weights: it is trained from scratch")
        return GridNet(num_classes, in_channels, **kwargs)
    family, backbone = arch.split("-", 1)
    model = DeepLabV3Plus if family == "deeplab" else PSPNet
    return model(num_classes, backbone, pretrained, in_channels, **kwargs)


def save_segmenter(
    model: GridNet | PSPNet | DeepLabV3Plus,
    path: str | Path,
    labels: LabelSpec,
    half: bool = True,
    backbone_weights: str | None = None,
    provenance: dict[str, Any] | None = None,
    tuned: tuple[str, ...] = (),
) -> Path:
    """Write ``model`` (fp16 by default), its classes and config as one model file.

    ``backbone_weights``: the registry entry of a frozen backbone, saved by name only;
    ``tuned``: prefixes of its fine-tuned stages, which the file stores over the entry's.
    """
    if len(labels.classes) != model.num_classes:
        raise ValueError(f"{len(labels.classes)} class names for a model of {model.num_classes} classes")
    if backbone_weights is not None and isinstance(model, GridNet):
        raise ValueError("backbone_weights applies to pretrained backbones, not GridNet")
    config, shared = dict(model.config), None
    if backbone_weights is not None:
        config["pretrained"] = backbone_weights
        shared = SharedWeights("backbone.", backbone_weights, tuned)
    provenance = {"input": input_convention(model.in_channels)} | (provenance or {})
    return save_model(model, path, model.kind, config, labels.to_dict(), provenance, shared, half)


def load_segmenter(path: str | Path, device: str | None = None) -> tuple[nn.Module, LabelSpec]:
    """Rebuild a segmenter from its model file; returns it in eval mode (on ``device``) with its classes."""
    loaded = load_model(path, KINDS, device, "segmenter")
    if loaded.header.labels is None:
        raise WeightsError(f"{path}: a segmenter file without class names")
    labels = LabelSpec.from_dict(loaded.header.labels)
    if len(labels.classes) != loaded.model.num_classes:
        raise WeightsError(
            f"{path}: {len(labels.classes)} class names for a model of {loaded.model.num_classes} classes"
        )
    return loaded.model, labels


def _upgrade(meta: dict[str, str]) -> ModelHeader:
    """The header of a segmenter file written before the v1 model file (``semvis.segmenter``)."""
    old = json.loads(meta["semvis.segmenter"])
    kind, config, shared, inputs = old["arch"].split("-")[0], dict(old["config"]), None, {}
    if kind not in KINDS:
        raise ValueError(f"unknown segmenter {old['arch']!r}")
    if old.get("backbone_weights"):
        config["pretrained"] = old["backbone_weights"]
        shared = SharedWeights("backbone.", old["backbone_weights"])
    if "input_spec" in meta:
        inputs = {"backbone.backbone.normalize": InputSpec.from_dict(json.loads(meta["input_spec"]))}
    labels = {k: old[k] for k in ("classes", "colors", "ignore_index")}
    return ModelHeader(
        kind, config, labels=labels, inputs=inputs, shared=shared, provenance={"input": old.get("input")}
    )


register_model("gridnet", GridNet)
register_model("pspnet", PSPNet)
register_model("deeplab", DeepLabV3Plus)
register_legacy_header("semvis.segmenter", _upgrade)
