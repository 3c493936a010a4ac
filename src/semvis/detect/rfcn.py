"""R-FCN (Dai et al. 2016) as Deep Feature Flow's detection N_task (Zhu et al. 2017, §4 "Object Detection").

- **N_feat** (:class:`DetectionFeatures`): a frozen ImageNet MobileNetV2 dilated to stride 16 up to
  ``block7`` (320 channels), then §4's randomly initialised 3×3 convolution to 1024 channels with
  dilation 6 and a ReLU. Deviation: the paper's N_feat is ResNet-101 conv5 (2048 channels); here a
  small pretrained backbone (CPU training), cut at ``block7`` rather than the 1280-channel
  ``conv_last`` because the 3×3 convolution from 1280 channels alone would cost 4× the compute
  and 11.8 M parameters (23.6 MB in fp16, over the 25 MB budget for a shipped model).
- **N_task** (:class:`RFCN`): the first 512 channels feed the RPN — two sibling 1×1 convolutions,
  ``2·n_a`` objectness logits and ``4·n_a`` deltas, ``n_a = 9`` anchors — whose decoded boxes go
  through NMS at IoU 0.7 to 300 proposals; the last 512 channels feed two sibling 1×1
  convolutions to ``(C+1)·k²`` position-sensitive score maps and ``4·k²`` box maps (``k = 7``,
  class-agnostic boxes as R-FCN), read by position-sensitive RoI pooling and voting
  (:mod:`semvis.detect.psroi`); detections are the regressed proposals scored by the softmax,
  NMS at IoU 0.3 per class. As the DFF paper (and unlike Faster R-CNN) there is no 3×3
  convolution before the RPN's 1×1 layers: the 3×3 dilated layer of N_feat plays its part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from semvis.backbones import FeatureExtractor, create_backbone
from semvis.detect.anchors import ASPECT_RATIOS, PAPER_SCALES, PAPER_SHORT_SIDE, base_anchors, grid_anchors
from semvis.detect.boxes import RCNN_WEIGHTS, clip_boxes, decode
from semvis.detect.nms import batched_nms, nms
from semvis.detect.psroi import GRID, ps_roi_pool, vote
from semvis.video.dff import FEATURE_CHANNELS, FEATURE_DILATION, FEATURE_STRIDE
from semvis.weights import register_model

#: The short side frames are resized to. Deviation: R-FCN and DFF use 600 on ImageNet VID; 360
#: (the clips' own height) keeps CPU training affordable. Anchor scales shrink by the same factor.
SHORT_SIDE = 360
#: §4: NMS at IoU 0.7 leaves 300 proposals per image.
RPN_NMS_IOU = 0.7
RPN_POST_NMS = 300
#: Faster R-CNN's test-time proposals before NMS (py-faster-rcnn TEST.RPN_PRE_NMS_TOP_N).
RPN_PRE_NMS = 6000
#: Faster R-CNN's RPN_MIN_SIZE: proposals smaller than 16 px at the 600 px scale (9.6 px at 360) are dropped.
RPN_MIN_SIZE = 16.0
#: §4: NMS at IoU 0.3 on the scored, regressed proposals.
DETECTION_NMS_IOU = 0.3
#: py-faster-rcnn's test_net: keep class scores above 0.05, at most 100 detections per image.
SCORE_THRESHOLD = 0.05
MAX_DETECTIONS = 100
#: The backbone stage N_feat reads (see the module docstring for why not ``conv_last``).
BACKBONE = "mobilenet_v2"
BACKBONE_LAYER = "block7"


def anchor_scales(short_side: int = SHORT_SIDE) -> tuple[float, ...]:
    """Faster R-CNN's 128/256/512 px anchors, scaled from a 600 px short side to ``short_side``."""
    return tuple(s * short_side / PAPER_SHORT_SIDE for s in PAPER_SCALES)


@dataclass(frozen=True)
class Detections:
    """One image's detections: ``N × 4`` boxes (pixels), ``N`` class indices (0-based, no background), ``N`` scores."""

    boxes: torch.Tensor
    labels: torch.Tensor
    scores: torch.Tensor


@dataclass(frozen=True)
class TaskMaps:
    """N_task's per-position outputs for one batch (the maps before any per-region computation)."""

    rpn_logits: torch.Tensor  # B × 2A × h × w
    rpn_deltas: torch.Tensor  # B × 4A × h × w
    score_maps: torch.Tensor  # B × (C+1)k² × h × w
    box_maps: torch.Tensor  # B × 4k² × h × w


class DetectionFeatures(nn.Module):
    """N_feat: frozen backbone at stride 16 → 3×3 conv (dilation 6) to 1024 → ReLU (§4)."""

    def __init__(self, pretrained: bool | str | Path = False, channels: int = FEATURE_CHANNELS) -> None:
        super().__init__()
        self.backbone: FeatureExtractor = create_backbone(
            BACKBONE, pretrained, output_stride=FEATURE_STRIDE, features=[BACKBONE_LAYER]
        )
        (info,) = self.backbone.feature_info
        self.reduce = nn.Conv2d(info.channels, channels, 3, padding=FEATURE_DILATION, dilation=FEATURE_DILATION)
        self.out_channels = channels

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """The frozen part: ``B × 3 × H × W`` RGB in [0, 1] → backbone features (what training caches)."""
        return self.backbone(frames)[BACKBONE_LAYER]

    def head(self, embedded: torch.Tensor) -> torch.Tensor:
        """The learned part: backbone features → ``B × 1024 × H/16 × W/16``."""
        return F.relu(self.reduce(embedded))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(frames))


class RFCN(nn.Module):
    """N_task: RPN on the first half of the channels, position-sensitive maps on the second (§4)."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int = FEATURE_CHANNELS,
        k: int = GRID,
        scales: Sequence[float] | None = None,
        stride: int = FEATURE_STRIDE,
    ) -> None:
        super().__init__()
        if num_classes < 1 or in_channels % 2:
            raise ValueError(f"need num_classes ≥ 1 and even in_channels, got {num_classes}, {in_channels}")
        self.anchors = base_anchors(tuple(scales or anchor_scales()), ASPECT_RATIOS)
        a, half = len(self.anchors), in_channels // 2
        self.rpn_cls = nn.Conv2d(half, 2 * a, 1)
        self.rpn_box = nn.Conv2d(half, 4 * a, 1)
        self.ps_cls = nn.Conv2d(half, (num_classes + 1) * k * k, 1)
        self.ps_box = nn.Conv2d(half, 4 * k * k, 1)
        for conv in (self.rpn_cls, self.rpn_box, self.ps_cls, self.ps_box):
            nn.init.normal_(conv.weight, std=0.01)  # Faster R-CNN / R-FCN initialisation
            nn.init.zeros_(conv.bias)
        self.num_classes, self.k, self.stride = num_classes, k, stride

    def maps(self, features: torch.Tensor) -> TaskMaps:
        """The four sibling 1×1 convolutions over the two halves of the features."""
        rpn_in, det_in = features.chunk(2, dim=1)
        return TaskMaps(self.rpn_cls(rpn_in), self.rpn_box(rpn_in), self.ps_cls(det_in), self.ps_box(det_in))

    def anchor_grid(self, size: tuple[int, int]) -> torch.Tensor:
        """All anchors of a feature map of ``size``, position-major."""
        return grid_anchors(self.anchors, size, self.stride)

    def rpn_outputs(self, maps: TaskMaps, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Image ``index``'s objectness logits ``(h·w·A) × 2`` and deltas ``(h·w·A) × 4``, anchor-ordered."""
        a = len(self.anchors)
        logits = maps.rpn_logits[index].reshape(2, a, -1).permute(2, 1, 0).reshape(-1, 2)
        deltas = maps.rpn_deltas[index].reshape(a, 4, -1).permute(2, 0, 1).reshape(-1, 4)
        return logits, deltas

    @torch.no_grad()
    def proposals(self, maps: TaskMaps, index: int, image_size: tuple[int, int]) -> torch.Tensor:
        """Up to 300 proposals of image ``index``: decode, clip, drop tiny boxes, top 6000, NMS 0.7."""
        logits, deltas = self.rpn_outputs(maps, index)
        anchors = self.anchor_grid(tuple(maps.rpn_logits.shape[-2:])).to(deltas.device)
        boxes = clip_boxes(decode(anchors, deltas.float()), image_size)
        scores = logits.float().softmax(dim=1)[:, 1]
        side = RPN_MIN_SIZE * SHORT_SIDE / PAPER_SHORT_SIDE
        big = ((boxes[:, 2] - boxes[:, 0]) >= side) & ((boxes[:, 3] - boxes[:, 1]) >= side)
        boxes, scores = boxes[big], scores[big]
        top = scores.topk(min(RPN_PRE_NMS, scores.numel())).indices
        return boxes[top][nms(boxes[top], scores[top], RPN_NMS_IOU, RPN_POST_NMS)]

    def classify(self, maps: TaskMaps, index: int, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-RoI class logits ``R × (C+1)`` and box deltas ``R × 4``: PS-RoI pooling, then the vote."""
        scale = 1 / self.stride
        logits = vote(ps_roi_pool(maps.score_maps[index], rois, self.k, scale))
        deltas = vote(ps_roi_pool(maps.box_maps[index], rois, self.k, scale))
        return logits, deltas

    @torch.no_grad()
    def forward(self, features: torch.Tensor, image_size: Sequence[int]) -> list[Detections]:
        """Detections of each image of ``features`` (``B × 1024 × h × w``) for frames of ``image_size``."""
        size = (int(image_size[0]), int(image_size[1]))
        maps = self.maps(features)
        return [self.detect(maps, i, size) for i in range(features.shape[0])]

    def detect(self, maps: TaskMaps, index: int, size: tuple[int, int]) -> Detections:
        """Regressed proposals scored per class, thresholded, NMS 0.3 per class, the best 100."""
        rois = self.proposals(maps, index, size)
        logits, deltas = self.classify(maps, index, rois)
        boxes = clip_boxes(decode(rois, deltas.float(), RCNN_WEIGHTS), size)
        probs = logits.float().softmax(dim=1)[:, 1:]
        roi_index, label = torch.nonzero(probs > SCORE_THRESHOLD, as_tuple=True)
        boxes, scores = boxes[roi_index], probs[roi_index, label]
        keep = batched_nms(boxes, scores, label, DETECTION_NMS_IOU)[:MAX_DETECTIONS]
        return Detections(boxes[keep], label[keep], scores[keep])


class Detector(nn.Module):
    """N = N_task ∘ N_feat for detection; ``num_classes`` excludes the background."""

    def __init__(self, num_classes: int, pretrained: bool | str | Path = False) -> None:
        super().__init__()
        self.features = DetectionFeatures(pretrained)
        self.task = RFCN(num_classes, self.features.out_channels)

    def forward(self, frames: torch.Tensor) -> list[Detections]:
        """Detections of ``B × 3 × H × W`` RGB frames in [0, 1]."""
        return self.task(self.features(frames), frames.shape[-2:])


register_model("rfcn", Detector)
