"""Scoring a colorizer on a set of photos: ab-PSNR and colourfulness against the gray baseline, edit locality.

For each colour photo with a label map: the colorizer sees only its L (and the map); its chroma is
compared with the photo's (:func:`~semvis.colorize.infer.ab_psnr`), beside the gray baseline (ab = 0,
the input photo itself); colourfulness (Hasler & Süsstrunk) of the result, of the gray photo (0) and of
the original. Edit locality: one region is repainted (:func:`edit_region`) and the share of the chroma
change that stays inside it is measured with the mean chroma change in and outside the region
(:func:`~semvis.colorize.infer.edit_change`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from semvis.colorize.infer import WORK_SIZE, ab_psnr, colourfulness, edit_change, predict_ab, with_chroma
from semvis.colorize.lab import rgb_to_lab
from semvis.device import DeviceSpec, place

#: The repainted region covers about this share of the image (see :func:`edit_region`).
EDIT_SHARE = 0.2


@dataclass(frozen=True)
class ColorizationScores:
    """Means over the evaluated images (edit locality over those where an edit changed anything);
    ``edit_inside`` / ``edit_outside``: mean chroma change √(Δa² + Δb²) (Lab units) in / outside the region."""

    images: int
    ab_psnr: float
    gray_ab_psnr: float
    colourfulness: float
    true_colourfulness: float
    edit_locality: float
    edit_inside: float
    edit_outside: float


def edit_region(labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, int]:
    """A deterministic edit: the class whose area is closest to :data:`EDIT_SHARE` of the map, relabelled.

    Returns the class's mask and the new label, the class ``⌊C/2⌋`` steps further (mod C), so that
    the repaint is a real change of meaning (sky → tree, road → sign… on CamVid's order).
    """
    counts = torch.bincount(labels.flatten().clamp(0, num_classes), minlength=num_classes + 1)[:num_classes]
    shares = counts.double() / labels.numel()
    shares[counts == 0] = math.inf
    chosen = int((shares - EDIT_SHARE).abs().argmin())
    return labels == chosen, (chosen + num_classes // 2) % num_classes


def evaluate_colorizer(
    model: nn.Module,
    samples: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    work_size: int = WORK_SIZE,
    device: DeviceSpec | None = None,
) -> ColorizationScores:
    """Score ``model`` over ``(rgb 3×H×W in [0, 1], labels H×W)`` samples (see the module docstring),
    running it on ``device`` (it is moved there; ``None``: where it is)."""
    place(model, device)
    psnr, gray_psnr, colour, true_colour, locality, inside, outside = [], [], [], [], [], [], []
    for rgb, labels in samples:
        true_ab = rgb_to_lab(rgb)[1:]
        ab = predict_ab(model, rgb, labels, work_size)  # once, for the result and the edit's baseline
        result = with_chroma(rgb, ab)
        psnr.append(float(ab_psnr(rgb_to_lab(result)[1:], true_ab)))
        gray_psnr.append(float(ab_psnr(torch.zeros_like(true_ab), true_ab)))
        colour.append(float(colourfulness(result)))
        true_colour.append(float(colourfulness(rgb)))
        region, new_label = edit_region(labels, num_classes)
        edit = edit_change(model, rgb, labels, region, new_label, work_size, before=ab)
        if not math.isnan(edit.locality):
            locality.append(edit.locality)
        inside.append(edit.inside)
        outside.append(edit.outside)
    if not psnr:
        raise ValueError("no samples to evaluate")

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else math.nan

    return ColorizationScores(
        len(psnr),
        mean(psnr),
        mean(gray_psnr),
        mean(colour),
        mean(true_colour),
        mean(locality),
        mean([v for v in inside if not math.isnan(v)]),
        mean([v for v in outside if not math.isnan(v)]),
    )
