"""Flow reliability and temporal-consistency measures.

:func:`occlusion_mask` is the forward–backward check of Ruder, Dosovitskiy & Brox 2016,
"Artistic style transfer for videos" (§3.2), which weights their temporal loss.
Flows are ``H × W × 2`` arrays (as :func:`~semvis.flow.read_flo` and
:func:`~semvis.flow.dis_flow` return) or ``B × 2 × H × W`` tensors, in the convention
of :func:`semvis.nn.warp.warp`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from kornia.filters import spatial_gradient

from semvis.flow.io import flow_to_tensor
from semvis.nn.warp import sample_positions, warp

Flow = np.ndarray | torch.Tensor
# Ruder et al.: a motion boundary where |∇û|² + |∇v̂|² > 0.01 |ŵ|² + 0.002
BOUNDARY_ALPHA = 0.01
BOUNDARY_OFFSET = 0.002
# Middlebury marks unknown flow with components of 1e9 or more
UNKNOWN_FLOW = 1e9


def _flow_pair(flow: Flow, other: Flow) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = flow_to_tensor(flow), flow_to_tensor(other)
    if a.dim() != 4 or a.shape[1] != 2 or a.shape != b.shape:
        raise ValueError(
            f"flows must be B×2×H×W (or H×W×2) of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    return a, b


def _sq_norm(flow: torch.Tensor) -> torch.Tensor:
    """``|w|²`` per pixel, ``B × 1 × H × W``."""
    return flow.pow(2).sum(1, keepdim=True)


def _lands_inside(flow: torch.Tensor) -> torch.Tensor:
    """``B × 1 × H × W``: whether ``p + flow(p)`` lies within the image (where warping has full support)."""
    h, w = flow.shape[-2:]
    x, y = sample_positions(flow).unbind(1)
    return ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1))[:, None]


def occlusion_mask(flow_fw: Flow, flow_bw: Flow, alpha1: float = 0.01, alpha2: float = 0.5) -> torch.Tensor:
    """Reliability weights ``c`` on the second frame: 1 where the flow can be trusted, 0 elsewhere.

    ``flow_fw`` goes from frame t to t+1 and ``flow_bw`` from t+1 to t. With
    ``w̃(p) = flow_fw(p + flow_bw(p))`` (the forward flow warped onto frame t+1), a pixel is
    disoccluded where ``|w̃ + ŵ|² > alpha1 (|w̃|² + |ŵ|²) + alpha2``, on a motion boundary where
    ``|∇û|² + |∇v̂|² > 0.01 |ŵ|² + 0.002`` (central differences), and also unreliable where
    ``p + ŵ(p)`` leaves frame t. Returns a float ``B × 1 × H × W`` tensor.
    """
    fw, bw = _flow_pair(flow_fw, flow_bw)
    w_tilde = warp(fw, bw)
    disoccluded = _sq_norm(w_tilde + bw) > alpha1 * (_sq_norm(w_tilde) + _sq_norm(bw)) + alpha2
    gradient_sq = spatial_gradient(bw, mode="diff").pow(2).sum((1, 2))[:, None]
    boundary = gradient_sq > BOUNDARY_ALPHA * _sq_norm(bw) + BOUNDARY_OFFSET
    return (~disoccluded & ~boundary & _lands_inside(bw)).to(bw.dtype)


def end_point_error(flow: Flow, gt: Flow) -> float:
    """Mean end-point error ``‖flow − gt‖₂`` over the pixels whose ground truth is known."""
    f, g = _flow_pair(flow, gt)
    known = g.abs().amax(1) < UNKNOWN_FLOW
    return (f - g).norm(dim=1)[known].mean().item()


def flicker(
    frames: Sequence[torch.Tensor], flows: Sequence[Flow], masks: Sequence[torch.Tensor] | None = None
) -> float:
    """Mean ``|frame_t − warp(frame_{t−1}, flow_t)|`` over reliable pixels of all consecutive pairs.

    ``frames`` are ``B × C × H × W``; ``flows[t − 1]`` goes from frame t back to frame t−1, so
    the warp aligns frame t−1 onto frame t. ``masks[t − 1]`` (e.g. :func:`occlusion_mask`) marks the
    reliable pixels of frame t; without masks, every pixel whose flow stays inside the frame counts.
    Lower is more temporally consistent (Ruder et al. 2016 measure it on the stylised video).
    """
    if len(frames) < 2 or len(flows) != len(frames) - 1:
        raise ValueError(
            f"need at least 2 frames and one flow per consecutive pair, got {len(frames)} and {len(flows)}"
        )
    if masks is not None and len(masks) != len(flows):
        raise ValueError(f"{len(masks)} masks for {len(flows)} flows")
    total, count = 0.0, 0.0
    for t, flow in enumerate(flows, start=1):
        bw = flow_to_tensor(flow).to(frames[t])
        mask = _lands_inside(bw).to(bw.dtype) if masks is None else masks[t - 1].to(bw)
        diff = (frames[t] - warp(frames[t - 1], bw)).abs() * mask
        total += diff.sum().item()
        count += (mask.expand_as(diff)).sum().item()
    if count == 0:
        raise ValueError("no reliable pixels to measure flicker on")
    return total / count
