"""CIE Lab (D65, sRGB) with every channel scaled to about [-1, 1], via kornia.

The network reads the luma ``L`` and predicts the chroma ``ab`` (seed §3: input X = L, output
Ŷ = ab). Scaling, exactly:

    L' = L / 50 - 1        (L ∈ [0, 100]   → [-1, 1])
    a' = a / 110,  b' = b / 110

Over the whole 8-bit sRGB cube, a ∈ [-86.18, 98.23] and b ∈ [-107.86, 94.48] (computed on all
256³ colours; the extremes are the corners green, magenta, blue and yellow), so |a'|, |b'| ≤ 0.981
for every displayable colour and a tanh output in [-1, 1] covers the gamut with a little room.
"""

from __future__ import annotations

import kornia
import torch

L_SCALE = 50.0
AB_SCALE = 110.0


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (…×3×H×W) → scaled Lab (…×3×H×W): L/50 − 1, a/110, b/110."""
    lab = kornia.color.rgb_to_lab(rgb)
    return torch.cat([lab[..., :1, :, :] / L_SCALE - 1.0, lab[..., 1:, :, :] / AB_SCALE], dim=-3)


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Scaled Lab (…×3×H×W) → sRGB; ``clip`` clamps out-of-gamut colours to [0, 1] per channel."""
    raw = torch.cat([(lab[..., :1, :, :] + 1.0) * L_SCALE, lab[..., 1:, :, :] * AB_SCALE], dim=-3)
    return kornia.color.lab_to_rgb(raw, clip=clip)


def luma(image: torch.Tensor) -> torch.Tensor:
    """Scaled L (…×1×H×W) of an RGB (3 channels) or gray (1 channel, taken as R = G = B) image in [0, 1]."""
    if image.shape[-3] == 1:
        image = image.expand(*image.shape[:-3], 3, *image.shape[-2:])
    elif image.shape[-3] != 3:
        raise ValueError(f"expected 1 or 3 channels, got shape {tuple(image.shape)}")
    return rgb_to_lab(image)[..., :1, :, :]
