"""Training the semantic hashing network with its trunk frozen: the CPU recipe of issue 5.

The paper fine-tunes the whole network in both phases. On a 2-core CPU the trunk (VGG-19 up
to ``relu4_4``, 0.3 s per 224×224 image) would make each Caltech-101 epoch about 40 minutes,
so the trunk is frozen and its 28×28×512 maps are computed once
(:func:`~semvis.train.cache.cache_features`). On those maps:

1. **segmentation phase** (:func:`train_segmentation_phase`): PSP + segmentation head learn
   pixel labels with NLL — SGD momentum 0.9, lr 1e-3 → 1e-4 after 20 epochs, 30 epochs,
   batch 32, as in the paper. Photos are cut into 224×224 squares that cover each photo
   (:class:`SquareCrops`: two for a 480×360 CamVid frame);
2. **hash phase** (:func:`train_hash_loss` of a :class:`HashPhase`): the softmax and segmentation head go; the PSP
   module (initialised by phase 1) and the FC layers learn codes and labels together with
   cross-entropy on the classes, same SGD settings, batch 96. The baseline (Lin et al. 2015)
   trains the same FC layers straight on the trunk's map.

3. **fine-tuning** (optional, :func:`train_hash_loss` of an :class:`EndToEnd`): the paper's
   end-to-end training on images, with the last trunk stages unfrozen; it runs the trunk every
   step, so it is the slow option on a CPU.

Deviations, named in docs/hashing.md: by default the trunk is not fine-tuned; there is no data
augmentation (the paper names none; cached maps allow none).
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from semvis.atomic import atomic_path
from semvis.data import ImageFolderDataset, LabelSpec, SegmentationDataset, image_to_tensor
from semvis.data.transforms import crop_pair, resize_pair
from semvis.device import model_device
from semvis.errors import DataError
from semvis.hashing.codes import binarize, pack_codes
from semvis.hashing.encode import INPUT_SIZE, ImageEncoder, square_crop
from semvis.hashing.evaluate import RetrievalScores, code_statistics, evaluate_retrieval, float_ranking_scores
from semvis.hashing.model import SemanticHashNet, save_hashnet
from semvis.progress import ProgressCallback
from semvis.segment.train import segmentation_loss, segmentation_metrics, training_split
from semvis.train import TrainConfig, Trainer, init_distributed, is_main_process
from semvis.train.cache import CachedSplit, cache_features

log = logging.getLogger("semvis.hashing")


class SquareCrops(Dataset):
    """A segmentation dataset as ``size × size`` squares that together cover every photo.

    A W×H photo (W ≥ H) gives ``ceil(W / H)`` squares of side H, spread evenly from the left
    edge to the right one (top to bottom for a portrait photo). Images are resized with
    antialiased bilinear interpolation, labels with nearest neighbour.
    """

    def __init__(self, dataset: SegmentationDataset, size: int = INPUT_SIZE) -> None:
        self.dataset, self.size = dataset, size
        self.split = dataset.split
        self.items: list[tuple[int, int, int, bool]] = []  # (photo, offset, side, landscape)
        for i, (image_path, _) in enumerate(dataset.samples):
            with Image.open(image_path) as im:
                w, h = im.size
            side, long = min(w, h), max(w, h)
            count = math.ceil(long / side)
            for j in range(count):
                offset = 0 if count == 1 else round(j * (long - side) / (count - 1))
                self.items.append((i, offset, side, w >= h))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        photo, offset, side, landscape = self.items[index]
        image, label = self.dataset[photo]
        top, left = (0, offset) if landscape else (offset, 0)
        image, label = crop_pair(image, label, top, left, (side, side))
        return resize_pair(image, label, (self.size, self.size), label_mode="nearest")


def retrieval_splits(
    root: str | Path, queries_per_class: int = 10, size: int = INPUT_SIZE
) -> tuple[ImageFolderDataset, ImageFolderDataset]:
    """``(database, query)`` image sets, square-cropped to ``size``.

    Caltech-101's layout when ``root/database.txt`` exists: ``root/images/<class>/…`` listed
    by ``database.txt`` and ``query.txt``. Otherwise ``root`` is a plain folder of class
    folders, and the first ``queries_per_class`` images of each class (by path) are queries.
    """
    root = Path(root)

    def transform(im: Image.Image) -> torch.Tensor:
        return image_to_tensor(square_crop(im, size))

    if (root / "database.txt").is_file():
        images = root / "images"
        database = ImageFolderDataset(images, transform=transform, list_file=root / "database.txt")
        return database, ImageFolderDataset(images, transform=transform, list_file=root / "query.txt")
    database = ImageFolderDataset(root, transform=transform)
    query = copy.copy(database)
    taken: dict[int, int] = {}
    samples, query.samples, database.samples = database.samples, [], []
    for sample in samples:  # sorted by class, then path
        rank = taken[sample[1]] = taken.get(sample[1], 0) + 1
        (query.samples if rank <= queries_per_class else database.samples).append(sample)
    if not database.samples or not query.samples:
        raise DataError(f"{root}: too few images to keep {queries_per_class} per class as queries")
    return database, query


def trunk_features(model: SemanticHashNet, image: torch.Tensor) -> torch.Tensor:
    """The frozen trunk's map of a batch, channels-last (:func:`cache_split` converts the trunk)."""
    return model.trunk(image.contiguous(memory_format=torch.channels_last))[model.feature_layer]


def cache_tag(model: SemanticHashNet, size: int) -> str:
    return f"{model.config['backbone']}-{model.feature_layer}-{size}"


def cache_split(
    model: SemanticHashNet,
    dataset: Dataset,
    out_dir: str | Path,
    name: str,
    size: int = INPUT_SIZE,
    progress: ProgressCallback | None = None,
) -> CachedSplit:
    """Trunk maps of ``dataset`` at ``out_dir/features-<backbone>-<layer>-<size>-<name>.safetensors``
    (the trunk runs where ``model`` is)."""
    label_dtype = torch.uint8 if isinstance(dataset, SquareCrops) else torch.int16
    path = Path(out_dir) / f"features-{cache_tag(model, size)}-{name}.safetensors"
    model.trunk.eval().to(memory_format=torch.channels_last)  # about 20 % faster on CPU
    features = partial(trunk_features, model)
    return cache_features(features, dataset, path, f"features {name}", label_dtype, progress, model_device(model))


#: The paper's optimiser for both phases: SGD momentum 0.9, lr 1e-3 → 1e-4 after 20 of 30 epochs.
PAPER_RECIPE: dict[str, Any] = {
    "optimizer": "sgd",
    "lr": 1e-3,
    "momentum": 0.9,
    "scheduler": "step",
    "step_size": 20,
    "gamma": 0.1,
    "epochs": 30,
}
SEGMENTATION_BATCH, HASH_BATCH = 32, 96


class SegmentationPhase(nn.Module):
    """Phase 1 on cached trunk maps: PSP → segmentation head → logits at ``size × size``.

    It shares (does not copy) the network's modules, so training it trains the network.
    """

    def __init__(self, model: SemanticHashNet, size: int = INPUT_SIZE) -> None:
        super().__init__()
        if model.psp is None or model.seg_head is None:
            raise ValueError("the segmentation phase needs the PSP module and a segmentation head")
        self.psp, self.seg_head, self.size = model.psp, model.seg_head, size

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.seg_head(self.psp(features), (self.size, self.size))


def pooled_grids(model: SemanticHashNet) -> tuple[int, ...]:
    """Grid sizes phase 2 needs of the trunk's map: the PSP bins and the FC6 input grid."""
    bins = () if model.psp is None else model.psp.bins
    return tuple(sorted({*bins, model.config["pool_grid"]}))


@torch.no_grad()  # not inference_mode: the pools are training data
def pyramid_pools(features: torch.Tensor, grids: Sequence[int], chunk: int = 256) -> torch.Tensor:
    """Average pools of each map to every ``g × g`` of ``grids``, flattened side by side: ``N × C × Σ g²``."""
    out = []
    for start in range(0, len(features), chunk):
        f = features[start : start + chunk].float()
        out.append(torch.cat([F.adaptive_avg_pool2d(f, g).flatten(2) for g in grids], dim=2))
    return torch.cat(out)


def global_average(maps: torch.Tensor) -> np.ndarray:
    """The trunk's maps averaged over space, ``N × C`` float32: the float features codes are compared with."""
    return pyramid_pools(maps, (1,))[:, :, 0].numpy()


class HashPhase(nn.Module):
    """Phase 2 on :func:`pyramid_pools` of the trunk's maps: exactly (PSP →) hash head, far cheaper.

    With the trunk frozen, every PSP branch sees only ``pool_b(x)``, and FC6 only the average of
    the PSP output over a ``g × g`` grid. Upsampling and average pooling are linear, so a
    branch's share of that average is its ``b × b`` output times a fixed ``b² × g²`` matrix
    (the pooled upsampling of each basis map). Phase 2 thus trains on 30 numbers per channel
    instead of 784; ``forward`` gives class logits, :meth:`latent` also ``r``.
    """

    def __init__(self, model: SemanticHashNet, map_size: Sequence[int]) -> None:
        super().__init__()
        self.psp, self.hash_head = model.psp, model.hash_head
        self.grids, self.grid = pooled_grids(model), model.config["pool_grid"]
        for b in () if self.psp is None else self.psp.bins:
            basis = torch.eye(b * b).reshape(b * b, 1, b, b)
            up = F.interpolate(basis, size=tuple(map_size), mode="bilinear", align_corners=False)
            self.register_buffer(f"spread{b}", F.adaptive_avg_pool2d(up, self.grid).flatten(1), persistent=False)

    def _pool(self, pools: torch.Tensor, g: int) -> torch.Tensor:
        start = sum(k * k for k in self.grids[: self.grids.index(g)])
        return pools[:, :, start : start + g * g].unflatten(2, (g, g))

    def latent(self, pools: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``r`` (the sigmoid latent layer) and the class logits."""
        parts = [self._pool(pools, self.grid)]
        for branch in [] if self.psp is None else self.psp.branches:
            y = branch.conv(self._pool(pools, branch.bins)).flatten(2)
            spread = getattr(self, f"spread{branch.bins}")
            parts.append((y @ spread).unflatten(2, (self.grid, self.grid)))
        return self.hash_head(torch.cat(parts, dim=1))

    def forward(self, pools: torch.Tensor) -> torch.Tensor:
        return self.latent(pools)[1]


class PooledSplit(TensorDataset):
    """``(pyramid pools, label)`` items of a cached split, the data of :class:`HashPhase`, and the
    size of the maps they were pooled from."""

    def __init__(self, pools: torch.Tensor, labels: torch.Tensor, map_size: Sequence[int]) -> None:
        super().__init__(pools, labels)
        self.map_size = tuple(map_size)


def pooled_split(model: SemanticHashNet, split: CachedSplit) -> PooledSplit:
    """The pools ``model``'s phase 2 needs of every cached map (they depend on its config only)."""
    pools = pyramid_pools(split.features, pooled_grids(model))
    return PooledSplit(pools, split.labels.long(), split.features.shape[-2:])


def _recipe(batch_size: int, samples: int, out_dir: str | Path, overrides: dict[str, Any]) -> TrainConfig:
    """:data:`PAPER_RECIPE` at ``batch_size``, a checkpoint every 10 epochs (FC-4096 checkpoints are
    170 MB each); a last batch of one image (BatchNorm cannot train on it) is dropped. Unless given,
    the learning rate drops after two thirds of the epochs (the paper's 20 of 30)."""
    cfg = PAPER_RECIPE | {"batch_size": batch_size, "out_dir": Path(out_dir), "checkpoint_every": 10} | overrides
    if "step_size" not in overrides:
        cfg["step_size"] = max(1, round(cfg["epochs"] * 2 / 3))
    return TrainConfig(**cfg, drop_last=samples % cfg["batch_size"] == 1)


def train_segmentation_phase(
    model: SemanticHashNet,
    train: CachedSplit,
    val: CachedSplit | None,
    num_classes: int,
    ignore_index: int,
    out_dir: str | Path,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> dict[str, float]:
    """Phase 1: PSP + segmentation head on cached maps with NLL (:data:`PAPER_RECIPE`, batch 32)."""
    cfg = _recipe(SEGMENTATION_BATCH, len(train), out_dir, overrides)
    metrics = None if val is None else partial(segmentation_metrics, num_classes=num_classes, ignore_index=ignore_index)
    phase = SegmentationPhase(model, size=train.labels.shape[-1])
    loss = partial(segmentation_loss, ignore_index=ignore_index)
    return Trainer(phase, loss, train, cfg, val_data=val, metrics=metrics, progress=progress).fit()


def hash_loss(
    phase: HashPhase, batch: tuple[torch.Tensor, torch.Tensor], quantization: float = 0.0, balance: float = 0.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Cross-entropy of the class logits (the paper's phase-2 loss), plus two optional terms on
    ``u = 2r − 1`` that deep hashing methods commonly add and the paper does not:

    - ``quantization · mean((|u| − 1)²)`` pulls every ``r`` towards 0 or 1, so that eq. 2's
      thresholding loses less of what the layer learned;
    - ``balance · mean over bits of (batch mean of u)²`` asks each bit to be on for half the
      images, so that bits split the data instead of repeating each other.

    Logs top-1 accuracy (``acc``) and the mean ``|u|`` (``saturation``).
    """
    pools, labels = batch
    r, logits = phase.latent(pools)
    u = 2 * r - 1
    loss = F.cross_entropy(logits, labels)
    if quantization:
        loss = loss + quantization * (u.abs() - 1).square().mean()
    if balance:
        loss = loss + balance * u.mean(dim=0).square().mean()
    accuracy = (logits.detach().argmax(dim=1) == labels).float().mean()
    return loss, {"acc": accuracy, "saturation": u.detach().abs().mean()}


def train_hash_loss(
    phase: nn.Module,
    train: Dataset,
    out_dir: str | Path,
    progress: ProgressCallback | None = None,
    quantization: float = 0.0,
    balance: float = 0.0,
    **overrides: Any,
) -> dict[str, float]:
    """Train ``phase`` with :func:`hash_loss` (:data:`PAPER_RECIPE`, batch 96): phase 2 is a
    :class:`HashPhase` on pooled maps, fine-tuning an :class:`EndToEnd` on images (slow on a CPU:
    every step runs the trunk)."""
    cfg = _recipe(HASH_BATCH, len(train), out_dir, overrides)
    loss = partial(hash_loss, quantization=quantization, balance=balance)
    return Trainer(phase, loss, train, cfg, progress=progress).fit()


class EndToEnd(nn.Module):
    """The whole network on images, for fine-tuning after phase 2 (the paper trains end to end).

    The last ``stages`` trunk stages that hold parameters train with the head; the earlier ones stay
    frozen, and in eval mode so their BatchNorm statistics do not drift. ``forward`` gives class
    logits, :meth:`latent` also ``r`` (the interface :func:`hash_loss` expects).
    """

    def __init__(self, model: SemanticHashNet, stages: int) -> None:
        super().__init__()
        learned = [s for s in model.trunk.backbone.stages.values() if next(s.parameters(), None) is not None]
        if not 1 <= stages <= len(learned):
            raise ValueError(f"stages to fine-tune must be 1 to {len(learned)} for this trunk, got {stages}")
        self.model = model
        self.frozen = nn.ModuleList(learned[:-stages])
        for stage in self.frozen:
            stage.requires_grad_(False)

    def train(self, mode: bool = True) -> EndToEnd:
        super().train(mode)
        self.frozen.eval()
        return self

    def latent(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(images)
        return out.hash_probs, out.logits

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.latent(images)[1]


def image_codes(encoder: ImageEncoder, dataset: Dataset, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Packed eq. 2 codes of every ``(image, label)`` of ``dataset`` through the whole network, and the labels."""
    batches = DataLoader(dataset, batch_size=batch_size)
    codes, labels = zip(*((encoder.encode_tensor(images).packed, y.numpy()) for images, y in batches), strict=True)
    return np.concatenate(codes), np.concatenate(labels)


@torch.inference_mode()
def cached_codes(model: SemanticHashNet, split: PooledSplit, batch_size: int = 256) -> np.ndarray:
    """Packed eq. 2 codes of every pooled map (the network in eval mode, where ``model`` is)."""
    device = model_device(model)
    phase = HashPhase(model, split.map_size).eval().to(device)
    pools = split.tensors[0]
    r = [phase.latent(pools[i : i + batch_size].to(device))[0].cpu() for i in range(0, len(pools), batch_size)]
    return pack_codes(binarize(torch.cat(r).numpy()))


@dataclass(frozen=True)
class HashTrainingResult:
    """What :func:`train_semantic_hashing` leaves: the saved model, its scores, its training rows."""

    weights: Path
    scores: RetrievalScores
    segmentation: dict[str, float] | None
    hashing: dict[str, float]
    float_features: dict[str, float]
    code_stats: dict[str, float]


def _segmentation_phase_file(
    cache_dir: Path, model: SemanticHashNet, seg_root: Path, size: int, overrides: dict[str, Any]
) -> Path:
    bins = "".join(str(b) for b in model.config["psp_bins"])
    recipe = PAPER_RECIPE | overrides
    name = f"phase1-{cache_tag(model, size)}-psp{bins}-{seg_root.name}-lr{recipe['lr']:g}-e{recipe['epochs']}"
    return cache_dir / f"{name}.safetensors"


def _run_segmentation_phase(
    model: SemanticHashNet,
    seg_root: Path,
    train_set: SegmentationDataset,
    labels: LabelSpec,
    cache_dir: Path,
    size: int,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> dict[str, float] | None:
    """Phase 1, or its saved result when ``cache_dir`` has one for this trunk, PSP and dataset."""
    path = _segmentation_phase_file(cache_dir, model, seg_root, size, overrides)
    phase = SegmentationPhase(model, size)
    if path.is_file():
        log.info("phase 1: reusing %s", path)
        phase.load_state_dict(load_file(str(path)))
        with safe_open(str(path), framework="pt") as handle:
            return json.loads((handle.metadata() or {}).get("results", "null"))
    train = cache_split(model, SquareCrops(train_set, size), cache_dir, f"{seg_root.name}-train", size, progress)
    val = None
    if (seg_root / "val").is_dir() or (seg_root / "ImageSets" / "Segmentation" / "val.txt").is_file():
        val_set = SquareCrops(SegmentationDataset(seg_root, "val"), size)
        val = cache_split(model, val_set, cache_dir, f"{seg_root.name}-val", size, progress)
    results = train_segmentation_phase(
        model, train, val, len(labels.classes), labels.ignore_index, path.with_suffix(""), progress, **overrides
    )
    if is_main_process():
        with atomic_path(path) as tmp:
            state = {k: v.contiguous().cpu() for k, v in phase.state_dict().items()}
            save_file(state, str(tmp), metadata={"results": json.dumps(results)})
    return results


def train_semantic_hashing(
    data_root: str | Path,
    out_dir: str | Path,
    segmentation_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    backbone: str = "vgg19",
    bits: int = 48,
    pool_grid: int = 1,
    hidden: int = 4096,
    dropout: float = 0.5,
    queries_per_class: int = 10,
    input_size: int = INPUT_SIZE,
    input_norm: bool = True,
    feature_layer: str | None = None,
    quantization: float = 0.0,
    balance: float = 0.0,
    segmentation_overrides: dict[str, Any] | None = None,
    finetune_stages: int = 0,
    finetune_overrides: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> HashTrainingResult:
    """The whole recipe: phase 1 on ``segmentation_root`` (none: the Lin et al. baseline), phase 2
    on ``data_root`` (``database.txt`` trains, ``query.txt`` queries it), scores, head-only file.

    Feature caches and the phase-1 result go to ``cache_dir`` (default ``out_dir``) and are
    reused by later runs. Writes ``out_dir/model.safetensors`` (trunk by registry name) and
    ``out_dir/retrieval.json``; ``overrides`` go to phase 2's :class:`~semvis.train.TrainConfig`,
    and their ``device`` (default auto) holds the whole network, trunk included, for both phases.
    ``progress`` gets the caching and the training steps; ``quantization`` and ``balance`` weigh
    :func:`hash_loss`'s optional terms (0: the paper's loss).
    ``finetune_stages`` > 0 then trains end to end with that many last trunk stages unfrozen
    (:class:`EndToEnd`, with ``finetune_overrides``), scores codes computed from the images, and saves
    the whole network, trunk included.
    """
    from semvis.weights import weights_at_hand

    data_root, out_dir = Path(data_root), Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir
    entry = weights_at_hand(backbone).name
    database, query = retrieval_splits(data_root, queries_per_class, input_size)
    seg_train, seg_labels = training_split(segmentation_root) if segmentation_root is not None else (None, None)
    model = SemanticHashNet(
        backbone,
        entry,
        bits=bits,
        num_classes=len(database.classes),
        num_seg_classes=None if seg_labels is None else len(seg_labels.classes),
        pool_grid=pool_grid,
        hidden=hidden,
        dropout=dropout,
        baseline=segmentation_root is None,
        input_norm=input_norm,
        feature_layer=feature_layer,
    )
    device = overrides.get("device", "auto")
    model.to(init_distributed(device).device)
    seg_results = None
    if segmentation_root is not None:
        seg_results = _run_segmentation_phase(
            model,
            Path(segmentation_root),
            seg_train,
            seg_labels,
            cache_dir,
            input_size,
            progress,
            **({"device": device} | (segmentation_overrides or {})),
        )
        model.drop_segmentation_head()
    cached = partial(cache_split, model, out_dir=cache_dir, size=input_size, progress=progress)
    db_maps, query_maps = (
        cached(database, name=f"{data_root.name}-database"),
        cached(query, name=f"{data_root.name}-query"),
    )
    train, test = pooled_split(model, db_maps), pooled_split(model, query_maps)
    phase = HashPhase(model, train.map_size)
    hash_results = train_hash_loss(phase, train, out_dir, progress, quantization, balance, **overrides)
    finetuned = None
    if finetune_stages:
        tuning = {"device": device} | (finetune_overrides or {})
        finetuned = train_hash_loss(
            EndToEnd(model, finetune_stages), database, out_dir / "finetune", progress, quantization, balance, **tuning
        )
        encoder = ImageEncoder(model)  # the whole network, where the model is
        (query_codes, query_labels), (db_codes, db_labels) = image_codes(encoder, query), image_codes(encoder, database)
    else:
        query_codes, query_labels = cached_codes(model, test), test.tensors[1].numpy()
        db_codes, db_labels = cached_codes(model, train), train.tensors[1].numpy()
    scores = evaluate_retrieval(query_codes, query_labels, db_codes, db_labels, bits, database.classes)
    float_scores = float_ranking_scores(
        global_average(query_maps.features), query_labels, global_average(db_maps.features), db_labels
    )
    stats = code_statistics(db_codes, bits)
    weights = out_dir / "model.safetensors"
    if is_main_process():
        trunk = None if finetune_stages else entry  # a fine-tuned trunk is saved in the file
        provenance = {"data": str(data_root), "metrics": finetuned or hash_results}
        save_hashnet(model.eval(), weights, backbone_weights=trunk, provenance=provenance)
        report = {
            "baseline": segmentation_root is None,
            "backbone_weights": entry,
            "feature_layer": model.feature_layer,
            "loss_terms": {"quantization": quantization, "balance": balance},
            "summary": scores.summary(),
            "float_features": float_scores,
            "codes": stats,
            "scores": scores.to_dict(),
            "segmentation_phase": seg_results,
            "hash_phase": hash_results,
            "finetune": None if finetuned is None else {"stages": finetune_stages} | finetuned,
        }
        with atomic_path(out_dir / "retrieval.json") as tmp:
            tmp.write_text(json.dumps(report, indent=1))
    return HashTrainingResult(weights, scores, seg_results, hash_results, float_scores, stats)
