"""Spatial control: a different style per image region (Gatys et al. 2017, §4.1).

"Controlling Perceptual Factors in Neural Style Transfer" multiplies each layer's
feature maps by guidance channels ``T^l_r`` (the region masks at that layer's
resolution) and matches one guided Gram matrix per region:
``G^l_r = (T^l_r ∘ F^l)(T^l_r ∘ F^l)ᵀ``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from semvis.data.images import load_label
from semvis.errors import ImageError
from semvis.style.losses import layer_style_loss


def load_region_masks(path: str | os.PathLike[str], size: tuple[int, int], regions: int) -> torch.Tensor:
    """Masks ``R × H × W`` (float, one-hot) from a label image whose pixel values 0..R−1 name the regions.

    The image must be 8-bit single-channel (mode L, or P whose palette indices are the labels);
    with ``regions == 2`` a black/white image (0/255) also works, 255 being region 1.
    ``size`` is ``(W, H)``; resizing is nearest-neighbour so labels never mix.
    """
    if regions < 1:
        raise ValueError(f"regions must be at least 1, got {regions}")
    labels = load_label(path)
    values = np.unique(labels)
    if regions == 2 and set(values.tolist()) <= {0, 255}:
        labels = labels // 255
    elif values[-1] >= regions:
        raise ImageError(
            f"{path}: mask has value {values[-1]} but only {regions} regions (values 0..{regions - 1}) were asked for"
        )
    resized = np.array(Image.fromarray(labels).resize(size, Image.Resampling.NEAREST))
    one_hot = F.one_hot(torch.from_numpy(resized).long(), regions)
    return one_hot.permute(2, 0, 1).float()


def resize_mask_to(masks: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
    """``R × H × W`` masks at the ``h × w`` of ``feature`` (``B × N × h × w``) by area averaging.

    Soft weights are kept (each value is the fraction of the feature cell a region covers)
    rather than thresholded: the masks still sum to 1 at every cell, and a region smaller
    than a deep layer's cells keeps a small weight instead of vanishing.
    """
    if masks.dim() != 3:
        raise ValueError(f"masks must be R×H×W, got shape {tuple(masks.shape)}")
    return F.interpolate(masks[None], size=feature.shape[-2:], mode="area")[0]


def masked_layer_style_loss(
    features: torch.Tensor, masks: torch.Tensor, target_grams: Sequence[torch.Tensor]
) -> torch.Tensor:
    """``Σ_r E_l(T_r ∘ F, A_r)``: eq. 4 of Gatys et al. 2015 per region with ``M_l`` = the region's area.

    ``features`` is ``1 × N × h × w``, ``masks`` ``R × h × w`` (see :func:`resize_mask_to`), and
    ``target_grams[r]`` the ``1 × N × N`` unnormalised Gram matrix of region r's style summed over
    as many positions as the region's area ``a_r = Σ T_r`` (for a style image whose feature map
    has ``M_s`` positions, ``gram_matrix(style) · a_r / M_s``). Regions of zero area add 0.
    """
    if masks.dim() != 3 or masks.shape[-2:] != features.shape[-2:]:
        raise ValueError(
            f"masks must be R×H×W at the feature resolution {tuple(features.shape[-2:])}, got {tuple(masks.shape)}"
        )
    if len(target_grams) != masks.shape[0]:
        raise ValueError(f"{masks.shape[0]} region masks but {len(target_grams)} target Gram matrices")
    loss = features.new_zeros(())
    for mask, target in zip(masks, target_grams):
        area = mask.sum().item()
        if area > 0:
            loss = loss + layer_style_loss(features * mask, target, size=area)
    return loss
