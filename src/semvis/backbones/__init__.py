"""Backbones with named intermediate features: VGG-16/19, Xception and MobileNetV2, each with its pretrained weights."""

from semvis.backbones import mobilenetv2, vgg, xception  # noqa: F401  (registers the builders and their weights)
from semvis.backbones.base import Backbone, FeatureExtractor, FeatureInfo, InputNormalize, StageRoles
from semvis.backbones.registry import (
    backbone_options,
    create_backbone,
    list_backbones,
    load_pretrained,
    register_backbone,
    stage_roles,
)
from semvis.weights.spec import CAFFE_BGR, KERAS_TF, TORCHVISION_RGB, InputSpec

__all__ = [
    "CAFFE_BGR",
    "KERAS_TF",
    "TORCHVISION_RGB",
    "Backbone",
    "FeatureExtractor",
    "FeatureInfo",
    "InputNormalize",
    "InputSpec",
    "StageRoles",
    "backbone_options",
    "create_backbone",
    "list_backbones",
    "load_pretrained",
    "register_backbone",
    "stage_roles",
]
