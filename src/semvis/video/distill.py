"""Distilling a teacher flow into F on real video pairs (semvis issue 16).

DFF pre-trains F on Flying Chairs (§5) and needs only that F carries features along real motion.
Our synthetic pre-training (:mod:`semvis.video.chairs`) does not reach real footage, so here a
teacher whose flow is good on real video — OpenCV DIS (the default) or RAFT-small — labels pairs
of real frames ``(t, t ± d)``, and F (FlowNet Half by default, Table 7: the cheapest F, r ≤ 0.05 by
eq. 5–6) learns to reproduce it with FlowNet's multi-scale end-point error
(:func:`~semvis.video.flow_train.multiscale_loss`).

The teacher runs once per pair; its flows are cached at stride 4 of the frame (fp16, enough for
the stride-8 output and coarser levels) with :func:`~semvis.train.cache.cache_features`, in a file
named by the teacher, the frame size and a digest of the pair list, so a resumed or repeated run
reads them back. Frames are every frame of each sequence's ``frames/`` folder resized to one size
(default 240×427, the frames DFF runs on for DAVIS at scale ½).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, Dataset

from semvis.data import load_image
from semvis.data.video import FrameFolder
from semvis.errors import DataError
from semvis.flow import dis_flow
from semvis.progress import ProgressCallback
from semvis.train.cache import CachedSplit, cache_features
from semvis.video.chairs import SyntheticPairs
from semvis.video.flow_train import fit_flownet, load_flownet, multiscale_loss
from semvis.video.flownet import FlowNet, resize_flow

Size = tuple[int, int]  # (H, W)
#: A flow between two RGB uint8 H×W×3 frames, H×W×2 in pixels (``frame1(p) ≈ frame2(p + flow(p))``).
Dense = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: DAVIS at scale ½, the frame size DFF runs on here.
SIZE: Size = (240, 427)
#: The teacher's flow is cached at this stride of the frame.
CACHE_STRIDE = 4


def teacher_flow(name: str) -> Dense:
    """The teacher by name: ``dis`` (OpenCV DIS, medium preset) or ``raft`` (RAFT-small, 12 iterations)."""
    if name == "dis":
        return partial(dis_flow, preset="medium")
    if name == "raft":
        from semvis.flow import RAFTFlow

        return RAFTFlow(iterations=12).dense
    raise ValueError(f"unknown teacher {name!r}; choose dis or raft")


def frame_pairs(counts: Sequence[int], max_gap: int) -> list[tuple[int, int, int]]:
    """``(sequence, t, t')`` for every ``t' = t ± d``, ``1 ≤ d ≤ max_gap``, in sequences of ``counts`` frames."""
    if max_gap < 1:
        raise ValueError(f"max_gap must be at least 1, got {max_gap}")
    return [
        (s, t, t + sign * d)
        for s, count in enumerate(counts)
        for t in range(count)
        for d in range(1, max_gap + 1)
        for sign in (1, -1)
        if 0 <= t + sign * d < count
    ]


class VideoPairs(Dataset):
    """Pairs of real frames of the ``sequences`` (folders of numbered frames), all resized to ``size``.

    The frames are read once and kept as uint8 (a thousand 240×427 frames take 0.3 GB). Item i is
    ``(pair as a 6×H×W uint8 tensor: frame t then frame t', i)``, the form :func:`cache_features` reads.
    """

    def __init__(self, sequences: Sequence[Path], max_gap: int = 5, size: Size = SIZE) -> None:
        if not sequences:
            raise DataError("no video sequences to make flow pairs from")
        self.names = [str(Path(p)) for p in sequences]
        self.size = size
        self.frames = [[_resized(load_image(f), size) for f in FrameFolder(p).files] for p in sequences]
        self.pairs = frame_pairs([len(f) for f in self.frames], max_gap)
        if not self.pairs:
            raise DataError(f"{sequences[0]}: sequences of one frame give no pairs")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        s, t, later = self.pairs[index]
        return torch.cat([self.frames[s][t], self.frames[s][later]]), index

    def digest(self, teacher: str) -> str:
        """A short hash of the teacher, the frame size, the sequences and the pairs."""
        text = repr((teacher, self.size, self.names, self.pairs))
        return hashlib.sha1(text.encode()).hexdigest()[:10]


def _resized(image: Image.Image, size: Size) -> torch.Tensor:
    """A PIL image as a 3×H×W uint8 tensor of ``size`` (bilinear, antialiased when shrinking)."""
    resized = image.resize(size[::-1], Image.Resampling.BILINEAR) if image.size != size[::-1] else image
    return torch.from_numpy(np.array(resized)).permute(2, 0, 1).contiguous()


def _teacher_map(teacher: Dense, pair: torch.Tensor) -> torch.Tensor:
    """The teacher's flow of a 1×6×H×W uint8 pair, resized to stride :data:`CACHE_STRIDE`: 1×2×h×w."""
    first, second = (x.permute(1, 2, 0).numpy() for x in pair[0].split(3))
    flow = torch.from_numpy(teacher(first, second)).permute(2, 0, 1)[None]
    h, w = pair.shape[-2:]
    return resize_flow(flow, (-(-h // CACHE_STRIDE), -(-w // CACHE_STRIDE)), antialias=True)


def teacher_cache(
    pairs: VideoPairs, teacher: str, folder: str | Path, progress: ProgressCallback | None = None
) -> CachedSplit:
    """The teacher's flow of every pair (``features``, N×2×h×w fp16 at stride 4; ``labels`` the pair
    indices), computed once into ``folder/teacher-<name>-<H>x<W>-<digest>.safetensors`` and read back after."""
    h, w = pairs.size
    path = Path(folder) / f"teacher-{teacher}-{h}x{w}-{pairs.digest(teacher)}.safetensors"
    if path.is_file():
        cached = CachedSplit.load(path)
    else:
        flow = partial(_teacher_map, teacher_flow(teacher))
        cached = cache_features(flow, pairs, path, f"{teacher} flow", torch.int32, progress)
    if not torch.equal(cached.labels, torch.arange(len(pairs), dtype=torch.int32)):
        raise DataError(f"{path}: does not hold one flow per pair in order; delete it to recompute")
    return cached


class DistillPairs(Dataset):
    """``(frame t, frame t', teacher flow)``: frames 3×H×W in [0, 1], the cached flow resized to the frame (2×H×W)."""

    def __init__(self, pairs: VideoPairs, flows: CachedSplit) -> None:
        self.pairs, self.flows = pairs, flows

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pair, _ = self.pairs[index]
        flow = resize_flow(self.flows.features[index][None].float(), pair.shape[-2:])[0]
        first, second = pair.float().div(255).split(3)
        return first, second, flow


def video_sequences(roots: Sequence[str | Path], leave_out: Sequence[str] = ()) -> list[Path]:
    """The sequences (sub-folders with ``frames/``) under each root, in name order, but those named in ``leave_out``."""
    found = []
    for root in map(Path, roots):
        sequences = sorted(p for p in root.iterdir() if (p / "frames").is_dir()) if root.is_dir() else []
        if not sequences:
            raise DataError(f"{root}: no video sequences (folders with frames/)")
        found += [p / "frames" for p in sequences if p.name not in leave_out]
    return found


def distill_flownet(
    sequences: Sequence[Path],
    out_dir: str | Path,
    init: str | Path,
    teacher: str = "dis",
    max_gap: int = 5,
    size: Size = SIZE,
    photos: str | Path | None = None,
    synthetic: int = 0,
    moving: float = 0.0,
    epochs: int = 4,
    batch_size: int = 4,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> tuple[FlowNet, dict[str, float]]:
    """Train the F saved at ``init`` to reproduce ``teacher``'s flow on pairs of the ``sequences``
    (frame folders), plus ``synthetic`` Flying-Chairs-style pairs from ``photos``; ``moving`` weighs
    pixels moving apart from the camera more (:func:`~semvis.video.flow_train.end_point_error`).

    The teacher's flows are cached in ``out_dir`` (:func:`teacher_cache`); training is
    :func:`~semvis.video.flow_train.fit_flownet` with the multi-scale loss, so ``resume=True``
    continues from the latest checkpoint. Saves ``out_dir/model.safetensors``.
    """
    model = load_flownet(init)
    pairs = VideoPairs(sequences, max_gap, size)
    data: Dataset = DistillPairs(pairs, teacher_cache(pairs, teacher, out_dir, progress))
    if synthetic:
        if photos is None:
            raise ValueError("synthetic pairs need photos")
        data = ConcatDataset([data, SyntheticPairs(photos, size, synthetic)])
    notes = {
        "teacher": teacher,
        "init": Path(init).name,
        "sequences": [Path(p).parent.name for p in sequences],
        "max_gap": max_gap,
        "size": list(size),
        "pairs": len(pairs),
        "synthetic_pairs": synthetic,
        "moving": moving,
    }
    loss = partial(multiscale_loss, moving=moving)
    return model, fit_flownet(model, data, loss, out_dir, notes, epochs, batch_size, progress, **overrides)
