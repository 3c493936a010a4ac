"""Backbones with named intermediate features: VGG-16/19 and Xception."""

from semvis.backbones import vgg, xception  # noqa: F401  (registers the builders)
from semvis.backbones.base import (
    CAFFE_BGR,
    KERAS_TF,
    TORCHVISION_RGB,
    Backbone,
    FeatureExtractor,
    FeatureInfo,
    InputSpec,
)
from semvis.backbones.registry import create_backbone, list_backbones, register_backbone

__all__ = [
    "CAFFE_BGR",
    "KERAS_TF",
    "TORCHVISION_RGB",
    "Backbone",
    "FeatureExtractor",
    "FeatureInfo",
    "InputSpec",
    "create_backbone",
    "list_backbones",
    "register_backbone",
]
