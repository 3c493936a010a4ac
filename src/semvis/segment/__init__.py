"""Semantic segmentation (issue 4, seed §2.2): GridNet, PSPNet and DeepLabv3+, scores, training and inference."""

from semvis.segment.deeplab import DeepLabV3Plus
from semvis.segment.gridnet import GridNet
from semvis.segment.inference import evaluate, predict_logits, segment
from semvis.segment.metrics import (
    accuracy_per_class,
    confusion_matrix,
    confusion_picture,
    iou_per_class,
    scores,
)
from semvis.segment.models import ARCHS, build_segmenter, load_segmenter, save_segmenter
from semvis.segment.pspnet import AUX_WEIGHT, PSPNet
from semvis.segment.render import label_image, overlay
from semvis.segment.train import segmentation_loss, segmentation_metrics, train_segmenter

__all__ = [
    "ARCHS",
    "AUX_WEIGHT",
    "DeepLabV3Plus",
    "GridNet",
    "PSPNet",
    "accuracy_per_class",
    "build_segmenter",
    "confusion_matrix",
    "confusion_picture",
    "evaluate",
    "iou_per_class",
    "label_image",
    "load_segmenter",
    "overlay",
    "predict_logits",
    "save_segmenter",
    "scores",
    "segment",
    "segmentation_loss",
    "segmentation_metrics",
    "train_segmenter",
]
