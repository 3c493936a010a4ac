"""The losses of Gatys, Ecker & Bethge 2015, "A Neural Algorithm of Artistic Style".

Notation of the paper: layer ``l`` has ``N_l`` feature maps of size ``M_l`` (height ×
width); ``F^l ∈ R^{N_l × M_l}`` are the responses to the generated image, ``P^l``
to the photograph and ``A^l`` is the Gram matrix of the artwork. Every function
here takes batched feature maps ``B × N_l × H × W`` and sums over the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


def feature_matrix(features: torch.Tensor) -> torch.Tensor:
    """``B × N × H × W`` → ``B × N × M`` with ``M = H·W`` (the paper's ``F^l``)."""
    if features.dim() != 4:
        raise ValueError(f"expected B×N×H×W feature maps, got shape {tuple(features.shape)}")
    return features.flatten(2)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``G^l_ij = Σ_k F^l_ik F^l_jk`` (unnormalised), shape ``B × N × N``."""
    f = feature_matrix(features)
    return f @ f.transpose(1, 2)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 1: ``½ Σ_ij (F^l_ij − P^l_ij)²``; its gradient is eq. 2 (``F − P`` where ``F > 0``)."""
    return 0.5 * (features - target).pow(2).sum()


def layer_style_loss(features: torch.Tensor, target_gram: torch.Tensor, size: float | None = None) -> torch.Tensor:
    """Eq. 4: ``E_l = 1 / (4 N_l² M_l²) Σ_ij (G^l_ij − A^l_ij)²``.

    ``size`` overrides ``M_l`` (region masks pass the soft area of their region); its gradient is eq. 6.
    """
    n = features.shape[1]
    m = size if size is not None else features.shape[2] * features.shape[3]
    return (gram_matrix(features) - target_gram).pow(2).sum() / (4 * n**2 * m**2)


def style_loss(
    features: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Eq. 5: ``Σ_l w_l E_l`` with ``w_l = 1 / (number of style layers)`` by default."""
    weights = layer_weights or {name: 1.0 / len(target_grams) for name in target_grams}
    return sum(weights[name] * layer_style_loss(features[name], target_grams[name]) for name in target_grams)


def total_loss(content: torch.Tensor, style: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """Eq. 7: ``α L_content + β L_style``."""
    return alpha * content + beta * style


def weights_from_ratio(ratio: float, alpha: float = 1.0) -> tuple[float, float]:
    """(α, β) from the paper's ratio ``α/β`` (1e-3 by default, 1e-4 in Fig. 2 E,F)."""
    if ratio <= 0:
        raise ValueError(f"the content/style ratio α/β must be positive, got {ratio}")
    return alpha, alpha / ratio


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Squared total variation ``Σ (x_{i+1,j} − x_ij)² + (x_{i,j+1} − x_ij)²``.

    Not in the paper: the smoothness prior neural-style (Johnson) and pastiche add.
    """
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).sum() + dx.pow(2).sum()


def blend_grams(grams: Sequence[Mapping[str, torch.Tensor]], blend: Sequence[float]) -> dict[str, torch.Tensor]:
    """Several styles as one target: ``A^l = Σ_s b_s A^l_s`` with blend weights normalised to 1."""
    if len(grams) != len(blend):
        raise ValueError(f"{len(grams)} styles but {len(blend)} blend weights")
    if any(b < 0 for b in blend) or sum(blend) <= 0:
        raise ValueError(f"blend weights must be non-negative and not all zero, got {list(blend)}")
    total = sum(blend)
    return {name: sum(b / total * g[name] for b, g in zip(blend, grams)) for name in grams[0]}
