"""Semantic-driven colorization (issue 4): chroma from luma X and a semantic map S.

The seed's modified U-Net (:mod:`~semvis.colorize.unet`), CIE Lab scaling (:mod:`~semvis.colorize.lab`),
the Huber loss (eq. 1) or Zhang et al.'s rebalanced classification over ab bins (:mod:`~semvis.colorize.bins`),
CamVid and cached photo training data, inference with label editing and the metrics.
"""

from semvis.colorize.data import ColorizationDataset, SegmentedPhotos, Segmenter, camvid_colorization
from semvis.colorize.infer import (
    WORK_SIZE,
    EditChange,
    ab_psnr,
    colorize,
    colourfulness,
    edit_change,
    edit_locality,
    fit_gamut,
    predict_ab,
)
from semvis.colorize.lab import AB_SCALE, L_SCALE, lab_to_rgb, luma, rgb_to_lab
from semvis.colorize.losses import HUBER_DELTA, huber_ab_loss
from semvis.colorize.train import WEIGHTS_FILE, colorize_loss, colorize_metrics, train_colorizer
from semvis.colorize.unet import SemanticColorizer, SemanticInput, load_colorizer, save_colorizer

__all__ = [
    "AB_SCALE",
    "HUBER_DELTA",
    "L_SCALE",
    "WEIGHTS_FILE",
    "WORK_SIZE",
    "ColorizationDataset",
    "EditChange",
    "SegmentedPhotos",
    "Segmenter",
    "SemanticColorizer",
    "SemanticInput",
    "ab_psnr",
    "camvid_colorization",
    "colorize",
    "colorize_loss",
    "colorize_metrics",
    "colourfulness",
    "edit_change",
    "edit_locality",
    "fit_gamut",
    "huber_ab_loss",
    "lab_to_rgb",
    "load_colorizer",
    "luma",
    "predict_ab",
    "rgb_to_lab",
    "save_colorizer",
    "train_colorizer",
]
