"""How much memory a synthesis needs, estimated before anything large is allocated.

The estimate counts, in float32, every VGG-19 stage output up to the deepest requested
layer (autograd keeps them for the backward pass) times :data:`BACKWARD_FACTOR`, the
network's weights, the optimiser state (L-BFGS keeps ``2 × history`` image-sized vectors)
and the style targets' forward pass. The factor was calibrated against the peak resident
memory of real runs (see ``docs/style.md``) and errs on the large side.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from semvis.backbones.base import FeatureInfo
from semvis.backbones.vgg import vgg19
from semvis.errors import SemvisError

FLOAT_BYTES = 4
#: Peak bytes of forward + backward ÷ bytes of all stage outputs: measured 0.8–1.0 (peak resident
#: memory at 512 and 768 px, CPU); 1.25 leaves a margin.
BACKWARD_FACTOR = 1.25
GIB = 1024**3


@cache
def vgg19_stages() -> dict[str, tuple[FeatureInfo, int]]:
    """Every VGG-19 stage in order: its :class:`FeatureInfo` and parameter count (from one untrained model)."""
    model = vgg19()
    return {
        name: (model.feature_info[name], sum(p.numel() for p in stage.parameters()))
        for name, stage in model.stages.items()
    }


def _kept_stages(layers: Iterable[str]) -> list[tuple[FeatureInfo, int]]:
    stages = list(vgg19_stages().items())
    deepest = max(i for i, (name, _) in enumerate(stages) if name in set(layers))
    return [info for _, info in stages[: deepest + 1]]


def _activations(height: int, width: int, kept: list[tuple[FeatureInfo, int]]) -> list[int]:
    """Elements of each stage output; 2×2 pools floor, so a stage at stride r is ``⌊h/r⌋ × ⌊w/r⌋``."""
    return [f.channels * (height // f.reduction) * (width // f.reduction) for f, _ in kept]


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak bytes of one synthesis stage, by part."""

    activations: int
    weights: int
    optimizer: int
    targets: int

    @property
    def total(self) -> int:
        return self.activations + self.weights + self.optimizer + self.targets


def estimate_memory(
    size: tuple[int, int],
    layers: Iterable[str],
    optimizer: str = "lbfgs",
    history: int = 100,
    style_sizes: Iterable[tuple[int, int]] = (),
) -> MemoryEstimate:
    """Estimated peak memory of optimising an ``H × W`` image through VGG-19 up to the deepest of ``layers``.

    ``style_sizes`` are the ``(H, W)`` of the style images, whose targets come from a forward
    pass without autograd (peak: two consecutive stage outputs).
    """
    kept = _kept_stages(layers)
    pixels = 3 * size[0] * size[1]
    vectors = 2 * history + 4 if optimizer == "lbfgs" else 4  # L-BFGS: s, y pairs + d, g, x; Adam: m, v, g, x
    targets = 0
    for h, w in style_sizes:
        acts = _activations(h, w, kept)
        targets = max(targets, max(a + b for a, b in zip(acts, acts[1:] + [0])))
    return MemoryEstimate(
        activations=int(BACKWARD_FACTOR * sum(_activations(*size, kept))) * FLOAT_BYTES,
        weights=sum(params for _, params in kept) * FLOAT_BYTES,
        optimizer=vectors * pixels * FLOAT_BYTES,
        targets=targets * FLOAT_BYTES,
    )


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Bytes the kernel says can be allocated without swapping (``MemAvailable``); ``None`` if unknown."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def device_memory(device: torch.device) -> int | None:
    """Free bytes on ``device``: :func:`available_memory` for the CPU, the driver's count for CUDA, else unknown."""
    if device.type == "cpu":
        return available_memory()
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return None


def check_memory(estimate: MemoryEstimate, size: tuple[int, int], device: torch.device | None = None) -> None:
    """Refuse (:class:`SemvisError` with the estimate and the limit) when the estimate exceeds the free
    memory of ``device`` (default: the CPU)."""
    device = device or torch.device("cpu")
    limit = device_memory(device)
    if limit is not None and estimate.total > limit:
        raise SemvisError(
            f"a {size[1]}×{size[0]} px synthesis needs about {estimate.total / GIB:.1f} GiB "
            f"(activations {estimate.activations / GIB:.1f}, optimiser {estimate.optimizer / GIB:.1f}, "
            f"weights {estimate.weights / GIB:.2f}, style targets {estimate.targets / GIB:.1f}) "
            f"but only {limit / GIB:.1f} GiB is available on {device}; choose a smaller size or L-BFGS history"
        )
