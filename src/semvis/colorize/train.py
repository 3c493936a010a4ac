"""Training the colorizer on CamVid with :class:`~semvis.train.Trainer` (seed §3 recipe)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from semvis.colorize.data import ColorizationDataset, SegmentedPhotos, Segmenter, camvid_colorization
from semvis.colorize.infer import ab_psnr
from semvis.colorize.losses import huber_ab_loss
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


def colorize_loss(model: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 1 (Huber, δ = 1) of ``model(L, labels)`` against the true ab; logs the mean ab PSNR."""
    luma, labels, ab = batch
    pred = model(luma, labels)
    return huber_ab_loss(pred, ab), {"ab_psnr": ab_psnr(pred.detach(), ab).mean()}


def colorize_metrics(model: nn.Module, loader: DataLoader) -> dict[str, float]:
    """Mean Huber loss per element (``loss``) and mean per-image ab PSNR in dB (``ab_psnr``)."""
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
    **overrides: Any,
) -> dict[str, float]:
    """Train a :class:`SemanticColorizer` on a CamVid-layout dataset; return the last metrics row.

    With ``photos`` (a folder of colour photos) and ``segmenter`` (``(rgb → labels, class count)``)
    it trains on the photos under their predicted maps instead, each map predicted once
    (:class:`~semvis.colorize.data.SegmentedPhotos`); ``data_root`` is then optional and, when
    given, only validates (its ``val_split``).

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
    if photos is not None:
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
    model = SemanticColorizer(num_classes, width, instance_norm, semantic)
    metrics = colorize_metrics if val_set is not None else None
    trainer = Trainer(model, colorize_loss, train_set, cfg, val_set, metrics, progress=progress)
    results = trainer.fit()
    if is_main_process():
        path = save_colorizer(
            model, cfg.out_dir / WEIGHTS_FILE, provenance={"data": str(data_root), "metrics": results}
        )
        log.info("weights: %s", path)
    return results
