"""Frozen-backbone training: compute a backbone's features once, then train heads on them.

On a CPU the backbone dominates every training step (VGG-19 up to ``relu4_4`` is about 0.3 s
per 224×224 image on two cores), so the recipes that keep it frozen — the PSPNet head of
:mod:`semvis.segment.frozen` and the hashing phases of :mod:`semvis.hashing.train` — run it
once per image with :func:`cache_features` and train on the stored maps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from semvis.atomic import atomic_path
from semvis.errors import DataError
from semvis.progress import ProgressCallback, tracked


@dataclass(frozen=True)
class CachedSplit:
    """Backbone features (N×C×h×w fp16) and targets (N×… integers) of one dataset split."""

    features: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index].float(), self.labels[index].long()


@torch.inference_mode()
def cache_features(
    features: Callable[[torch.Tensor], torch.Tensor],
    dataset: Dataset,
    path: str | Path,
    desc: str = "features",
    label_dtype: torch.dtype = torch.uint8,
    progress: ProgressCallback | None = None,
) -> CachedSplit:
    """Run ``features`` on every ``(image, label)`` of ``dataset`` once; store maps and labels at ``path``.

    ``features`` takes a 1×C×H×W batch. Maps are kept in fp16, labels as ``label_dtype``
    (uint8 for segmentation maps; int16 for class indices). A finished cache at ``path`` is
    read back instead of recomputed; it is written atomically, so a file there is always
    complete. The output tensor is allocated once, so peak memory is one copy of the cache.
    """
    path = Path(path)
    if path.is_file():
        try:
            cached = load_file(str(path))
            return CachedSplit(cached["features"], cached["labels"])
        except Exception as e:  # safetensors raises its own error types
            raise DataError(f"{path}: unreadable feature cache ({e}); delete it to recompute") from None
    out: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    for i, (image, label) in enumerate(tracked(dataset, desc, progress)):
        f = features(image.unsqueeze(0))[0]
        label = torch.as_tensor(label)
        if out is None:
            out = torch.empty((len(dataset), *f.shape), dtype=torch.float16)
            labels = torch.empty((len(dataset), *label.shape), dtype=label_dtype)
        out[i] = f
        labels[i] = label
    if out is None or labels is None:
        raise DataError(f"{path}: nothing to cache, the dataset is empty")
    with atomic_path(path) as tmp:
        save_file({"features": out, "labels": labels}, str(tmp))
    return CachedSplit(out, labels)
