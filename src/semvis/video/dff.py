"""Deep Feature Flow (Zhu et al. 2017): N = N_task ∘ N_feat, with features propagated along flow.

- **N_feat** (:class:`FeatureNetwork`): a dilated ImageNet backbone at feature stride 16
  (VGG-19 ``relu5_4``, 512 channels, or Xception ``exit_conv``, 2048 — the stages PSPNet uses)
  followed, as §4, by a randomly initialised 3×3 convolution to 1024 channels with dilation 6,
  and a ReLU (as the official code's ``feat_conv_3x3_relu``).
- **N_task** (:class:`SegmentationTask`): the one learnable layer of §4 — a 1×1 convolution to
  the score maps (pass ``C + 1`` for C categories and background, as the paper) — with the
  logits upsampled bilinearly to the frame; softmax belongs to the loss, argmax to inference.
  Any module called as ``task(features, size)`` can stand in (detection, later).
- **F** (:mod:`semvis.video.flownet`) and **W** (:meth:`DeepFeatureFlow.propagate`): the flow
  and scale field from the current frame to the key frame are resized to the feature grid
  (vectors scaled) and the key frame's features are warped bilinearly and multiplied by S
  (eq. 1–3, :func:`semvis.nn.warp.warp`).

``DeepFeatureFlow(key_frame, frame)`` is the training-pair forward: N_task(W(N_feat(key),
F(frame, key))). Inference over a video is :func:`semvis.video.inference.run_video`.

:func:`segmenter_dff` lets any segmenter with a ``features`` / ``classify`` split (PSPNet) serve
as N in Algorithm 1, with a plug-in flow function instead of F.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from semvis.backbones import FeatureExtractor, create_backbone, stage_roles
from semvis.data import match_channels
from semvis.nn.warp import warp
from semvis.train.cache import Maps
from semvis.video.flownet import FlowEstimate, build_flownet, resize_flow
from semvis.weights import register_model

#: §4: feature stride 16, a 3×3 convolution to 1024 channels with dilation 6.
FEATURE_STRIDE = 16
FEATURE_CHANNELS = 1024
FEATURE_DILATION = 6


class FeatureNetwork(nn.Module):
    """N_feat: dilated backbone at stride 16 → 3×3 conv (dilation 6) to ``channels`` → ReLU.

    Args:
        backbone: a registered backbone with a ``dense`` stage role (``vgg19``, ``xception``, ``mobilenet_v2``).
        pretrained: ImageNet weights, as for :func:`~semvis.backbones.create_backbone`.
        channels: output channels of the new convolution (1024 in the paper).
    """

    def __init__(
        self, backbone: str = "vgg19", pretrained: bool | str | Path = False, channels: int = FEATURE_CHANNELS
    ) -> None:
        super().__init__()
        self.arch = backbone
        self.layer = stage_roles(backbone).dense
        self.backbone: FeatureExtractor = create_backbone(
            backbone, pretrained, output_stride=FEATURE_STRIDE, features=[self.layer]
        )
        (info,) = self.backbone.feature_info
        self.conv = nn.Conv2d(info.channels, channels, 3, padding=FEATURE_DILATION, dilation=FEATURE_DILATION)
        self.relu = nn.ReLU()
        self.out_channels = channels
        self.stride = FEATURE_STRIDE

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``B × 3 × H × W`` RGB in [0, 1] → ``B × channels × H/16 × W/16`` features."""
        return self.relu(self.conv(self.backbone(frames)[self.layer]))


class SegmentationTask(nn.Module):
    """N_task for segmentation: 1×1 conv to ``num_classes`` score maps, upsampled to the frame."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.classifier = nn.Conv2d(in_channels, num_classes, 1)
        self.num_classes = num_classes

    def forward(self, features: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """Logits ``B × num_classes × size`` (bilinear, ``align_corners=False``)."""
        return F.interpolate(self.classifier(features), size=tuple(size), mode="bilinear", align_corners=False)


class DeepFeatureFlow(nn.Module):
    """N_feat, F, W and N_task composed (Zhu et al. 2017, Fig. 2 and eq. 1–3).

    Args:
        features: N_feat, a module mapping frames to features (with ``out_channels``).
        flow: F, called as ``flow(current, key)`` → :class:`~semvis.video.flownet.FlowEstimate`;
            ``None`` for a model used only with an external flow function
            (:func:`~semvis.video.inference.run_video` takes one).
        task: N_task, called as ``task(features, size)``.
    """

    def __init__(self, features: nn.Module, flow: nn.Module | None, task: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.flow = flow
        self.task = task

    @staticmethod
    def propagate(key_features: Maps, estimate: FlowEstimate) -> Maps:
        """W: warp the key frame's features onto the current frame, times the scale field (eq. 1–3).

        The flow (any resolution, vectors in pixels of its own grid) and the scale field are
        resized bilinearly to the feature grid first, as the paper's parameter-free layer. Named
        maps (DeepLabv3+'s dense and low-level ones) are each warped on their own grid; a scale
        field, which has one map's width, is refused for them.
        """
        if isinstance(key_features, dict):
            if estimate.scale is not None:
                raise ValueError("a scale field scales one feature map, not named maps")
            return {name: DeepFeatureFlow.propagate(maps, estimate) for name, maps in key_features.items()}
        size = key_features.shape[-2:]
        flow = resize_flow(estimate.flow, size)
        scale = estimate.scale
        if scale is not None:
            scale = F.interpolate(scale, size=size, mode="bilinear", align_corners=False)
        return warp(key_features, flow, scale)

    def classify(self, features: Maps, size: Sequence[int]) -> torch.Tensor:
        """N_task on (possibly propagated) features, at ``size``."""
        return self.task(features, size)

    def forward(self, key_frame: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """Task output for ``frame`` from the features of ``key_frame`` (a training pair)."""
        if self.flow is None:
            raise ValueError("this model has no flow network; give run_video a flow function instead")
        features = self.propagate(self.features(key_frame), self.flow(frame, key_frame))
        return self.classify(features, frame.shape[-2:])


def build_dff(
    num_classes: int,
    backbone: str = "vgg19",
    flownet: str | None = "simple",
    pretrained: bool | str | Path = False,
    scale_head: str = "conv",
) -> DeepFeatureFlow:
    """DFF for segmentation: :class:`FeatureNetwork`, ``build_flownet(flownet)`` with a scale
    field of the feature width predicted by ``scale_head`` (or no flow network for ``None``),
    :class:`SegmentationTask`."""
    features = FeatureNetwork(backbone, pretrained)
    flow = None if flownet is None else build_flownet(flownet, features.out_channels, scale_head)
    return DeepFeatureFlow(features, flow, SegmentationTask(features.out_channels, num_classes))


register_model("dff", build_dff)


class SegmenterFeatures(nn.Module):
    """N_feat of a segmenter with a ``features`` / ``classify`` split: RGB frames (luma for a gray
    model, ``in_channels = 1``) → ``segmenter.features``."""

    def __init__(self, segmenter: nn.Module) -> None:
        super().__init__()
        self.segmenter = segmenter

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.segmenter.features(match_channels(frames, self.segmenter.in_channels))


class SegmenterTask(nn.Module):
    """N_task of a segmenter with a ``features`` / ``classify`` split: ``segmenter.classify``."""

    def __init__(self, segmenter: nn.Module) -> None:
        super().__init__()
        self.segmenter = segmenter

    def forward(self, features: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return self.segmenter.classify(features, size)


def segmenter_dff(segmenter: nn.Module) -> DeepFeatureFlow:
    """DFF around a trained segmenter: N_feat = ``segmenter.features``, N_task = ``segmenter.classify``.

    The segmenter (e.g. a :class:`~semvis.segment.pspnet.PSPNet`) needs ``features(x)``,
    ``classify(features, size)`` and ``in_channels``. There is no flow network: give
    :func:`~semvis.video.inference.run_video` a flow function (``DISFlow()``, ``zero_flow``);
    without a scale field, W is the plain bilinear warp of :meth:`DeepFeatureFlow.propagate`.
    """
    missing = [name for name in ("features", "classify", "in_channels") if not hasattr(segmenter, name)]
    if missing:
        raise TypeError(f"{type(segmenter).__name__} has no features/classify split (lacks {', '.join(missing)})")
    return DeepFeatureFlow(SegmenterFeatures(segmenter), None, SegmenterTask(segmenter))
