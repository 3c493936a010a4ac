"""Training N of Deep Feature Flow on DAVIS foreground/background, with the backbone frozen.

The "Frame" network of Table 3: N_feat (:class:`~semvis.video.dff.FeatureNetwork`: the
dilated VGG-19 at stride 16 and the new 3×3 dilation-6 convolution to 1024 channels) and N_task
(a 1×1 convolution to the 2 score maps: background, foreground), trained per frame. On the CPU the
ImageNet backbone stays frozen: its ``relu5_4`` maps are computed once per frame
(:func:`~semvis.train.cache.cache_features`) and the new convolution and N_task train on them.
That deviation (the paper fine-tunes everything) is named in docs/video.md.

Splits (:func:`davis_split`) are lists of :class:`Clip` (frame ranges of sequences). By sequence,
the default: every third sequence in name order is a test sequence (``car-roundabout`` and
``horsejump-high`` of the eight shared ones). By frames (``tail``): the last fraction of every
sequence is the test clip and the rest trains. Eight sequences are too few for N to learn
"foreground" across object types, so the sequence split measures a network that has never seen
the object; the frame split measures DFF itself, on objects N knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from semvis.data import LabelSpec, image_to_tensor, load_image, load_label
from semvis.data.transforms import resize_image_pair, scaled_size
from semvis.data.video import FrameFolder
from semvis.device import model_device
from semvis.errors import DataError
from semvis.progress import ProgressCallback
from semvis.segment.frozen import FlippedCache
from semvis.segment.train import segmentation_loss, segmentation_metrics
from semvis.train import TrainConfig, Trainer, init_distributed, is_main_process
from semvis.train.cache import CachedSplit, cache_features
from semvis.video.dff import DeepFeatureFlow, build_dff
from semvis.video.files import save_dff

#: DAVIS masks: 0 background, 255 foreground → classes 0 and 1.
DAVIS_LABELS = LabelSpec(("background", "foreground"), ((0, 0, 0), (255, 80, 40)))
#: DFF §5's optimiser (lr 1e-3 for the first 70 % of the iterations, then 1e-4), momentum 0.9.
RECIPE: dict[str, Any] = {"optimizer": "sgd", "lr": 1e-3, "momentum": 0.9, "scheduler": "step", "gamma": 0.1}


@dataclass(frozen=True)
class Clip:
    """Frames ``start:stop`` (natural order) of one DAVIS sequence folder (``frames/``, ``masks/``)
    of ``total`` frames."""

    sequence: Path
    start: int
    stop: int
    total: int

    @classmethod
    def whole(cls, sequence: Path) -> Clip:
        total = FrameFolder(sequence / "frames").frame_count
        return cls(sequence, 0, total, total)

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        """The sequence name, with ``@start-stop`` when the clip is part of it."""
        whole = self.start == 0 and self.stop == self.total
        return self.sequence.name if whole else f"{self.sequence.name}@{self.start}-{self.stop}"

    def frames(self) -> list[Path]:
        return FrameFolder(self.sequence / "frames").files[self.start : self.stop]


def davis_split(
    root: str | Path, test: Sequence[str] | None = None, tail: float = 0.0
) -> tuple[list[Clip], list[Clip]]:
    """``(train, test)`` clips of a DAVIS root (``<seq>/frames``, ``<seq>/masks``).

    With ``tail = 0`` the split is by sequence: ``test`` names the test sequences, by default every
    third in name order (the 3rd, 6th, …). With ``0 < tail < 1`` every sequence is split in time:
    its last ``tail`` of frames (at least one) is a test clip, the frames before it a training clip.
    """
    root = Path(root)
    sequences = sorted(p for p in root.iterdir() if (p / "frames").is_dir()) if root.is_dir() else []
    if not sequences:
        raise DataError(f"{root}: no DAVIS sequences (folders with frames/ and masks/)")
    if tail:
        if test is not None:
            raise ValueError("split by test sequences or by a tail of frames, not both")
        if not 0 < tail < 1:
            raise ValueError(f"tail must be a fraction in (0, 1), got {tail}")
        clips = [Clip.whole(p) for p in sequences]
        short = [c.sequence.name for c in clips if len(c) < 2]
        if short:
            raise DataError(f"{root / short[0]}: one frame cannot be split into training and test frames")
        cuts = [min(len(c) - 1, max(1, round((1 - tail) * len(c)))) for c in clips]
        return [Clip(c.sequence, 0, k, c.total) for c, k in zip(clips, cuts)], [
            Clip(c.sequence, k, c.stop, c.total) for c, k in zip(clips, cuts)
        ]
    names = [p.name for p in sequences]
    chosen = set(names[2::3] if test is None else test)
    unknown = chosen - set(names)
    if unknown:
        raise DataError(f"{root}: no sequence {sorted(unknown)[0]!r} (have {', '.join(names)})")
    return [Clip.whole(p) for p in sequences if p.name not in chosen], [
        Clip.whole(p) for p in sequences if p.name in chosen
    ]


@dataclass(frozen=True)
class DavisData:
    """Where and how to read DAVIS for training: the root, the split (:func:`davis_split`'s ``test``
    or ``tail``) and the frame scale (0.5: 427×240)."""

    root: Path
    scale: float = 0.5
    test: Sequence[str] | None = None
    tail: float = 0.0

    def split(self) -> tuple[list[Clip], list[Clip]]:
        return davis_split(self.root, self.test, self.tail)


class DavisFrames(Dataset):
    """Every frame of some DAVIS clips at ``scale``: ``(RGB 3×H×W in [0, 1], mask H×W of 0/1)``."""

    def __init__(self, clips: Sequence[Clip], scale: float = 0.5) -> None:
        self.scale = scale
        self.items: list[tuple[Path, Path]] = []
        for clip in clips:
            for frame in clip.frames():
                mask = clip.sequence / "masks" / f"{frame.stem}.png"
                if not mask.is_file():
                    raise DataError(f"{frame}: frame has no mask (expected {mask})")
                self.items.append((frame, mask))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        frame_path, mask_path = self.items[index]
        frame = load_image(frame_path)
        size = scaled_size(frame.height, frame.width, self.scale)
        frame, mask = resize_image_pair(frame, load_label(mask_path), size)
        return image_to_tensor(frame), torch.from_numpy(mask > 127).long()


class FrameHead(nn.Module):
    """The trainable part of N on cached backbone maps: the 3×3 dilation-6 conv + ReLU, then N_task
    with its logits upsampled to the frame size ``size``, as Algorithm 1 does at inference."""

    def __init__(self, model: DeepFeatureFlow, size: Sequence[int]) -> None:
        super().__init__()
        self.conv, self.relu, self.task = model.features.conv, model.features.relu, model.task
        self.size = tuple(size)

    def features(self, maps: torch.Tensor) -> torch.Tensor:
        """N_feat's output from the cached backbone maps."""
        return self.relu(self.conv(maps))

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.task(self.features(maps), self.size)


def _backbone_maps(model: DeepFeatureFlow, frame: torch.Tensor) -> torch.Tensor:
    features = model.features.eval()
    return features.backbone(frame)[features.layer]


def backbone_cache(
    model: DeepFeatureFlow,
    clips: Sequence[Clip],
    scale: float,
    out_dir: Path,
    progress: ProgressCallback | None = None,
) -> CachedSplit:
    """The frozen backbone's maps and the masks of every frame of ``clips``, cached under ``out_dir``
    one file per clip (so splits that share clips share caches); the backbone runs where ``model`` is."""
    features = partial(_backbone_maps, model)
    arch = model.features.arch
    return CachedSplit.join(
        [
            cache_features(
                features,
                DavisFrames([clip], scale),
                out_dir / f"features-{arch}-os16-x{scale:g}-{clip.name}.safetensors",
                desc=f"features {clip.name}",
                progress=progress,
                device=model_device(model),
            )
            for clip in clips
        ]
    )


def davis_metrics(model: nn.Module, loader: DataLoader) -> dict[str, float]:
    """``metrics`` for the Trainer on DAVIS masks: ``j`` (foreground IoU, the J measure, over all pixels
    of the split), ``miou`` (foreground and background) and the mean cross-entropy ``loss``."""
    classes = DAVIS_LABELS.classes
    results = segmentation_metrics(model, loader, len(classes), DAVIS_LABELS.ignore_index, classes)
    return {"j": results.pop("iou_foreground")} | results


def frame_recipe(epochs: int, batch_size: int, out_dir: Path, overrides: dict[str, Any]) -> TrainConfig:
    """§5's schedule over ``epochs``: :data:`RECIPE` with the ×0.1 step after 70 % of them."""
    settings = {"epochs": epochs, "batch_size": batch_size, "step_size": max(1, round(0.7 * epochs))}
    return TrainConfig(**(RECIPE | settings | {"out_dir": out_dir} | overrides))


def train_frame_network(
    data: DavisData,
    out_dir: str | Path,
    backbone: str = "vgg19",
    epochs: int = 10,
    batch_size: int = 4,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> tuple[DeepFeatureFlow, dict[str, float]]:
    """Train N (a frozen ImageNet ``backbone``, new conv + N_task) on the training clips of ``data``
    with mirrored maps (:class:`~semvis.segment.frozen.FlippedCache`); save ``out_dir/model.safetensors``.

    The test clips are scored after every epoch (``val_j``, ``val_miou`` in ``metrics.csv``): they
    report, nothing is chosen on them. The whole of N, backbone included, runs on the configured
    device; ``progress`` gets the caching and the training steps.
    """
    from semvis.weights import weights_at_hand

    entry = weights_at_hand(backbone).name
    train_clips, test_clips = data.split()
    model = build_dff(len(DAVIS_LABELS.classes), backbone, flownet=None, pretrained=entry)
    out_dir = Path(out_dir)
    cfg = frame_recipe(epochs, batch_size, out_dir, overrides)
    model.to(init_distributed(cfg.device).device)
    cache = backbone_cache(model, train_clips, data.scale, out_dir, progress)
    test = backbone_cache(model, test_clips, data.scale, out_dir, progress)
    head = FrameHead(model, cache.labels.shape[-2:])
    loss = partial(segmentation_loss, ignore_index=DAVIS_LABELS.ignore_index)
    trainer = Trainer(head, loss, FlippedCache(cache), cfg, val_data=test, metrics=davis_metrics, progress=progress)
    results = trainer.fit()
    if is_main_process():
        notes = {"train_clips": [c.name for c in train_clips], "scale": data.scale, "metrics": results}
        save_dff(model, out_dir / "model.safetensors", DAVIS_LABELS, entry, notes)
    return model, results
