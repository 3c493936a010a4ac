"""Dense optical flow with OpenCV's DIS (Kroeger et al. 2016, "Fast Optical Flow using Dense Inverse Search").

DIS is fast on a CPU and good enough to carry style or features from frame to frame;
OpenCV ships it, so it comes with the ``video`` extra rather than as a model of our own.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import torch

from semvis.errors import DataError

PRESETS = ("ultrafast", "fast", "medium")


def _import_cv2() -> ModuleType:
    try:
        import cv2
    except ImportError:
        raise DataError("optical flow needs OpenCV (pip install 'semvis[video]')") from None
    return cv2


def _to_gray_u8(frame: np.ndarray | torch.Tensor, cv2: ModuleType) -> np.ndarray:
    """An ``H × W × 3`` RGB or ``H × W`` uint8 array, or a ``[1 ×] C × H × W`` tensor in [0, 1], as grey uint8."""
    if isinstance(frame, torch.Tensor):
        t = frame[0] if frame.dim() == 4 else frame
        frame = t.detach().cpu().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        frame = frame[:, :, 0] if frame.shape[2] == 1 else frame
    if frame.dtype != np.uint8 or not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
        raise ValueError(f"expected a uint8 H×W or H×W×3 frame, got {frame.dtype} of shape {frame.shape}")
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def dis_flow(
    frame1: np.ndarray | torch.Tensor, frame2: np.ndarray | torch.Tensor, preset: str = "medium"
) -> np.ndarray:
    """Flow from ``frame1`` to ``frame2`` as an ``H × W × 2`` float32 array (u, v in pixels).

    ``frame1(p) ≈ frame2(p + flow(p))``, the convention of :func:`semvis.nn.warp.warp`: to
    warp ``frame2`` back onto ``frame1`` use this flow, ``warp(frame2, flow12) ≈ frame1``.
    ``preset`` is one of OpenCV's "ultrafast", "fast", "medium" (slower, more accurate).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; choose one of {list(PRESETS)}")
    cv2 = _import_cv2()
    gray1, gray2 = _to_gray_u8(frame1, cv2), _to_gray_u8(frame2, cv2)
    if gray1.shape != gray2.shape:
        raise ValueError(f"frames differ in size: {gray1.shape[::-1]} and {gray2.shape[::-1]} (W×H)")
    dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))
    return dis.calc(gray1, gray2, None).astype(np.float32, copy=False)
