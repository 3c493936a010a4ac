"""Frozen-backbone training: compute a backbone's features once, then train heads on them.

On a CPU the backbone dominates every training step (VGG-19 up to ``relu4_4`` is about 0.3 s
per 224×224 image on two cores), so the recipes that keep it frozen — the PSPNet head of
:mod:`semvis.segment.frozen` and the hashing phases of :mod:`semvis.hashing.train` — run it
once per image with :func:`cache_features` and train on the stored maps.

Under ``torchrun`` the processes share the work: each computes one contiguous shard of the
items and writes it beside the cache, rank 0 joins the shards into the cache file, and every
rank reads that file back, so all train on the same complete cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from semvis.atomic import atomic_path
from semvis.device import DeviceSpec, resolve_device
from semvis.errors import DataError
from semvis.progress import ProgressCallback, tracked
from semvis.train.distributed import barrier, is_main_process, join_process_group, rank, world_size

#: What a backbone gives per image: one map, or named maps (e.g. DeepLabv3+'s dense and low-level maps).
Maps = torch.Tensor | dict[str, torch.Tensor]


@dataclass(frozen=True)
class CachedSplit:
    """Backbone features (N×C×h×w fp16, or a dict of such maps) and targets (N×… integers) of one split."""

    features: Maps
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Maps, torch.Tensor]:
        if isinstance(self.features, dict):
            return {k: v[index].float() for k, v in self.features.items()}, self.labels[index].long()
        return self.features[index].float(), self.labels[index].long()

    def save(self, path: Path) -> None:
        """Write atomically: a file at ``path`` is always complete (named maps as ``features.<name>``)."""
        if isinstance(self.features, dict):
            tensors = {f"features.{k}": v for k, v in self.features.items()}
        else:
            tensors = {"features": self.features}
        with atomic_path(path) as tmp:
            save_file(tensors | {"labels": self.labels}, str(tmp))

    @classmethod
    def join(cls, parts: Sequence[CachedSplit]) -> CachedSplit:
        """The items of ``parts`` (caches or shards with maps of the same shape), in order, as one split."""
        return cls(_concat([p.features for p in parts]), torch.cat([p.labels for p in parts]))

    @classmethod
    def load(cls, path: Path) -> CachedSplit:
        """Read a cache written by :meth:`save`, or a clear error naming the way out."""
        try:
            cached = load_file(str(path))
        except Exception as e:  # safetensors raises its own error types
            raise DataError(f"{path}: unreadable feature cache ({e}); delete it to recompute") from None
        if "features" in cached:
            return cls(cached["features"], cached["labels"])
        named = {k.removeprefix("features."): v for k, v in cached.items() if k.startswith("features.")}
        return cls(named, cached["labels"])


@torch.inference_mode()
def cache_features(
    features: Callable[[torch.Tensor], Maps],
    dataset: Dataset,
    path: str | Path,
    desc: str = "features",
    label_dtype: torch.dtype = torch.uint8,
    progress: ProgressCallback | None = None,
    device: DeviceSpec | None = None,
) -> CachedSplit:
    """Run ``features`` on every ``(image, label)`` of ``dataset`` once; store maps and labels at ``path``.

    ``features`` takes a 1×C×H×W batch, sent to ``device`` first (``None``: as the dataset gives
    it), and returns a map or a dict of named maps. Maps are kept in fp16, labels as
    ``label_dtype`` (uint8 for segmentation maps; int16 for class indices). A finished cache at
    ``path`` is read back instead of recomputed; it is written atomically, so a file there is
    always complete. Under torchrun the work is sharded (see the module docstring) and rank 0
    reports ``progress``.
    """
    path = Path(path)
    if len(dataset) == 0:
        raise DataError(f"{path}: nothing to cache, the dataset is empty")
    join_process_group()
    if path.is_file():
        return CachedSplit.load(path)
    target = None if device is None else resolve_device(device)
    progress = progress if is_main_process() else None
    if world_size() == 1:
        split = _compute(features, dataset, range(len(dataset)), target, label_dtype, desc, progress)
        split.save(path)
        return split
    bounds = [len(dataset) * r // world_size() for r in range(world_size() + 1)]
    shards = [path.with_name(f"{path.stem}.shard{r}{path.suffix}") for r in range(world_size())]
    mine = range(bounds[rank()], bounds[rank() + 1])
    if mine:
        _compute(features, dataset, mine, target, label_dtype, desc, progress).save(shards[rank()])
    barrier()  # every shard is written
    if is_main_process():
        parts = [CachedSplit.load(shard) for shard, start, end in zip(shards, bounds, bounds[1:]) if end > start]
        CachedSplit.join(parts).save(path)
        for shard in shards:
            shard.unlink(missing_ok=True)
    barrier()  # the joined cache is written
    return CachedSplit.load(path)


def _concat(parts: Sequence[Maps]) -> Maps:
    """Maps of several caches (or shards) joined along the items."""
    if isinstance(parts[0], dict):
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}  # type: ignore[index]
    return torch.cat(parts)  # type: ignore[arg-type]


def _compute(
    features: Callable[[torch.Tensor], Maps],
    dataset: Dataset,
    indices: Sequence[int],
    device: torch.device | None,
    label_dtype: torch.dtype,
    desc: str,
    progress: ProgressCallback | None,
) -> CachedSplit:
    """Features and labels of ``dataset[i]`` for ``i`` in ``indices``, allocated once (one copy in memory)."""
    out: dict[str, torch.Tensor] = {}
    labels: torch.Tensor | None = None
    named = False
    for i, index in enumerate(tracked(indices, desc, progress)):
        image, label = dataset[index]
        maps = features(image.unsqueeze(0).to(device))
        named = isinstance(maps, dict)
        maps = maps if isinstance(maps, dict) else {"": maps}
        label = torch.as_tensor(label)
        if labels is None:
            out = {k: torch.empty((len(indices), *m.shape[1:]), dtype=torch.float16) for k, m in maps.items()}
            labels = torch.empty((len(indices), *label.shape), dtype=label_dtype)
        for k, m in maps.items():
            out[k][i] = m[0]
        labels[i] = label
    assert labels is not None  # indices is not empty
    return CachedSplit(out if named else out[""], labels)
