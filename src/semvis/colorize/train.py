"""Training the colorizer with :class:`~semvis.train.Trainer` (seed §3 recipe), Huber or rebalanced classification."""

from __future__ import annotations

import logging
import os
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from semvis.colorize.bins import (
    annealed_mean,
    class_bin_counts,
    class_log_ratio,
    class_mean_offset,
    rebalance_weights,
    smoothed_prior,
)
from semvis.colorize.cache import CachedPhotos
from semvis.colorize.data import ColorizationDataset, SegmentedPhotos, Segmenter, camvid_colorization
from semvis.colorize.infer import ab_psnr
from semvis.colorize.losses import huber_ab_loss, rebalanced_ce_loss
from semvis.colorize.unet import SemanticColorizer, SemanticMode, save_colorizer
from semvis.data import ResizeCropFlip
from semvis.progress import ProgressCallback
from semvis.train import (
    TrainConfig,
    Trainer,
    is_main_process,
    move_to,
    seed_everything,
)

log = logging.getLogger("semvis.colorize")
ADAM_BETAS = (0.9, 0.999)
WEIGHTS_FILE = "colorizer.safetensors"
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
LossMode = Literal["huber", "classification"]
#: The classification loss is taken at every 2nd pixel of each axis (Zhang et al. take it at 1/4 resolution).
LOSS_EVERY = 2
#: Rebalancing weights of a classification run, beside its checkpoints.
WEIGHTS_TABLE = "rebalance.pt"


def colorize_loss(
    model: nn.Module, batch: Batch, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 1 (Huber, δ = 1) of ``model(L, labels)``, or with bin ``weights`` the rebalanced
    cross-entropy of its logits (:func:`~semvis.colorize.losses.rebalanced_ce_loss`); logs the ab PSNR."""
    luma, labels, ab = batch
    if weights is None:
        pred = model(luma, labels)
        return huber_ab_loss(pred, ab), {"ab_psnr": ab_psnr(pred.detach(), ab).mean()}
    logits = model.logits(luma, labels, LOSS_EVERY)
    ab = ab[..., ::LOSS_EVERY, ::LOSS_EVERY]
    return rebalanced_ce_loss(logits, ab, weights), {"ab_psnr": ab_psnr(annealed_mean(logits.detach()), ab).mean()}


def colorize_metrics(model: nn.Module, loader: DataLoader) -> dict[str, float]:
    """Mean Huber loss per element of the decoded chroma (``loss``) and mean per-image ab PSNR in dB (``ab_psnr``)."""
    device = next(model.parameters()).device
    loss_sum, psnr_sum, elements, images = 0.0, 0.0, 0, 0
    for batch in loader:
        luma, labels, ab = move_to(batch, device)
        pred = model(luma, labels)
        loss_sum += huber_ab_loss(pred, ab, reduction="sum").item()
        elements += ab.numel()
        psnr = ab_psnr(pred, ab)
        psnr_sum += psnr.sum().item()
        images += psnr.numel()
    return {"loss": loss_sum / elements, "ab_psnr": psnr_sum / images}


def bin_statistics(dataset: Dataset, num_classes: int, out_dir: Path) -> dict[str, torch.Tensor]:
    """Eq. 4's ``weights`` and the per-class ``log_ratio`` (:func:`~semvis.colorize.bins.class_log_ratio`)
    from the bin histogram of ``dataset``'s (RGB, labels) pairs, kept in ``out_dir`` for resuming."""
    path = out_dir / WEIGHTS_TABLE
    if path.is_file():
        return torch.load(path, weights_only=True)
    counts = class_bin_counts((dataset[i] for i in range(len(dataset))), num_classes)
    prior = smoothed_prior(counts.sum(0))
    stats = {
        "prior": prior,
        "weights": rebalance_weights(prior),
        "log_ratio": class_log_ratio(counts),
        "mean_offset": class_mean_offset(counts),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(stats, path)
    return stats


def warm_start(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Copy every tensor of a colorizer file whose name and shape match ``model``'s (the rest stay initialised)."""
    from semvis.colorize.unet import load_colorizer

    source = load_colorizer(path).state_dict()
    own = model.state_dict()
    matched = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(matched, strict=False)
    log.info("warm start from %s: %d of %d tensors", path, len(matched), len(own))


def train_colorizer(
    data_root: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    epochs: int,
    batch_size: int = 16,
    lr: float = 1e-4,
    crop: int = 352,
    resize: int = 360,
    instance_norm: bool = True,
    semantic: SemanticMode = "scalar",
    width: int = 32,
    val_split: str | None = "val",
    photos: str | os.PathLike[str] | None = None,
    segmenter: tuple[Segmenter, int] | None = None,
    progress: ProgressCallback | None = None,
    loss: LossMode = "huber",
    class_prior: bool = False,
    cache: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    init: str | os.PathLike[str] | None = None,
    epoch_size: int | None = None,
    **overrides: Any,
) -> dict[str, float]:
    """Train a :class:`SemanticColorizer` on a CamVid-layout dataset; return the last metrics row.

    With ``photos`` (a folder of colour photos) and ``segmenter`` (``(rgb → labels, class count)``)
    it trains on the photos under their predicted maps instead, each map predicted once
    (:class:`~semvis.colorize.data.SegmentedPhotos`); ``data_root`` is then optional and, when
    given, only validates (its ``val_split``). With ``cache`` (chunks of
    :func:`~semvis.colorize.cache.build_cache`, ``num_classes`` classes) it trains on those.

    ``loss="classification"``: Q-bin head and the class-rebalanced cross-entropy (Zhang et al.
    2016); ``class_prior``: the per-class head bias (:class:`SemanticColorizer`), with the
    classification head initialised to each class's log p̃(q | c) − log p̃(q) on the training set,
    the regression head to atanh of the class's mean ab minus that of all pixels; ``init``: a
    colorizer file to start from (:func:`warm_start`); ``epoch_size``: photos per epoch drawn
    from the cache (:class:`~semvis.colorize.cache.CachedPhotos`; the rebalancing histogram still
    counts every cached photo once).

    Seed §3: Adam (β = 0.9, 0.999), lr 1e-4, batch 16, shorter side resized to 360, random
    352×352 crops and horizontal flips; validation on centre crops of ``val_split`` (None: none).
    ``overrides`` go to :class:`~semvis.train.TrainConfig` (``num_workers``, ``seed``, ``resume``…);
    ``progress`` gets the training steps (:class:`~semvis.train.Trainer`).
    Writes checkpoints and ``metrics.csv`` under ``out_dir``, then fp16 weights with the
    architecture config as ``out_dir/colorizer.safetensors`` (:func:`load_colorizer` reads it).
    Works under ``torchrun``.
    """
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        optimizer="adam",
        lr=lr,
        optimizer_kwargs={"betas": ADAM_BETAS},
        out_dir=Path(out_dir),
        **overrides,
    )
    if cache is not None:
        if num_classes is None:
            raise ValueError("training on a cache needs its class count")
        train_set = ColorizationDataset(CachedPhotos(cache, ResizeCropFlip(resize, crop, True)))
    elif photos is not None:
        if segmenter is None:
            raise ValueError("training on a photo folder needs a segmenter for the maps")
        predict, num_classes = segmenter
        train_set = ColorizationDataset(SegmentedPhotos(photos, predict, ResizeCropFlip(resize, crop, True)))
    elif data_root is not None:
        train_set, num_classes = camvid_colorization(data_root, "train", True, resize, crop)
    else:
        raise ValueError("give data_root (CamVid layout) or photos (with a segmenter)")
    validate = data_root is not None and val_split is not None
    val_set = camvid_colorization(data_root, val_split, False, resize, crop)[0] if validate else None
    seed_everything(cfg.seed)  # the initial weights too depend on the seed
    head = "classification" if loss == "classification" else "regression"
    model = SemanticColorizer(num_classes, width, instance_norm, semantic, head, class_prior)
    if init is not None:
        warm_start(model, init)
    weights = None
    if loss == "classification" or class_prior:
        stats = bin_statistics(train_set.pairs, num_classes, cfg.out_dir)
        weights = stats["weights"] if loss == "classification" else None
        if model.prior is not None:
            with torch.no_grad():
                model.prior.weight.copy_(stats["log_ratio" if loss == "classification" else "mean_offset"])
    if cache is not None:
        train_set.pairs.epoch_size = epoch_size
    metrics = colorize_metrics if val_set is not None else None
    loss_fn = partial(colorize_loss, weights=weights)
    trainer = Trainer(model, loss_fn, train_set, cfg, val_set, metrics, progress=progress)
    results = trainer.fit()
    if is_main_process():
        path = save_colorizer(
            model,
            cfg.out_dir / WEIGHTS_FILE,
            provenance={"data": str(cache or photos or data_root), "loss": loss, "metrics": results},
        )
        log.info("weights: %s", path)
    return results
