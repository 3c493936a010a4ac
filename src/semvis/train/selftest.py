"""A tiny end-to-end training run on synthetic data (used by the DDP test).

    torchrun --nproc_per_node=2 --standalone -m semvis.train.selftest --out DIR

Each rank seeds its model differently, trains it with :class:`Trainer` (which joins the process
group itself), and writes ``DIR/initial-rank{R}.pt`` and ``DIR/final-rank{R}.pt`` (state dicts);
DDP must leave every rank with the same final weights. Also runs as a single process.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from semvis.train.config import TrainConfig
from semvis.train.distributed import rank
from semvis.train.loop import Trainer
from semvis.train.rng import seed_everything
from semvis.train.tasks import classification_loss, classification_metrics


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


def main(argv: list[str] | None = None) -> None:
    """Parse ``--out/--epochs/--samples``, train, and save initial and final weights."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=64)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    seed = int(os.environ.get("RANK", 0))  # torchrun's rank: the Trainer joins the process group later
    seed_everything(seed)
    model = tiny_convnet()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / f"initial-rank{seed}.pt")
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=8,
        lr=0.1,
        ema_decay=0.9,
        log_every=4,
        out_dir=args.out / "run",
    )
    trainer = Trainer(
        model,
        classification_loss,
        synthetic_classification(args.samples),
        cfg,
        val_data=synthetic_classification(args.samples // 2, seed=1),
        metrics=classification_metrics,
    )
    trainer.fit()
    torch.save(model.state_dict(), args.out / f"final-rank{rank()}.pt")


if __name__ == "__main__":
    main()
