"""Training DFF end to end on frame pairs (Zhu et al. 2017, §3 and §5), and the Table 3 variants.

A training sample is a current frame I_i of a training clip and a key frame I_k before it with
0 ≤ i − k ≤ 9, the gap drawn uniformly at random each time the frame is drawn (§5). The loss is
N_task's cross-entropy on frame i's mask after the key frame's features are propagated by F
and W (eq. 1–3), so the gradients reach F through W (eq. 4) and N through the key features.

As in :mod:`semvis.video.train`, the ImageNet backbone stays frozen on the CPU: the key frames'
backbone maps come from the same cache, and what trains is the new 3×3 convolution and N_task
(together "N" below) and F. Training starts from the separately trained N ("Frame") and F
(pre-trained on synthetic pairs), as §5 does, with F's scale-field channels added at their
initial value (weights 0, biases 1). The variants of Table 3 that train:

========= ====================================
variant   trained
========= ====================================
``dff``   N and F jointly (DFF)
``fix-n`` F only, N kept as Frame (DFF fix N)
``fix-f`` N only, F kept as pre-trained (DFF fix F)
========= ====================================

"DFF separate" trains nothing jointly: Frame's N with the pre-trained F as its flow function.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from semvis.progress import ProgressCallback
from semvis.segment.train import segmentation_loss
from semvis.train import Trainer, init_distributed, is_main_process
from semvis.train.cache import CachedSplit
from semvis.video.dff import DeepFeatureFlow
from semvis.video.files import load_dff, save_dff
from semvis.video.flow_train import load_flownet
from semvis.video.train import (
    DAVIS_LABELS,
    Clip,
    DavisData,
    DavisFrames,
    FrameHead,
    backbone_cache,
    frame_recipe,
)
from semvis.weights import read_header

#: §5: the key frame is at most 9 frames before the current one.
MAX_GAP = 9
#: Table 3's jointly trained variants → the parts of N/F that train (``n``: conv + N_task, ``f``: F).
VARIANTS: dict[str, tuple[str, ...]] = {"dff": ("n", "f"), "fix-n": ("f",), "fix-f": ("n",)}


class DavisPairs(Dataset):
    """Item i: ``((key backbone maps, key frame, frame i), mask i)`` with the key frame 0–``max_gap``
    frames before frame i in its clip, drawn afresh on every access (torch's global generator).

    ``cache`` holds the backbone maps and masks of the clips' frames in order
    (:func:`~semvis.video.train.backbone_cache` at the same ``scale``).
    """

    def __init__(self, clips: Sequence[Clip], scale: float, cache: CachedSplit, max_gap: int = MAX_GAP) -> None:
        self.frames = DavisFrames(clips, scale)
        if len(self.frames) != len(cache):
            raise ValueError(f"the cache holds {len(cache)} frames, the clips {len(self.frames)}")
        self.cache, self.max_gap = cache, max_gap
        self.position = [i for clip in clips for i in range(len(clip))]

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
        gap = int(torch.randint(min(self.max_gap, self.position[index]) + 1, ()))
        key = index - gap
        frame, _ = self.frames[index]
        key_frame, _ = self.frames[key]
        return (self.cache.features[key].float(), key_frame, frame), self.cache.labels[index].long()


class PairHead(nn.Module):
    """The trainable part of DFF on a pair: N on the key frame's cached backbone maps, F on
    (frame, key frame), W, then N_task at the frame's size."""

    def __init__(self, model: DeepFeatureFlow, size: Sequence[int]) -> None:
        super().__init__()
        if model.flow is None:
            raise ValueError("joint training needs a model with a flow network")
        self.n = FrameHead(model, size)
        self.flow = model.flow

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        maps, key_frame, frame = inputs
        features = DeepFeatureFlow.propagate(self.n.features(maps), self.flow(frame, key_frame))
        return self.n.task(features, self.n.size)


def dff_from_parts(
    frame_weights: str | Path, flow_weights: str | Path, scale_head: str | None = None
) -> DeepFeatureFlow:
    """Frame's N (:func:`~semvis.video.files.load_dff`) with a pre-trained F whose scale field has
    N_feat's channels (:func:`~semvis.video.flow_train.load_flownet`; ``scale_head``: the file's)."""
    model, _ = load_dff(frame_weights)
    model.flow = load_flownet(flow_weights, model.features.out_channels, scale_head=scale_head)
    return model


def train_dff(
    data: DavisData,
    frame_weights: str | Path,
    flow_weights: str | Path,
    out_dir: str | Path,
    variant: str = "dff",
    epochs: int = 10,
    batch_size: int = 4,
    progress: ProgressCallback | None = None,
    scale_head: str | None = None,
    **overrides: Any,
) -> tuple[DeepFeatureFlow, dict[str, float]]:
    """Train a :data:`VARIANTS` variant on the pairs of the training clips of ``data``, from Frame's N
    and a pre-trained F (its scale field predicted by ``scale_head``, default the file's); save
    ``out_dir/model.safetensors`` (N and F). The whole network runs on the configured device;
    ``progress`` gets the caching and the training steps."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {list(VARIANTS)}")
    model = dff_from_parts(frame_weights, flow_weights, scale_head)
    train_clips, _ = data.split()
    out_dir = Path(out_dir)
    cfg = frame_recipe(epochs, batch_size, out_dir, overrides)
    model.to(init_distributed(cfg.device).device)
    cache = backbone_cache(model, train_clips, data.scale, out_dir, progress)
    head = PairHead(model, cache.labels.shape[-2:])
    head.n.requires_grad_("n" in VARIANTS[variant])
    head.flow.requires_grad_("f" in VARIANTS[variant])
    pairs = DavisPairs(train_clips, data.scale, cache)
    loss = partial(segmentation_loss, ignore_index=DAVIS_LABELS.ignore_index)
    results = Trainer(head, loss, pairs, cfg, progress=progress).fit()
    if is_main_process():
        notes = {"variant": variant, "train_clips": [c.name for c in train_clips], "scale": data.scale}
        backbone_weights = read_header(frame_weights, "Deep Feature Flow").config["pretrained"]
        save_dff(model.eval(), out_dir / "model.safetensors", DAVIS_LABELS, backbone_weights, notes)
    return model, results
