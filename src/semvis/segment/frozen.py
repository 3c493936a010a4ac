"""Training a PSPNet or DeepLabv3+ head on cached features of a frozen ImageNet backbone (the CPU recipe).

Fine-tuning PSPNet-VGG19 end to end costs about an hour per CamVid epoch on a 2-core CPU.
With the backbone frozen, its features are computed once per image (:func:`cache_features`,
≈ 1.5 s per 360×480 image for VGG-19 at output stride 8, ≈ 0.5 s for Xception at 16) and the
head trains on them in about a minute per epoch (:func:`train_head`). DeepLabv3+ caches two maps
per image (the dense and the low-level one). Deviations from PSPNet §4.1 and DeepLabv3+ §4,
named here and in docs/segmentation.md: the backbone is not fine-tuned, there is no auxiliary
loss (it would only train the auxiliary head), and augmentation is limited to horizontal flips
of the cached maps (random scaling and cropping would need the backbone again).

The saved file holds only the head; its header names the backbone's weights entry, and
:func:`~semvis.segment.models.load_segmenter` fetches those through the weights registry.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from semvis.data import LabelSpec, SegmentationDataset, match_channels
from semvis.errors import DataError
from semvis.progress import ProgressCallback
from semvis.segment.deeplab import DeepLabV3Plus
from semvis.segment.models import load_segmenter, save_segmenter
from semvis.segment.pspnet import PSPNet
from semvis.segment.train import RECIPES, cross_entropy, segmentation_metrics, training_split
from semvis.train import TrainConfig, Trainer, init_distributed, is_main_process
from semvis.train.cache import CachedSplit, Maps, cache_features

log = logging.getLogger("semvis.segment")


class FlippedCache(Dataset):
    """A :class:`CachedSplit` whose items are mirrored left–right with probability ½, and optionally cropped.

    Mirroring the feature map stands in for the features of the mirrored photo (VGG's filters
    are not mirror-symmetric, so this is an approximation, named in the module docstring).
    ``crop`` (cells of the coarsest map) takes a random aligned window of every map and of the
    label: each map's scale to the label is rounded to a whole factor (Xception's 23×30 map of a
    360×480 image counts as 1/16), and windows stay inside every map. Cropping cuts the head's
    training cost by the area ratio; the maps keep the context of the whole image.
    """

    def __init__(self, split: CachedSplit, crop: int | None = None) -> None:
        self.split = split
        self.crop = crop

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[Maps, torch.Tensor]:
        features, label = self.split[index]
        maps = features if isinstance(features, dict) else {"": features}
        if self.crop:
            maps, label = crop_maps(maps, label, self.crop)
        if float(torch.rand(())) < 0.5:
            maps, label = {k: v.flip(-1) for k, v in maps.items()}, label.flip(-1)
        return (maps if isinstance(features, dict) else maps[""]), label


def crop_maps(
    maps: dict[str, torch.Tensor], label: torch.Tensor, cells: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A random ``cells`` × ``cells`` window of the coarsest map, cut at the same place from every map and the label."""
    size = label.shape[-2:]
    factors = {k: [round(n / m) for n, m in zip(size, v.shape[-2:])] for k, v in maps.items()}
    coarse = [max(f[d] for f in factors.values()) for d in (0, 1)]
    room = [
        min([size[d] // coarse[d]] + [v.shape[-2 + d] * factors[k][d] // coarse[d] for k, v in maps.items()])
        for d in (0, 1)
    ]
    if min(room) < cells:
        raise DataError(f"a crop of {cells} cells does not fit maps of {room[0]}×{room[1]} cells")
    start = [int(torch.randint(room[d] - cells + 1, ())) for d in (0, 1)]

    def window(x: torch.Tensor, scale: list[int]) -> torch.Tensor:
        (top, left), (h, w) = ([start[d] * scale[d] for d in (0, 1)], [cells * scale[d] for d in (0, 1)])
        return x[..., top : top + h, left : left + w]

    cropped = {k: window(v, [coarse[d] // factors[k][d] for d in (0, 1)]) for k, v in maps.items()}
    return cropped, window(label, coarse)


class CachedHead(nn.Module):
    """N_task of a segmenter as a model of its own: cached features → logits at the labels' ``size``.

    It holds the segmenter's head modules (shared, not copied) and leaves its frozen backbone
    out, so training it trains the segmenter's head and its parameters are the head's only.
    With ``tune_after`` (a backbone stage) the cache holds that stage's map instead of the last
    one, and the backbone stages after it (:func:`tail_stages`, shared too) run and train here
    as well: the CPU recipe's "fine-tune the last blocks". Their batch norms keep the ImageNet
    statistics (eval mode; their scale and shift still learn): batches of 8 cached maps are
    too few to re-estimate them.
    """

    def __init__(self, model: PSPNet | DeepLabV3Plus, size: tuple[int, int], tune_after: str | None = None) -> None:
        super().__init__()
        heads = ("psp", "head") if isinstance(model, PSPNet) else ("context", "decoder")
        self.parts = nn.ModuleDict({name: getattr(model, name) for name in heads})
        self.tail = tail_stages(model, tune_after) if tune_after else nn.ModuleDict()
        self.classify, self.size = model.classify, size

    def train(self, mode: bool = True) -> CachedHead:
        super().train(mode)
        self.tail.eval()
        return self

    def forward(self, features: Maps, size: Sequence[int] | None = None) -> torch.Tensor:
        """Logits at ``size`` (default: the whole image's, as the validation maps are)."""
        return self.classify(self._through_tail(features), self.size if size is None else size)

    def _through_tail(self, features: Maps) -> Maps:
        """The last backbone map from the cached one (``features["dense"]`` for DeepLabv3+)."""
        x = features["dense"] if isinstance(features, dict) else features
        for stage in self.tail.values():
            x = stage(x)
        return features | {"dense": x} if isinstance(features, dict) else x


def tail_stages(model: PSPNet | DeepLabV3Plus, after: str) -> nn.ModuleDict:
    """The backbone stages after ``after`` up to the segmenter's dense layer (shared modules)."""
    stages = model.backbone.backbone.stages
    names = list(stages)
    if after not in names or names.index(after) >= names.index(model.layer):
        raise ValueError(f"cannot fine-tune after {after!r}: pick a stage before {model.layer!r} ({', '.join(names)})")
    return nn.ModuleDict({name: stages[name] for name in names[names.index(after) + 1 : names.index(model.layer) + 1]})


def tuned_keys(model: PSPNet | DeepLabV3Plus, after: str) -> tuple[str, ...]:
    """State-dict prefixes of the stages :func:`tail_stages` trains (saved in the model file)."""
    return tuple(f"backbone.backbone.stages.{name}." for name in tail_stages(model, after))


def head_loss(
    head: nn.Module, batch: tuple[Maps, torch.Tensor], ignore_index: int, class_weights: torch.Tensor | None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``loss_fn`` for a :class:`CachedHead`: cross-entropy with logits at the (possibly cropped) labels' size."""
    features, labels = batch
    loss = cross_entropy(head(features, labels.shape[-2:]), labels, ignore_index, class_weights)
    return loss, {"ce": loss.detach()}


def backbone_features(model: PSPNet | DeepLabV3Plus, image: torch.Tensor, cut: str | None = None) -> Maps:
    """The frozen backbone's features of a batch of RGB or gray images in [0, 1] (what the head trains on).

    ``cut``: an earlier stage's map in place of the last one (see :class:`CachedHead`'s ``tune_after``).
    """
    if cut is None:
        return model.eval().features(match_channels(image, model.in_channels))
    rgb = match_channels(image, model.in_channels).expand(-1, 3, -1, -1)
    if isinstance(model, PSPNet):
        return model.eval().backbone.backbone.forward_features(rgb, [cut])[cut]
    stages = model.eval().backbone.backbone.forward_features(rgb, [model.low_layer, cut])
    return {"dense": stages[cut], "low": stages[model.low_layer]}


def median_frequency_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """SegNet's class balancing for CamVid: w_c = median(f) / f_c.

    f_c is the pixel count of class c over the pixel count of the images that contain c;
    labels outside 0…C−1 (void) are not counted. A class absent from ``labels`` gets weight 0.
    """
    counts = torch.zeros(num_classes, dtype=torch.float64)
    present = torch.zeros(num_classes, dtype=torch.float64)
    for image in labels:
        per_image = torch.bincount(image.flatten().long(), minlength=256)[:num_classes].double()
        counts += per_image
        present += (per_image > 0) * image.numel()
    freq = counts / present.clamp_min(1)
    weights = torch.where(counts > 0, freq[counts > 0].median() / freq.clamp_min(1e-12), 0.0)
    return weights.float()


def train_head(
    model: PSPNet | DeepLabV3Plus,
    train: CachedSplit,
    val: CachedSplit | None,
    labels: LabelSpec,
    out_dir: str | Path,
    backbone_weights: str,
    epochs: int = 30,
    batch_size: int = 8,
    balance: bool = True,
    crop: int | None = None,
    tune_after: str | None = None,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> dict[str, float]:
    """Train ``model``'s head (pyramid pooling or ASPP + decoder) on cached features; save the head-only file.

    PSPNet's recipe (SGD momentum 0.9, lr 0.01, poly decay 0.9, weight decay 1e-4) through the
    shared :class:`~semvis.train.Trainer` (checkpoints, ``metrics.csv``, resume); ``overrides``
    go to its :class:`~semvis.train.TrainConfig`. ``balance`` weights the cross-entropy with
    :func:`median_frequency_weights` (SegNet's CamVid recipe; PSPNet itself does not). Writes
    ``out_dir/model.safetensors`` naming ``backbone_weights``; returns the last metrics row.
    ``crop``: train on random windows of that many cells of the coarsest map (:class:`FlippedCache`);
    validation scores whole images. ``tune_after``: the cache holds that backbone stage's map and
    the stages after it train too (:class:`CachedHead`); the file then stores them. ``progress``
    gets the training steps.
    """
    num_classes = model.num_classes
    weights = median_frequency_weights(train.labels, num_classes) if balance else None
    if weights is not None:
        log.info("class weights: %s", ", ".join(f"{c} {w:.2f}" for c, w in zip(labels.classes, weights.tolist())))
    cfg = TrainConfig(
        **(RECIPES["pspnet"] | {"epochs": epochs, "batch_size": batch_size, "out_dir": Path(out_dir)} | overrides)
    )
    size = tuple(train.labels.shape[-2:])
    if val is not None and tuple(val.labels.shape[-2:]) != size:
        raise DataError(f"validation maps are {tuple(val.labels.shape[-2:])}, training maps {size}: resize one split")
    head = CachedHead(model, size, tune_after)
    trainer = Trainer(
        head,
        partial(head_loss, ignore_index=labels.ignore_index, class_weights=weights),
        FlippedCache(train, crop),
        cfg,
        val_data=val,
        metrics=None
        if val is None
        else partial(segmentation_metrics, num_classes=num_classes, ignore_index=labels.ignore_index),
        progress=progress,
    )
    results = trainer.fit()
    if is_main_process():
        save_segmenter(
            model.eval(),
            cfg.out_dir / "model.safetensors",
            labels,
            backbone_weights=backbone_weights,
            tuned=tuned_keys(model, tune_after) if tune_after else (),
            provenance={"metrics": results} | ({"fine_tuned_after": tune_after} if tune_after else {}),
        )
    return results


def train_frozen_segmenter(
    arch: str,
    data_root: str | Path,
    out_dir: str | Path,
    gray: bool = True,
    output_stride: int = 8,
    channels: int = 256,
    context: str = "aspp",
    init: str | Path | None = None,
    val_split: str | None = "val",
    tune_after: str | None = None,
    progress: ProgressCallback | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """The whole CPU recipe: build ``pspnet-*`` / ``deeplab-*`` on ImageNet weights, cache, train the head.

    The backbone gets the weights at hand (:func:`~semvis.weights.weights_at_hand`). Feature caches
    go to ``out_dir`` (named by model, stride and gray/RGB, reused when present). ``channels`` is
    the head's width (PSPNet's 3×3 fuse: 512 in the paper, 256 halves the head's cost; DeepLabv3+:
    256). ``context`` (DeepLabv3+ only): ``aspp`` or ``psp``. ``init``: a saved segmenter of the
    same configuration whose head training starts from (e.g. to go on at whole maps after crops).
    ``tune_after``: also fine-tune the backbone stages after this one (its map is what is cached).
    ``kwargs`` go to :func:`train_head`; the backbone runs on their ``device`` (default auto), as
    the head will. ``progress`` gets the caching and the training steps.
    """
    from semvis.segment.models import build_segmenter
    from semvis.weights import weights_at_hand

    family, _, backbone = arch.partition("-")
    if family not in ("pspnet", "deeplab"):
        raise ValueError(f"a frozen backbone needs a pretrained PSPNet or DeepLabv3+, not {arch!r}")
    entry = weights_at_hand(backbone).name
    train_set, labels = training_split(data_root)
    head = {"channels": channels, "aux": False} if family == "pspnet" else {"width": channels, "context": context}
    model = build_segmenter(arch, len(labels.classes), 1 if gray else 3, entry, output_stride=output_stride, **head)
    if init is not None:
        start, _ = load_segmenter(init)
        if start.config != model.config:
            raise DataError(f"{init}: a segmenter built as {start.config}, not as {model.config}")
        model.load_state_dict(start.state_dict())
    device = init_distributed(kwargs.get("device", "auto")).device
    model.to(device)
    out_dir = Path(out_dir)
    tag = f"{family}-{backbone}-os{output_stride}-{'gray' if gray else 'rgb'}{f'-{tune_after}' if tune_after else ''}"
    if tune_after:
        tail_stages(model, tune_after)  # a clear error before the caching
    features = partial(backbone_features, model, cut=tune_after)
    cache = partial(cache_features, features, progress=progress, device=device)
    train = cache(train_set, out_dir / f"features-{tag}-train.safetensors", "features train")
    val = None
    if val_split is not None:
        val_set = SegmentationDataset(data_root, val_split)
        val = cache(val_set, out_dir / f"features-{tag}-{val_split}.safetensors", f"features {val_split}")
    return train_head(model, train, val, labels, out_dir, entry, tune_after=tune_after, progress=progress, **kwargs)
