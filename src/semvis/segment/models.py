"""Building segmenters by name, and saving them with everything needed to use them again.

A saved segmenter is one safetensors file. Its header holds, under ``semvis.segmenter``,
the architecture and its constructor arguments, the class names, their colours and the
ignore index of the training data, and a word on the input convention; PSPNet files also
carry the backbone's ``input_spec``. :func:`load_segmenter` rebuilds the model from it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from torch import nn

from semvis.data import LabelSpec
from semvis.errors import WeightsError
from semvis.segment.gridnet import GridNet
from semvis.segment.pspnet import PSPNet

#: Header key of the segmenter description.
META_KEY = "semvis.segmenter"
#: Architectures ``build_segmenter`` knows.
ARCHS = ("gridnet", "pspnet-vgg19", "pspnet-xception")


def arch_of(model: nn.Module) -> str:
    """The :data:`ARCHS` name of a built segmenter."""
    if isinstance(model, GridNet):
        return "gridnet"
    if isinstance(model, PSPNet):
        return f"pspnet-{model.config['backbone']}"
    raise TypeError(f"expected a GridNet or PSPNet, got {type(model).__name__}")


def input_convention(in_channels: int) -> str:
    """How a segmenter with ``in_channels`` inputs wants its pixels."""
    if in_channels == 1:
        return "N×1×H×W gray (ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B) in [0, 1]"
    return "N×3×H×W RGB in [0, 1]"


def build_segmenter(
    arch: str, num_classes: int, in_channels: int = 3, pretrained: bool | str | Path = False, **kwargs: Any
) -> nn.Module:
    """A :class:`GridNet` (always trained from scratch) or a :class:`PSPNet` on ``vgg19`` / ``xception``.

    ``kwargs`` go to the constructor (``total_dropout`` for GridNet; ``output_stride``,
    ``aux``… for PSPNet).
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown segmenter {arch!r}; choose one of {', '.join(ARCHS)}")
    if arch == "gridnet":
        if pretrained:
            raise ValueError("GridNet has no pretrained weights: it is trained from scratch")
        return GridNet(num_classes, in_channels, **kwargs)
    return PSPNet(num_classes, arch.removeprefix("pspnet-"), pretrained, in_channels, **kwargs)


def _rebuild(arch: str, config: dict[str, Any], backbone_weights: str | None) -> nn.Module:
    if arch not in ARCHS:
        raise ValueError(f"unknown segmenter {arch!r}")
    if arch == "gridnet":
        if backbone_weights:
            raise ValueError("GridNet has no separate backbone weights")
        return GridNet(**config)
    return PSPNet(**config, pretrained=backbone_weights or False)


def save_segmenter(
    model: nn.Module, path: str | Path, labels: LabelSpec, half: bool = True, backbone_weights: str | None = None
) -> Path:
    """Write ``model`` (fp16 by default) and its description as one safetensors file.

    ``backbone_weights``: the registry entry of a frozen PSPNet backbone, saved by name only.
    """
    from semvis.weights import save_safetensors

    arch = arch_of(model)
    if len(labels.classes) != model.num_classes:
        raise ValueError(f"{len(labels.classes)} class names for a model of {model.num_classes} classes")
    if backbone_weights is not None and not isinstance(model, PSPNet):
        raise ValueError("backbone_weights applies to PSPNet only")
    description = asdict(labels) | {
        "arch": arch,
        "config": model.config,
        "gray": model.in_channels == 1,
        "input": input_convention(model.in_channels),
        "backbone_weights": backbone_weights,
    }
    meta = {META_KEY: json.dumps(description)}
    if isinstance(model, PSPNet):
        meta["input_spec"] = json.dumps(asdict(model.input_spec))
    skip = "backbone." if backbone_weights is not None else None
    return save_safetensors(model, path, meta, half=half, skip_prefix=skip)


def load_segmenter(path: str | Path) -> tuple[nn.Module, LabelSpec]:
    """Rebuild a model saved by :func:`save_segmenter`; returns it in eval mode with its classes."""
    from semvis.weights import load_state, read_config_header, read_state

    description = read_config_header(path, META_KEY, "segmenter")
    try:
        backbone_weights = description.get("backbone_weights")
        model = _rebuild(description["arch"], description["config"], backbone_weights)
        labels = LabelSpec(
            tuple(str(c) for c in description["classes"]),
            tuple((int(r), int(g), int(b)) for r, g, b in description["colors"]),
            int(description["ignore_index"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: malformed {META_KEY!r} header ({type(exc).__name__}: {exc})") from None
    if len(labels.classes) != model.num_classes:
        raise WeightsError(f"{path}: {len(labels.classes)} class names for a model of {model.num_classes} classes")
    state, spec = read_state(path)
    load_state(model, state, str(path), kept_prefix="backbone." if backbone_weights else None)
    if isinstance(model, PSPNet):
        model.backbone.backbone.set_input_spec(spec)
    return model.eval(), labels
