"""``semvis train TASK``: one subcommand per trainable task, all on :mod:`semvis.train`.

Multi-process training: ``torchrun --nproc_per_node=N -m semvis.cli.main train …``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from semvis.backbones import list_backbones
from semvis.errors import SemvisError
from semvis.hashing.codes import CODE_LENGTHS
from semvis.segment.models import ARCHS
from semvis.segment.pspnet import AUX_WEIGHT

if TYPE_CHECKING:
    from semvis.video.train import DavisData


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
    add_run_arguments(classify, "runs/classify")
    classify.set_defaults(func=run_classify)
    register_segment(tasks)
    register_colorize(tasks)
    register_hash(tasks)
    register_video(tasks)
    register_flow(tasks)


def add_run_arguments(
    parser: argparse.ArgumentParser, out: str, resume_help: str = "continue from the latest checkpoint in --out"
) -> None:
    """``--out`` (default ``out``), ``--seed`` and ``--resume``, which every training task takes."""
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help=resume_help)


def report(results: dict[str, object]) -> int:
    """Print the final metrics row on one line."""
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in results.items()))
    return 0


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
    return report(results)


def register_segment(tasks: argparse._SubParsersAction) -> None:
    segment = tasks.add_parser("segment", help="semantic segmentation (GridNet or PSPNet) on a CamVid-style dataset")
    segment.add_argument("--arch", default="gridnet", choices=ARCHS)
    segment.add_argument("--data", type=Path, required=True, help="root with train/ and val/ (images/, labels/)")
    segment.add_argument("--val-split", default="val", help="split scored after every epoch (default val)")
    segment.add_argument("--epochs", type=int, default=50)
    segment.add_argument("--batch-size", type=int, default=8)
    segment.add_argument("--crop", type=int, default=352, help="square training crop after random scaling")
    segment.add_argument("--lr", type=float, help="override the recipe's learning rate")
    channels = segment.add_mutually_exclusive_group()
    channels.add_argument("--gray", dest="gray", action="store_true", default=True, help="luma input (default)")
    channels.add_argument("--color", dest="gray", action="store_false", help="RGB input")
    segment.add_argument("--scratch", action="store_true", help="PSPNet: no ImageNet weights for the backbone")
    segment.add_argument(
        "--frozen-backbone",
        action="store_true",
        help="PSPNet: cache the ImageNet backbone's features once and train only the head (the CPU recipe)",
    )
    segment.add_argument("--head-channels", type=int, default=512, help="PSPNet: width of the head's 3×3 conv")
    segment.add_argument("--no-balance", action="store_true", help="frozen backbone: plain, unweighted cross-entropy")
    segment.add_argument("--output-stride", type=int, choices=(8, 16), default=8, help="PSPNet backbone stride")
    segment.add_argument("--total-dropout", type=float, default=0.0, help="GridNet: lateral-unit drop probability")
    segment.add_argument("--aux-weight", type=float, default=AUX_WEIGHT, help="PSPNet: auxiliary loss weight (0: off)")
    segment.add_argument("--ema-decay", type=float, help="keep and save an EMA of the weights")
    segment.add_argument("--amp", action="store_true", help="mixed precision")
    segment.add_argument("--workers", type=int, default=2)
    add_run_arguments(segment, "runs/seg")
    segment.set_defaults(func=run_segment)


def run_segment(args: argparse.Namespace) -> int:
    from semvis.segment import train_segmenter

    if args.frozen_backbone:
        return run_frozen_segment(args)
    if args.arch == "gridnet":
        model_kwargs = {"total_dropout": args.total_dropout}
    else:
        model_kwargs = {"output_stride": args.output_stride, "channels": args.head_channels}
    results = train_segmenter(
        args.arch,
        args.data,
        args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        crop=args.crop,
        lr=args.lr,
        gray=args.gray,
        pretrained=False if args.scratch else None,
        aux_weight=args.aux_weight,
        val_split=args.val_split,
        model_kwargs=model_kwargs,
        ema_decay=args.ema_decay,
        amp=args.amp,
        num_workers=args.workers,
        seed=args.seed,
        resume=args.resume,
    )
    return report(results)


def run_frozen_segment(args: argparse.Namespace) -> int:
    from semvis.segment.frozen import train_frozen_segmenter

    if args.arch == "gridnet" or args.scratch:
        raise SemvisError("--frozen-backbone needs a PSPNet with ImageNet weights (--arch pspnet-…, no --scratch)")
    overrides = {} if args.lr is None else {"lr": args.lr}
    results = train_frozen_segmenter(
        args.arch,
        args.data,
        args.out,
        gray=args.gray,
        output_stride=args.output_stride,
        channels=args.head_channels,
        val_split=args.val_split,
        epochs=args.epochs,
        batch_size=args.batch_size,
        balance=not args.no_balance,
        ema_decay=args.ema_decay,
        seed=args.seed,
        resume=args.resume,
        **overrides,
    )
    return report(results)


def register_colorize(tasks: argparse._SubParsersAction) -> None:
    colorize = tasks.add_parser("colorize", help="semantic-driven colorization (modified U-Net) on CamVid-style data")
    colorize.add_argument(
        "--data", type=Path, help="root with train/ and val/ (images/, labels/); with --photos it only validates"
    )
    colorize.add_argument("--photos", type=Path, help="train on a folder of colour photos under predicted maps")
    colorize.add_argument(
        "--segment-weights", type=Path, help="with --photos: segmenter for the maps (default: the bundled one)"
    )
    colorize.add_argument("--epochs", type=int, default=50)
    colorize.add_argument("--batch-size", type=int, default=16, help="seed §3: 16")
    colorize.add_argument("--lr", type=float, default=1e-4, help="Adam, β = (0.9, 0.999) (seed §3)")
    colorize.add_argument("--crop", type=int, default=352, help="random crop after resizing (seed §3: 352)")
    colorize.add_argument("--resize", type=int, default=360, help="shorter side before cropping (seed §3: 360)")
    colorize.add_argument("--width", type=int, default=32, help="first encoder depth (Fig. 4: 32)")
    colorize.add_argument("--semantic", choices=("scalar", "embedding"), default="scalar")
    colorize.add_argument("--no-instance-norm", action="store_true", help="ablation of Fig. 5")
    colorize.add_argument("--val-split", default="val")
    colorize.add_argument("--no-val", action="store_true", help="skip validation")
    colorize.add_argument("--workers", type=int, default=2)
    add_run_arguments(colorize, "runs/colorize")
    colorize.set_defaults(func=run_colorize)


def run_colorize(args: argparse.Namespace) -> int:
    from semvis.colorize import train_colorizer

    if args.data is None and args.photos is None:
        raise SemvisError("give --data DIR (CamVid layout) or --photos DIR (colour photos, maps predicted)")
    segmenter = None
    if args.photos is not None:
        from semvis.colorize.pipeline import load_segmenter_function

        predict, labels = load_segmenter_function(args.segment_weights)
        segmenter = (predict, len(labels.classes))
    results = train_colorizer(
        args.data,
        args.out,
        args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        crop=args.crop,
        resize=args.resize,
        instance_norm=not args.no_instance_norm,
        semantic=args.semantic,
        width=args.width,
        val_split=None if args.no_val else args.val_split,
        photos=args.photos,
        segmenter=segmenter,
        num_workers=args.workers,
        seed=args.seed,
        resume=args.resume,
    )
    return report(results)


def register_hash(tasks: argparse._SubParsersAction) -> None:
    hashing = tasks.add_parser(
        "hash", help="semantic deep hashing: PSP on segmentation masks, then codes on a retrieval set (frozen trunk)"
    )
    hashing.add_argument(
        "--data",
        type=Path,
        required=True,
        help="retrieval set: Caltech-101 layout (images/, database.txt, query.txt) or a folder of class folders",
    )
    hashing.add_argument("--segment-data", type=Path, help="phase-1 masks: CamVid or VOC2012 layout")
    hashing.add_argument("--baseline", action="store_true", help="Lin et al. 2015: no PSP, no phase 1")
    hashing.add_argument("--backbone", default="vgg19", choices=("vgg19", "vgg16", "xception"))
    hashing.add_argument("--bits", type=int, default=48, choices=CODE_LENGTHS)
    hashing.add_argument("--pool-grid", type=int, default=1, help="PSP output pooled to G×G before FC6 (1: global)")
    hashing.add_argument("--hidden", type=int, default=4096, help="width of FC6/FC7 (paper: 4096)")
    hashing.add_argument("--no-input-norm", action="store_true", help="ablation: no BatchNorm on FC6's input")
    hashing.add_argument("--epochs", type=int, default=30, help="phase 2 (paper: 30; lr ×0.1 after 20)")
    hashing.add_argument("--segment-epochs", type=int, default=30, help="phase 1 (paper: 30; lr ×0.1 after 20)")
    hashing.add_argument("--lr", type=float, default=1e-3, help="phase 2, SGD momentum 0.9 (paper: 1e-3)")
    hashing.add_argument("--segment-lr", type=float, default=1e-3, help="phase 1, SGD momentum 0.9 (paper: 1e-3)")
    hashing.add_argument("--queries-per-class", type=int, default=10, help="for a plain folder of classes")
    hashing.add_argument("--cache", type=Path, help="feature caches and phase-1 result (default: --out)")
    add_run_arguments(hashing, "runs/hash", "continue phase 2 from the latest checkpoint in --out")
    hashing.set_defaults(func=run_hash)


def run_hash(args: argparse.Namespace) -> int:
    from semvis.hashing.evaluate import comparison_table
    from semvis.hashing.train import train_semantic_hashing

    if args.baseline == (args.segment_data is not None):
        raise SemvisError("give --segment-data DIR for the PSP network, or --baseline for Lin et al. 2015 (not both)")
    result = train_semantic_hashing(
        args.data,
        args.out,
        args.segment_data,
        args.cache,
        args.backbone,
        args.bits,
        args.pool_grid,
        args.hidden,
        args.queries_per_class,
        input_norm=not args.no_input_norm,
        segmentation_overrides={
            "epochs": args.segment_epochs,
            "lr": args.segment_lr,
        },
        epochs=args.epochs,
        lr=args.lr,
        seed=args.seed,
        resume=args.resume,
    )
    print(comparison_table({"baseline" if args.baseline else "PSP": result.scores}))
    print(f"wrote {result.weights}")
    return 0


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _davis_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="DAVIS root: <sequence>/frames, <sequence>/masks")
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--test", nargs="+", help="sequences held out (default: every third in name order)")
    split.add_argument(
        "--tail", type=fraction, default=0.0, help="hold out the last TAIL fraction of every sequence instead"
    )
    parser.add_argument("--scale", type=float, default=0.5, help="frame scale (default 0.5: 427×240 for DAVIS)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3, help="SGD momentum 0.9; ×0.1 after 70 %% of the epochs")


def register_video(tasks: argparse._SubParsersAction) -> None:
    video = tasks.add_parser("video", help="Deep Feature Flow's N on DAVIS foreground masks (frozen VGG-19)")
    _davis_arguments(video)
    add_run_arguments(video, "runs/dff-davis")
    video.set_defaults(func=run_video_training)
    dff = tasks.add_parser("dff", help="Deep Feature Flow end to end on DAVIS frame pairs (a Table 3 variant)")
    _davis_arguments(dff)
    dff.add_argument("--frame-weights", type=Path, required=True, help="N from `semvis train video`")
    dff.add_argument("--flow-weights", type=Path, help="F from `semvis train flow` (default: the bundled FlowNet Half)")
    dff.add_argument("--variant", default="dff", choices=("dff", "fix-n", "fix-f"), help="what trains (default: both)")
    add_run_arguments(dff, "runs/dff-joint")
    dff.set_defaults(func=run_dff_training)


def _davis_data(args: argparse.Namespace) -> DavisData:
    from semvis.video.train import DavisData

    return DavisData(args.data, args.scale, args.test, args.tail)


def run_video_training(args: argparse.Namespace) -> int:
    from semvis.video.train import train_frame_network

    run = {"lr": args.lr, "seed": args.seed, "resume": args.resume}
    _, results = train_frame_network(_davis_data(args), args.out, args.epochs, args.batch_size, **run)
    print(f"wrote {args.out / 'model.safetensors'}")
    return report(results)


def run_dff_training(args: argparse.Namespace) -> int:
    from semvis.bundled import FLOWNET, bundled_model
    from semvis.video.joint import train_dff

    if args.flow_weights is None:
        args.flow_weights = bundled_model(FLOWNET)
    run = {"lr": args.lr, "seed": args.seed, "resume": args.resume}
    parts = (args.frame_weights, args.flow_weights)
    _, results = train_dff(_davis_data(args), *parts, args.out, args.variant, args.epochs, args.batch_size, **run)
    print(f"wrote {args.out / 'model.safetensors'}")
    return report(results)


def register_flow(tasks: argparse._SubParsersAction) -> None:
    flow = tasks.add_parser("flow", help="pre-train a DFF flow network on Flying-Chairs-style pairs made from photos")
    flow.add_argument("--photos", type=Path, required=True, help="folder of photos (backgrounds and objects)")
    flow.add_argument("--net", default="simple", choices=("simple", "half", "inception"))
    flow.add_argument("--size", type=int, nargs=2, default=(192, 256), metavar=("H", "W"), help="pair size")
    flow.add_argument("--pairs", type=int, default=4000, help="synthetic pairs per epoch (fixed, reproducible)")
    flow.add_argument("--epochs", type=int, default=10)
    flow.add_argument("--batch-size", type=int, default=8)
    flow.add_argument("--lr", type=float, default=1e-4, help="Adam (FlowNet: 1e-4)")
    add_run_arguments(flow, "runs/flownet")
    flow.set_defaults(func=run_flow_training)


def run_flow_training(args: argparse.Namespace) -> int:
    from semvis.video.flow_train import train_flownet

    _, results = train_flownet(
        args.photos,
        args.out,
        args.net,
        tuple(args.size),
        args.pairs,
        args.epochs,
        args.batch_size,
        lr=args.lr,
        seed=args.seed,
        resume=args.resume,
    )
    print(f"wrote {args.out / 'model.safetensors'}")
    return report(results)
