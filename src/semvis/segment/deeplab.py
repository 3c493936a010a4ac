"""DeepLabv3+ (Chen et al. 2018, "Encoder-Decoder with Atrous Separable Convolution") on an ImageNet backbone.

``features`` (N_feat) gives two maps of the dilated backbone: its last stage at output stride 16
(``dense``; Xception ``exit_conv``, MobileNetV2 ``conv_last``) and the low-level map at 1/4
(``low``; :attr:`~semvis.backbones.StageRoles.low`). ``classify`` (N_task) is the context module
on ``dense`` — ASPP (DeepLabv3+, separable branches, rates 6/12/18 at stride 16) or, with
``context="psp"``, PSPNet's pyramid pooling + 3×3 fuse — then DeepLabv3+'s decoder
(:class:`~semvis.nn.aspp.LowLevelDecoder`).

Deviations, named: the low-level map is the backbone stage nearest DeepLab's (see each family's
roles); a dropout of 0.1 precedes the classifier (as mmseg's head has; DeepLab's code has none
there); the PSP context is our option for comparing the two heads on the same decoder.
Gray input (``in_channels=1``) is repeated to RGB, as in :class:`~semvis.segment.pspnet.PSPNet`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from semvis.backbones import FeatureExtractor, create_backbone, stage_roles
from semvis.nn.aspp import ASPP, ASPP_RATES, LowLevelDecoder
from semvis.nn.blocks import ConvBNAct
from semvis.nn.psp import PyramidPooling
from semvis.segment.base import BackboneSegmenter, check_settings
from semvis.segment.pspnet import PSP_BINS

#: Context modules on the dense map.
CONTEXTS = ("aspp", "psp")


class PSPContext(nn.Sequential):
    """PSPNet's pyramid pooling then its 3×3 fuse (to ``width`` channels), as a drop-in for ASPP."""

    def __init__(self, in_channels: int, width: int, dropout: float) -> None:
        super().__init__()
        self.psp = PyramidPooling(in_channels, PSP_BINS, in_channels // len(PSP_BINS))
        self.fuse = ConvBNAct(self.psp.out_channels, width, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.out_channels = width


class DeepLabV3Plus(BackboneSegmenter):
    """Backbone (stride 16 or 8) → ASPP or PSP context → low-level decoder → logits at the input size.

    Args:
        num_classes: output classes.
        backbone: a registered backbone with stage roles (``xception``, ``mobilenet_v2``, ``vgg16``…).
        pretrained: its ImageNet weights, as for :func:`~semvis.backbones.create_backbone`.
        in_channels: 3 for RGB, 1 for gray (repeated to RGB); pixels in [0, 1].
        output_stride: 16 (default) or 8; ASPP rates double at 8 (DeepLabv3 §3.3).
        context: ``aspp`` (default) or ``psp``.
        width: channels of the context output and of the decoder.
        dropout: after the context and before the classifier.
    """

    #: Model-file kind (:func:`semvis.weights.save_model`).
    kind = "deeplab"

    def __init__(
        self,
        num_classes: int,
        backbone: str = "xception",
        pretrained: bool | str | Path = False,
        in_channels: int = 3,
        output_stride: int = 16,
        context: str = "aspp",
        width: int = 256,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_settings(num_classes, in_channels, output_stride)
        if context not in CONTEXTS:
            raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, got {context!r}")
        roles = stage_roles(backbone)
        self.layer, self.low_layer = roles.dense, roles.low
        self.backbone: FeatureExtractor = create_backbone(
            backbone, pretrained, output_stride=output_stride, features=[self.low_layer, self.layer]
        )
        info = {f.name: f for f in self.backbone.feature_info}
        dense = info[self.layer].channels
        if context == "aspp":
            rates = [r * 16 // output_stride for r in ASPP_RATES]
            self.context: nn.Module = ASPP(dense, width, rates, dropout=dropout)
        else:
            self.context = PSPContext(dense, width, dropout)
        self.decoder = LowLevelDecoder(width, info[self.low_layer].channels, num_classes, width, dropout)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.config = {
            "num_classes": num_classes,
            "backbone": backbone,
            "in_channels": in_channels,
            "output_stride": output_stride,
            "context": context,
            "width": width,
            "dropout": dropout,
        }

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """N_feat: ``{"dense": last stage at 1/stride, "low": the 1/4 map}``."""
        stages = self._stages(x)
        return {"dense": stages[self.layer], "low": stages[self.low_layer]}

    def classify(self, features: dict[str, torch.Tensor], size: Sequence[int]) -> torch.Tensor:
        """N_task: class logits at ``size`` from :meth:`features`."""
        return self.decoder(self.context(features["dense"]), features["low"], size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at the input size."""
        return self.classify(self.features(x), x.shape[-2:])
