"""``semvis train TASK``: one subcommand per trainable task, all on :mod:`semvis.train`.

Multi-process training: ``torchrun --nproc_per_node=N -m semvis.cli.main train …``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from semvis.backbones import list_backbones


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a model (runs under torchrun for several processes)")
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    classify = tasks.add_parser("classify", help="image classification on a folder of class folders")
    classify.add_argument("--arch", default="xception", choices=list_backbones())
    classify.add_argument("--data", type=Path, required=True, help="folder with one sub-folder per class")
    classify.add_argument("--val", type=Path, help="validation folder (default: hold out --val-fraction)")
    classify.add_argument("--val-fraction", type=float, default=0.1)
    classify.add_argument(
        "--recipe",
        choices=("sgd", "rmsprop"),
        default="sgd",
        help="Xception §4.3: sgd (lr 0.045, ×0.94 every 2 epochs) or rmsprop",
    )
    classify.add_argument("--epochs", type=int, default=10)
    classify.add_argument("--batch-size", type=int, default=32)
    classify.add_argument("--lr", type=float, help="override the recipe's learning rate")
    classify.add_argument("--size", type=int, help="input size (default: the architecture's)")
    classify.add_argument("--pretrained", default=False, help="initial weights: a file or registered name")
    classify.add_argument("--workers", type=int, default=2)
    classify.add_argument("--seed", type=int, default=0)
    classify.add_argument("--out", type=Path, default=Path("runs/classify"))
    classify.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    classify.set_defaults(func=run_classify)


def run_classify(args: argparse.Namespace) -> int:
    from semvis.classify import train_classifier

    overrides = dict(
        epochs=args.epochs, batch_size=args.batch_size, num_workers=args.workers, seed=args.seed, resume=args.resume
    )
    if args.lr is not None:
        overrides["lr"] = args.lr
    results = train_classifier(
        args.arch,
        args.data,
        args.out,
        args.recipe,
        args.val,
        args.val_fraction,
        args.size,
        args.pretrained,
        **overrides,
    )
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in results.items()))
    return 0
