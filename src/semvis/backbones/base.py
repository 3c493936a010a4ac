"""The contract every semvis backbone follows.

A backbone is an ordered sequence of *named stages* (``self.stages``) followed by an
optional classification ``head``. It always takes **RGB images in [0, 1]**; the input
convention of its weights (channel order, value range, mean/std) is applied inside
by ``self.normalize``, so style losses, segmentation heads and feature flow never
need to know whether the weights came from Caffe, torchvision or Keras.

``forward_features(x, layers)`` returns the requested stages' outputs and stops
after the deepest one (early exit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from semvis.weights.spec import TORCHVISION_RGB, InputSpec


@dataclass(frozen=True)
class StageRoles:
    """Which named stage of a backbone plays which part for the networks built on it (PSPNet, DFF, hashing).

    Each family declares its roles where it registers its builder (``@register_backbone(roles=…)``).

    Attributes:
        dense: the last feature stage, run dilated at output stride 8 or 16 (PSPNet's main
            input, DFF's N_feat).
        aux: an intermediate stage for PSPNet's auxiliary head.
        semifinal: the "semifinal conv block" of deep hashing, a map at 1/8 of the input.
        semifinal_stride: the output stride to build the backbone with so ``semifinal`` is at 1/8.
        low: a map at 1/4 of the input for DeepLabv3+'s decoder (its "low-level features").
    """

    dense: str
    aux: str
    semifinal: str
    semifinal_stride: int
    low: str


class InputNormalize(nn.Module):
    """Maps RGB in [0, 1] to the convention of an :class:`InputSpec` (no parameters)."""

    def __init__(self, spec: InputSpec = TORCHVISION_RGB) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.ones(1, 3, 1, 1), persistent=False)
        self.set_spec(spec)

    def set_spec(self, spec: InputSpec) -> None:
        self.spec = spec
        self.mean.copy_(torch.tensor(spec.mean).view(1, 3, 1, 1) / spec.scale)
        self.std.copy_(torch.tensor(spec.std).view(1, 3, 1, 1) / spec.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected an N×3×H×W RGB batch, got shape {tuple(x.shape)}")
        if self.spec.channel_order == "BGR":
            x = x.flip(1)
        return (x - self.mean) / self.std


@dataclass(frozen=True)
class FeatureInfo:
    """Channels and total stride (``reduction``) of one named stage's output."""

    name: str
    channels: int
    reduction: int


class Backbone(nn.Module):
    """Base class: ``normalize`` → named ``stages`` (in order) → ``head``.

    ``weights_source`` names the file the weights came from; ``head_source`` the file the
    classifier's weights came from, ``None`` for a head that holds no trained weights (random,
    or left initialised because the file had none), which :func:`semvis.classify.classify` refuses to use.
    """

    #: Side length of the images the architecture was trained on.
    default_input_size = 224

    def __init__(self) -> None:
        super().__init__()
        self.normalize = InputNormalize()
        self.stages = nn.ModuleDict()
        self.feature_info: dict[str, FeatureInfo] = {}
        self.head: nn.Module = nn.Identity()
        self.arch = type(self).__name__.lower()  # the registered name, set by create_backbone
        self.weights_source: str | None = None
        self.head_source: str | None = None

    @property
    def input_spec(self) -> InputSpec:
        return self.normalize.spec

    def set_input_spec(self, spec: InputSpec) -> None:
        """Declare the pixel convention of the loaded weights."""
        self.normalize.set_spec(spec)

    @property
    def classifier_keys(self) -> list[str]:
        """State-dict keys of the classification head (empty without one)."""
        return [f"head.{key}" for key in self.head.state_dict()]

    @property
    def feature_names(self) -> list[str]:
        return list(self.stages.keys())

    def _add_stage(self, name: str, module: nn.Module, channels: int, reduction: int) -> None:
        self.stages[name] = module
        self.feature_info[name] = FeatureInfo(name, channels, reduction)

    def check_layers(self, layers: Iterable[str]) -> list[str]:
        """Validate layer names and return them sorted by depth."""
        order = {name: i for i, name in enumerate(self.stages)}
        unknown = [name for name in layers if name not in order]
        if unknown:
            raise ValueError(f"{type(self).__name__} has no layer(s) {unknown}; available: {', '.join(order)}")
        return sorted(set(layers), key=order.__getitem__)

    def forward_features(self, x: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Outputs of the requested stages (default: the last one), computing no deeper."""
        wanted = self.check_layers(layers) if layers else [self.feature_names[-1]]
        remaining = set(wanted)
        out: dict[str, torch.Tensor] = {}
        x = self.normalize(x)
        for name, stage in self.stages.items():
            x = stage(x)
            if name in remaining:
                out[name] = x
                remaining.discard(name)
                if not remaining:
                    break
        return {name: out[name] for name in wanted}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        for stage in self.stages.values():
            x = stage(x)
        return self.head(x)


class FeatureExtractor(nn.Module):
    """Wraps a backbone so that ``forward`` returns a dict of named features.

    Stages deeper than the deepest requested one, and the head, are dropped, so
    they cost neither memory nor time.
    """

    def __init__(self, backbone: Backbone, layers: Sequence[str]) -> None:
        super().__init__()
        self.layers = backbone.check_layers(layers)
        deepest = self.layers[-1]
        names = backbone.feature_names
        for name in names[names.index(deepest) + 1 :]:
            del backbone.stages[name]
            del backbone.feature_info[name]
        backbone.head = nn.Identity()
        self.backbone = backbone

    @property
    def feature_info(self) -> list[FeatureInfo]:
        return [self.backbone.feature_info[name] for name in self.layers]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.backbone.forward_features(x, self.layers)
