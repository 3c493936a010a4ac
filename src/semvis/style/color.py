"""Colour preservation for style transfer (Gatys, Bethge, Hertzmann & Shechtman 2016).

"Preserving Color in Neural Artistic Style Transfer" offers two ways to keep the
photograph's colours:

1. *Colour histogram matching* (§2): recolour the style image with a linear map
   ``x' = A x + b`` so that its RGB mean and covariance equal the photograph's, then
   transfer style as usual (:func:`match_color_histogram`).
2. *Luminance-only transfer* (§3): transfer style between luminance channels only,
   after matching the style's luminance mean and spread to the photograph's
   (:func:`match_luminance_stats`), and put the photograph's I and Q channels back
   (:func:`combine_luminance`).

Every image is a ``B × 3 × H × W`` RGB tensor in [0, 1].
"""

from __future__ import annotations

import torch

# kornia.color has no YIQ (only YUV/YCbCr), and the paper works in YIQ, so the NTSC matrix is
# written out here. The inverse is computed from it in float64 so RGB → YIQ → RGB round-trips.
_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)
_COLOR_MODES = ("cholesky", "pca", "sym")
_EPS = 1e-5  # a luminance standard deviation below this counts as flat
# ridge added to colour covariances: far below 8-bit quantisation noise (1 / (12·255²) ≈ 1.3e-6)
# yet enough to keep the covariance of a flat or grey image invertible
_RIDGE = 1e-8


def _check_rgb(image: torch.Tensor, name: str) -> None:
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"{name} must be a B×3×H×W RGB tensor, got shape {tuple(image.shape)}")


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Per-pixel ``matrix @ pixel`` on a ``B × 3 × H × W`` tensor."""
    return torch.einsum("ij,bjhw->bihw", matrix.to(image), image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """RGB → YIQ (NTSC): Y is luminance, I and Q the chrominance."""
    _check_rgb(image, "image")
    return _apply(_RGB_TO_YIQ, image)


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    """YIQ → RGB, the exact inverse of :func:`rgb_to_yiq` (not clamped)."""
    _check_rgb(yiq, "yiq")
    return _apply(_YIQ_TO_RGB, yiq)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The Y channel of YIQ, ``B × 1 × H × W``; a grey image (R = G = B = y) gives back y."""
    return rgb_to_yiq(image)[:, :1]


def match_luminance_stats(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """Paper §3: ``L_S' = σ_C / σ_S (L_S − μ_S) + μ_C`` with per-image mean and standard deviation.

    Not clamped, so the statistics match exactly; a flat style luminance (``σ_S ≤ 1e-5``) becomes ``μ_C``.
    """
    dims = (1, 2, 3)
    mu_s, sigma_s = style_y.mean(dims, keepdim=True), style_y.std(dims, correction=0, keepdim=True)
    mu_c, sigma_c = content_y.mean(dims, keepdim=True), content_y.std(dims, correction=0, keepdim=True)
    gain = torch.where(sigma_s > _EPS, sigma_c / sigma_s.clamp_min(_EPS), torch.zeros_like(sigma_s))
    return gain * (style_y - mu_s) + mu_c


def combine_luminance(stylized_y: torch.Tensor, content_rgb: torch.Tensor) -> torch.Tensor:
    """Paper §3: Y from the stylised result, I and Q from the photograph, back to RGB in [0, 1].

    A network that stylised a grey image returns three equal channels; pass ``luminance`` of it.
    """
    if stylized_y.dim() != 4 or stylized_y.shape[1] != 1:
        raise ValueError(f"stylized_y must be a B×1×H×W luminance tensor, got shape {tuple(stylized_y.shape)}")
    if stylized_y.shape[-2:] != content_rgb.shape[-2:]:
        raise ValueError(
            f"stylised luminance is {tuple(stylized_y.shape[-2:])} but the content is {tuple(content_rgb.shape[-2:])}"
        )
    iq = rgb_to_yiq(content_rgb)[:, 1:]
    return yiq_to_rgb(torch.cat([stylized_y.expand(iq.shape[0], -1, -1, -1), iq], dim=1)).clamp(0, 1)


def _mean_cov(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image RGB mean ``B × 3 × 1`` and covariance ``B × 3 × 3`` (float64, plus ``_RIDGE`` I)."""
    x = image.flatten(2).double()
    mean = x.mean(2, keepdim=True)
    centred = x - mean
    cov = centred @ centred.transpose(1, 2) / x.shape[2]
    return mean, cov + _RIDGE * torch.eye(3, dtype=cov.dtype, device=cov.device)


def _sqrtm(cov: torch.Tensor) -> torch.Tensor:
    """Symmetric square root ``U Λ^½ Uᵀ`` of symmetric positive definite matrices."""
    values, vectors = torch.linalg.eigh(cov)
    return vectors @ torch.diag_embed(values.clamp_min(0).sqrt()) @ vectors.transpose(1, 2)


def _transfer_matrix(cov_s: torch.Tensor, cov_r: torch.Tensor, mode: str) -> torch.Tensor:
    """A with ``A Σ_s Aᵀ = Σ_r``; the three modes are the three usual choices of that A."""
    if mode == "cholesky":
        return torch.linalg.cholesky(cov_r) @ torch.linalg.inv(torch.linalg.cholesky(cov_s))
    if mode == "pca":
        return _sqrtm(cov_r) @ torch.linalg.inv(_sqrtm(cov_s))
    root_s = _sqrtm(cov_s)
    inv_root_s = torch.linalg.inv(root_s)
    return inv_root_s @ _sqrtm(root_s @ cov_r @ root_s) @ inv_root_s


def match_color_histogram(source: torch.Tensor, reference: torch.Tensor, mode: str = "cholesky") -> torch.Tensor:
    """Paper §2: recolour ``source`` (the style) by ``x' = A x + b`` to the mean and covariance of ``reference``.

    ``mode`` picks A among the maps with ``A Σ_S Aᵀ = Σ_C``:

    * ``"cholesky"``: ``A = L_C L_S⁻¹`` with ``Σ = L Lᵀ`` (the paper's first variant);
    * ``"pca"``: ``A = Σ_C^½ Σ_S^-½`` with symmetric square roots from the eigendecomposition
      (the Image Analogies colour transfer, the paper's second variant);
    * ``"sym"``: the symmetric positive definite solution ``Σ_S^-½ (Σ_S^½ Σ_C Σ_S^½)^½ Σ_S^-½``,
      the least-displacement (Monge–Kantorovich) linear map of Pitié & Kokaram 2007.

    ``b = μ_C − A μ_S``. Source and reference may differ in size; the batch sizes must match
    (or the reference has batch 1). A small ridge keeps flat or grey images invertible.
    The result is clamped to [0, 1].
    """
    _check_rgb(source, "source")
    _check_rgb(reference, "reference")
    if mode not in _COLOR_MODES:
        raise ValueError(f"unknown colour transfer mode {mode!r}; choose one of {list(_COLOR_MODES)}")
    if reference.shape[0] not in (1, source.shape[0]):
        raise ValueError(f"reference batch {reference.shape[0]} does not match source batch {source.shape[0]}")
    mean_s, cov_s = _mean_cov(source)
    mean_r, cov_r = _mean_cov(reference)
    a = _transfer_matrix(cov_s, cov_r, mode)
    x = source.flatten(2).double()
    out = a @ (x - mean_s) + mean_r
    return out.view_as(source).to(source.dtype).clamp(0, 1)
