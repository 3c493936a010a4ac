"""Inference: colorize a photo under a label map, edit locality, and the evaluation metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from semvis.colorize.lab import AB_SCALE, lab_to_rgb, luma
from semvis.data import image_to_tensor
from semvis.data.transforms import resize_pair, short_side_size
from semvis.device import DeviceSpec, place
from semvis.errors import ImageError

ImageLike = Image.Image | torch.Tensor
LabelsLike = np.ndarray | torch.Tensor
#: Default shorter side the chroma is predicted at: the bundled colorizer was trained on photos with a
#: shorter side of 144 (128 crops) and scored at 176 (docs/colorize.md); the seed's scale was 352.
WORK_SIZE = 176
#: Bisection steps of :func:`fit_gamut`: chroma within 2⁻¹² of the gamut boundary.
GAMUT_STEPS = 12


def _image_tensor(image: ImageLike) -> torch.Tensor:
    tensor = image_to_tensor(image) if isinstance(image, Image.Image) else image
    if tensor.dim() != 3 or tensor.shape[0] not in (1, 3):
        raise ImageError(f"expected a gray or RGB image (1 or 3 × H × W), got shape {tuple(tensor.shape)}")
    return tensor.float()


def _labels_tensor(labels: LabelsLike, image: torch.Tensor) -> torch.Tensor:
    labels = torch.as_tensor(labels).long()
    if labels.shape != image.shape[1:]:
        h, w = image.shape[1:]
        raise ImageError(f"label map is {labels.shape[-1]}x{labels.shape[-2]} but the image is {w}x{h}")
    return labels


def predict_ab(
    model: nn.Module, image: ImageLike, labels: LabelsLike, work_size: int = WORK_SIZE, device: DeviceSpec | None = None
) -> torch.Tensor:
    """Scaled chroma (2×H×W, on the CPU) of ``image`` under ``labels``, predicted at a working size.

    The image (bilinear) and the labels (nearest) are resized so that the shorter side is
    ``work_size`` (the scale of the seed's training crops), the model reads that image's L
    (padding it to a multiple of 16), and its chroma is upsampled bilinearly to the full H×W.
    ``device``: where the model runs (it is moved there; ``None``: where it is), see :mod:`semvis.device`.
    """
    image = _image_tensor(image)
    labels = _labels_tensor(labels, image)
    device = place(model, device)
    full = tuple(image.shape[1:])
    small_image, small_labels = resize_pair(image, labels, short_side_size(*full, work_size))
    with torch.inference_mode():
        ab = model(luma(small_image)[None].to(device), small_labels[None].to(device)).float().cpu()
        if tuple(ab.shape[-2:]) != full:
            ab = F.interpolate(ab, full, mode="bilinear", align_corners=False)
    return ab[0]


def _in_gamut(lab: torch.Tensor, tolerance: float = 1e-4) -> torch.Tensor:
    rgb = lab_to_rgb(lab, clip=False)
    return ((rgb >= -tolerance) & (rgb <= 1.0 + tolerance)).all(dim=0)


def fit_gamut(lab: torch.Tensor, steps: int = GAMUT_STEPS) -> torch.Tensor:
    """Scaled Lab (3×H×W) with each out-of-sRGB-gamut pixel's ab shrunk towards 0 until it fits.

    L and hue stay; the chroma factor comes from a bisection in [0, 1]. Clipping RGB channels
    instead would shift L, and the seed keeps the input's L as the output's.
    """
    outside = ~_in_gamut(lab)
    if not outside.any():
        return lab
    pixels = lab[:, outside][:, :, None]  # 3×N×1, an image of the offending pixels only
    low, high = torch.zeros(pixels.shape[1:]), torch.ones(pixels.shape[1:])
    for _ in range(steps):
        mid = (low + high) / 2
        fits = _in_gamut(torch.cat([pixels[:1], pixels[1:] * mid]))
        low, high = torch.where(fits, mid, low), torch.where(fits, high, mid)
    fitted = lab.clone()
    fitted[1:, outside] = (pixels[1:] * low)[:, :, 0]
    return fitted


def colorize(
    image: ImageLike, labels: LabelsLike, model: nn.Module, work_size: int = WORK_SIZE, device: DeviceSpec | None = None
) -> torch.Tensor:
    """RGB (3×H×W in [0, 1], on the CPU) from a gray or colour ``image`` and its H×W label map.

    Colour inputs are reduced to their L first. The chroma of :func:`predict_ab` (on ``device``) is
    joined to the original full-resolution L and brought into the sRGB gamut by :func:`fit_gamut`,
    so the output's L is the input's.
    """
    image = _image_tensor(image)
    return with_chroma(image, predict_ab(model, image, labels, work_size, device))


def with_chroma(image: ImageLike, ab: torch.Tensor) -> torch.Tensor:
    """RGB from the full-resolution L of ``image`` and the scaled chroma ``ab`` (2×H×W), fitted into the gamut."""
    return lab_to_rgb(fit_gamut(torch.cat([luma(_image_tensor(image)), ab])))


@dataclass(frozen=True)
class EditChange:
    """How a repaint moved the chroma: ``locality`` = Σ_region |Δab| / Σ_all |Δab| (|Δa| + |Δb|, NaN when
    nothing changed); ``inside`` / ``outside``: mean √(Δa² + Δb²) per pixel in Lab units in / outside the region."""

    locality: float
    inside: float
    outside: float


def edit_change(
    model: nn.Module,
    image: ImageLike,
    labels: LabelsLike,
    region_mask: torch.Tensor | np.ndarray,
    new_label: int,
    work_size: int = WORK_SIZE,
    before: torch.Tensor | None = None,
) -> EditChange:
    """Set ``labels[region_mask] = new_label``, colorize again and measure the change (:class:`EditChange`).

    At full resolution; ``before``: the :func:`predict_ab` of the unedited labels when the caller has it.
    """
    image = _image_tensor(image)
    labels = _labels_tensor(labels, image)
    region = torch.as_tensor(region_mask, dtype=torch.bool)
    edited = labels.clone()
    edited[region] = new_label
    if before is None:
        before = predict_ab(model, image, labels, work_size)
    delta = predict_ab(model, image, edited, work_size) - before
    change = delta.abs().sum(0)
    total = float(change.sum())
    distance = delta.pow(2).sum(0).sqrt() * AB_SCALE

    def mean(mask: torch.Tensor) -> float:
        return float(distance[mask].mean()) if mask.any() else math.nan

    locality = float(change[region].sum()) / total if total > 0 else math.nan
    return EditChange(locality, mean(region), mean(~region))


def edit_locality(
    model: nn.Module,
    image: ImageLike,
    labels: LabelsLike,
    region_mask: torch.Tensor | np.ndarray,
    new_label: int,
    work_size: int = WORK_SIZE,
    before: torch.Tensor | None = None,
) -> float:
    """Share of the chroma change that stays inside the repainted region (:attr:`EditChange.locality`)."""
    return edit_change(model, image, labels, region_mask, new_label, work_size, before).locality


def ab_psnr(pred_ab: torch.Tensor, true_ab: torch.Tensor) -> torch.Tensor:
    """PSNR in dB over the a and b channels of each image (…×2×H×W → …).

    10·log10(peak² / MSE) with peak = 2, the full range of the scaled ab in [−1, 1]; the same number
    as in Lab units with peak 220. Identical chroma gives +inf.
    """
    mse = (pred_ab.float() - true_ab.float()).pow(2).mean(dim=(-3, -2, -1))
    return 10.0 * torch.log10(4.0 / mse)


def colourfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler & Süsstrunk (2003) colourfulness M of each image (…×3×H×W in [0, 1] → …).

    On 0…255 values: rg = R − G, yb = (R + G)/2 − B, M = σ_rgyb + 0.3·μ_rgyb with
    σ_rgyb = √(σ_rg² + σ_yb²), μ_rgyb = √(μ_rg² + μ_yb²) (population standard deviations).
    """
    r, g, b = (rgb.float() * 255.0).unbind(dim=-3)
    rg, yb = r - g, (r + g) / 2 - b
    dims = (-2, -1)
    sigma = (rg.var(dim=dims, correction=0) + yb.var(dim=dims, correction=0)).sqrt()
    mu = (rg.mean(dim=dims) ** 2 + yb.mean(dim=dims) ** 2).sqrt()
    return sigma + 0.3 * mu
