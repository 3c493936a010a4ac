"""Backbone registry: ``@register_backbone`` builders and ``create_backbone``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from semvis.backbones.base import Backbone, FeatureExtractor

BackboneBuilder = Callable[..., Backbone]
_BUILDERS: dict[str, BackboneBuilder] = {}


def register_backbone(builder: BackboneBuilder) -> BackboneBuilder:
    """Register a builder under its function name (``vgg19``, ``xception``…)."""
    _BUILDERS[builder.__name__] = builder
    return builder


def list_backbones() -> list[str]:
    return sorted(_BUILDERS)


def create_backbone(
    name: str,
    pretrained: bool | str | Path = False,
    num_classes: int | None = None,
    output_stride: int = 32,
    features: Sequence[str] | None = None,
    **kwargs: object,
) -> Backbone | FeatureExtractor:
    """Build a registered backbone.

    Args:
        name: a name from :func:`list_backbones`.
        pretrained: ``False`` (random init), ``True`` (the default weights of ``name``),
            a weight entry name (``"vgg19.torchvision"``) or a local file path.
        num_classes: size of the classifier; ``None`` builds no classifier.
        output_stride: 32, 16 or 8; lower strides turn strides into dilations.
        features: layer names; when given, returns a :class:`FeatureExtractor` whose
            forward gives a dict of those layers and computes nothing deeper.
        kwargs: architecture switches (e.g. ``pooling="avg"`` for VGG,
            ``residual=False`` for Xception).
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(list_backbones())}")
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
    model = _BUILDERS[name](num_classes=num_classes, output_stride=output_stride, **kwargs)
    if pretrained is not False:
        from semvis.weights import load_pretrained

        load_pretrained(model, name, pretrained)
    if features:
        return FeatureExtractor(model, features)
    return model
