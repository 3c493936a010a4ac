"""Training R-FCN on cached backbone features (frozen N_feat backbone, learned 3×3 conv + N_task).

The backbone runs once per frame (:func:`cache_sequence`, :func:`semvis.train.cache_features`);
the Trainer then fits the dilated 3×3 convolution and the R-FCN head on the stored maps, one
image per step as Faster R-CNN / R-FCN, weight decay 0.0005 (R-FCN) and the DFF paper's schedule
shape: the rate falls tenfold after 3/4 of the steps (15K of 20K). Deviations: Adam (lr 2e-4) by
default instead of SGD (momentum 0.9, lr 1e-3 over 8 GPUs) — SGD at 0.004 per image had learned
no class after one epoch (782 steps: every class 0.14 on a training box), and a few thousand steps
is all the CPU budget holds; 1 image per step; no horizontal flips (the features are cached).

The backbone is cached in **eval mode** (BatchNorm with its ImageNet running statistics), as it
runs at test time. The first caches (``/work/runs/detect/cache``) were computed with the freshly
built detector still in train mode, so BatchNorm normalised each frame by its own statistics and
the head was trained on maps unlike those it sees at inference (max difference 1.6 on maps of
mean magnitude 0.2).

Frames carry ignore regions and an ``exhaustive`` flag (CamVid) to the losses; the video clips have
neither, and their targets are as before (:mod:`semvis.detect.targets`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import ConcatDataset, Dataset

from semvis.data.transforms import short_side_size
from semvis.detect.data import CLASSES, FrameImages, Sequence, scale_boxes
from semvis.detect.rfcn import SHORT_SIDE, Detector
from semvis.detect.targets import rfcn_loss, rpn_loss
from semvis.train.cache import CachedSplit, cache_features

#: R-FCN / Faster R-CNN SGD settings.
MOMENTUM = 0.9
WEIGHT_DECAY = 0.0005
#: DFF §5: the last quarter of the steps at a tenth of the rate.
DECAY_AT = 0.75
#: Deviation: a global gradient-norm cap, a guard for the higher per-image rate of a short CPU schedule.
GRAD_CLIP = 10.0


def cache_sequence(detector: Detector, sequence: Sequence, folder: Path, short_side: int = SHORT_SIDE) -> CachedSplit:
    """The frozen backbone's maps of every frame (fp16), stored in ``folder`` (read back if there)."""
    path = folder / f"{sequence.name.replace('/', '_')}-{short_side}.safetensors"
    backbone = detector.features.backbone
    mode = backbone.training
    backbone.eval()  # BatchNorm with its running statistics, as at inference
    try:
        return cache_features(
            detector.features.embed,
            FrameImages(sequence, short_side),
            path,
            desc=sequence.name,
            label_dtype=torch.int16,
        )
    finally:
        backbone.train(mode)


@dataclass(frozen=True)
class FrameTarget:
    """A frame's targets in the resized frame's pixels: boxes, class indices, ignore regions, ``(H, W)``,
    and whether every object is labelled (:class:`semvis.detect.data.Frame`)."""

    boxes: torch.Tensor
    labels: torch.Tensor
    ignore: torch.Tensor
    size: tuple[int, int]
    exhaustive: bool


def frame_targets(sequence: Sequence, short_side: int = SHORT_SIDE) -> list[FrameTarget]:
    """Per frame: its targets scaled to the frame resized to ``short_side``."""
    out = []
    for frame in sequence.frames:
        with Image.open(frame.path) as image:
            w, h = image.size
        size = short_side_size(h, w, short_side)
        boxes, ignore = (scale_boxes(b, (h, w), size) for b in (frame.boxes, frame.ignore))
        out.append(FrameTarget(boxes, frame.labels, ignore, size, frame.exhaustive))
    return out


class CachedFrames(Dataset):
    """``(maps, boxes, labels, size, ignore, exhaustive)`` of each frame of one cached sequence."""

    def __init__(self, cached: CachedSplit, targets: list[FrameTarget]) -> None:
        self.cached, self.targets = cached, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        maps, _ = self.cached[index]
        t = self.targets[index]
        return maps, t.boxes, t.labels, torch.tensor(t.size), t.ignore, torch.tensor(t.exhaustive)


def training_set(detector: Detector, sequences: list[Sequence], folder: Path) -> ConcatDataset:
    """The cached frames of ``sequences`` with their targets."""
    return ConcatDataset([CachedFrames(cache_sequence(detector, s, folder), frame_targets(s)) for s in sequences])


def detection_loss(model: Detector, batch: Any) -> tuple[torch.Tensor, Mapping[str, float]]:
    """RPN + R-FCN losses of a batch of one cached frame (:class:`CachedFrames`, collated; Faster
    R-CNN's approximate joint training)."""
    maps, boxes, labels, size, ignore, exhaustive = batch
    keep = boxes[0][:, 2] > boxes[0][:, 0]
    truth, classes, image_size = boxes[0][keep], labels[0][keep], (int(size[0, 0]), int(size[0, 1]))
    regions, full = ignore[0], bool(exhaustive[0])
    task_maps = model.task.maps(model.features.head(maps))
    generator = torch.Generator().manual_seed(int(torch.randint(2**31, (1,))))
    rpn_cls, rpn_box = rpn_loss(model.task, task_maps, 0, truth, image_size, generator, regions, full)
    rcnn_cls, rcnn_box = rfcn_loss(model.task, task_maps, 0, truth, classes, image_size, regions, full)
    logs = {"rpn_cls": rpn_cls.item(), "rpn_box": rpn_box.item(), "cls": rcnn_cls.item(), "box": rcnn_box.item()}
    return rpn_cls + rpn_box + rcnn_cls + rcnn_box, logs


def train_detector(
    sequences: list[Sequence],
    cache: Path,
    out_dir: Path,
    epochs: int,
    lr: float,
    optimizer: str = "adam",
    resume: bool = True,
) -> Detector:
    """Cache the backbone's maps of ``sequences`` and train N_feat's 3×3 conv and R-FCN on them (resumable)."""
    from semvis.train import TrainConfig, Trainer

    detector = Detector(len(CLASSES), pretrained=True)
    detector.features.backbone.requires_grad_(False)
    data = training_set(detector, sequences, cache)
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=1,
        optimizer=optimizer,
        lr=lr,
        momentum=MOMENTUM,
        weight_decay=WEIGHT_DECAY,
        scheduler="step",
        step_size=epochs * DECAY_AT,
        gamma=0.1,
        device="cpu",
        out_dir=out_dir,
        resume=resume,
        log_every=100,
        grad_clip=GRAD_CLIP,
    )
    Trainer(detector, detection_loss, data, cfg).fit()
    return detector
