"""Build backbones by name (timm's ``create_model``), with pretrained weights from the registry."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path

from semvis.backbones.base import Backbone, FeatureExtractor, StageRoles
from semvis.weights import load_entry_state, load_state, register_model

BackboneBuilder = Callable[..., Backbone]
_BUILDERS: dict[str, BackboneBuilder] = {}
_ROLES: dict[str, StageRoles] = {}
#: Arguments :func:`create_backbone` passes to every builder itself.
_COMMON = ("num_classes", "output_stride")


def register_backbone(
    builder: BackboneBuilder | None = None, *, roles: StageRoles | None = None
) -> BackboneBuilder | Callable[[BackboneBuilder], BackboneBuilder]:
    """Register a builder under its function name (``vgg19``, ``xception``…); a name registered twice raises.

    Use as ``@register_backbone`` or ``@register_backbone(roles=StageRoles(...))``, which also
    declares which stage plays which part for PSPNet, DFF and hashing (:func:`stage_roles`).
    """

    def register(builder: BackboneBuilder) -> BackboneBuilder:
        if builder.__name__ in _BUILDERS:
            raise ValueError(f"backbone {builder.__name__!r} is already registered")
        _BUILDERS[builder.__name__] = builder
        if roles is not None:
            _ROLES[builder.__name__] = roles
        return builder

    return register if builder is None else register(builder)


def stage_roles(name: str) -> StageRoles:
    """The :class:`StageRoles` a registered backbone declared; ``ValueError`` for one without them."""
    if name not in _ROLES:
        raise ValueError(f"backbone must be one of {sorted(_ROLES)}, got {name!r}")
    return _ROLES[name]


def list_backbones() -> list[str]:
    return sorted(_BUILDERS)


def backbone_options(name: str) -> list[str]:
    """The architecture switches ``name`` takes besides ``num_classes`` and ``output_stride``."""
    return [p for p in inspect.signature(_BUILDERS[name]).parameters if p not in _COMMON]


def load_pretrained(model: Backbone, arch: str, pretrained: bool | str | Path = True) -> Path:
    """Find, verify, convert and load weights into ``model``; return the file used.

    The body must match exactly. The classifier is loaded when the file holds one of the
    model's size; otherwise it stays initialised (a new class count to train, or a headless
    file) and ``model.head_source`` stays ``None``, so classification refuses it.
    """
    state, spec, path, _ = load_entry_state(arch, pretrained)
    report = load_state(model, state, str(path), optional=model.classifier_keys)
    model.set_input_spec(spec)
    untrained = set(report.left_initialised) | set(report.dropped)
    model.weights_source = str(path)
    model.head_source = str(path) if model.classifier_keys and not untrained else None
    return path


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
            a weight entry name (``"vgg19.torchvision"``) or a local file path (``str`` or ``Path``).
        num_classes: size of the classifier; ``None`` builds no classifier.
        output_stride: 32, 16 or 8; lower strides turn strides into dilations.
        features: layer names; when given, returns a :class:`FeatureExtractor` whose
            forward gives a dict of those layers and computes nothing deeper.
        kwargs: architecture switches (:func:`backbone_options`, e.g. ``pooling="avg"`` for VGG,
            ``residual=False`` for Xception); a switch the family lacks is refused by name.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(list_backbones())}")
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
    unknown = sorted(set(kwargs) - set(backbone_options(name)))
    if unknown:
        accepted = ", ".join(backbone_options(name)) or "none"
        raise ValueError(f"{name} has no option {', '.join(unknown)}; its options: {accepted}")
    model = _BUILDERS[name](num_classes=num_classes, output_stride=output_stride, **kwargs)
    model.arch = name
    if pretrained is not False:
        load_pretrained(model, name, pretrained)
    if features:
        return FeatureExtractor(model, features)
    return model


def _build_classifier(arch: str, **config: object) -> Backbone:
    """A backbone as trained by ``semvis train classify`` (model kind ``backbone``)."""
    return create_backbone(arch, **config)  # type: ignore[return-value]


register_model("backbone", _build_classifier)
