"""``semvis train TASK``: one subcommand per trainable task, all on :mod:`semvis.train`.

Every task's training options come from :class:`~semvis.train.TrainConfig`'s fields
(:func:`add_config_options`), with the task's own defaults; :func:`run_trainer` hands what was
parsed to the trainer as config overrides (:func:`config_overrides`), with a progress callback
that draws bars. Multi-process training: ``torchrun --nproc_per_node=N -m semvis.cli.main train …``.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from semvis.backbones import list_backbones
from semvis.cli.progress import progress_bars
from semvis.device import PRECISIONS
from semvis.errors import SemvisError
from semvis.hashing.codes import CODE_LENGTHS
from semvis.segment.deeplab import CONTEXTS
from semvis.segment.models import ARCHS
from semvis.segment.pspnet import AUX_WEIGHT
from semvis.train import OPTIMIZERS, SCHEDULERS, TrainConfig

if TYPE_CHECKING:
    from semvis.video.train import DavisData

#: TrainConfig fields whose option is not ``--field-name``.
OPTION_NAMES = {"num_workers": "--workers", "out_dir": "--out"}
#: TrainConfig fields no ``train`` task declares: ``--device`` is every command's option.
NOT_OPTIONS = ("device",)
#: Choices of TrainConfig's named settings.
CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": tuple(OPTIMIZERS),
    "scheduler": tuple(SCHEDULERS),
    "precision": PRECISIONS,
}
#: Help of the fields whose name does not say enough; a task may say more.
HELPS = {
    "lr": "override the recipe's learning rate",
    "ema_decay": "keep and save an EMA of the weights",
    "amp": "mixed precision",
    "num_workers": "data loader processes",
    "resume": "continue from the latest checkpoint in --out",
}
CONFIG_FIELDS = typing.get_type_hints(TrainConfig)
T = TypeVar("T")


def _option_type(annotation: Any) -> type | None:
    """The type an option of a field holds (``float`` for ``float | None``); ``None`` for a dict."""
    kinds = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    kinds = tuple(kind for kind in kinds if kind is not type(None))
    return kinds[0] if len(kinds) == 1 and kinds[0] in (int, float, str, bool, Path) else None


def add_config_options(
    parser: argparse.ArgumentParser, out: str, defaults: Mapping[str, Any], helps: Mapping[str, str] | None = None
) -> None:
    """One option per :class:`~semvis.train.TrainConfig` field a command line can set.

    ``--out`` defaults to ``out``, ``--seed`` to 0 and the fields in ``defaults`` to the task's
    values; any other field defaults to ``None``, which :func:`config_overrides` leaves out, so the
    trainer's recipe decides. ``helps`` replaces :data:`HELPS` where a task has more to say.
    """
    defaults = {"out_dir": Path(out), "seed": 0, **defaults}
    helps = {**HELPS, **(helps or {})}
    group = parser.add_argument_group("training settings (TrainConfig fields)")
    for name, annotation in CONFIG_FIELDS.items():
        kind = _option_type(annotation)
        if kind is None or name in NOT_OPTIONS:
            continue
        default = defaults.get(name)
        shown = "the recipe's" if default is None else default
        text = f"{helps.get(name, name.replace('_', ' '))} (default: {shown})".replace("%", "%%")
        flag = OPTION_NAMES.get(name, f"--{name.replace('_', '-')}")
        if kind is bool:
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=default, help=text)
        else:
            metavar = None if name in CHOICES else flag.removeprefix("--").replace("-", "_").upper()
            group.add_argument(
                flag, dest=name, type=kind, choices=CHOICES.get(name), default=default, metavar=metavar, help=text
            )


def config_overrides(args: argparse.Namespace, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """The TrainConfig fields ``args`` sets (``--device`` too), but those left ``None`` or named in ``leave_out``."""
    wanted = CONFIG_FIELDS.keys() - set(leave_out)
    return {name: value for name, value in vars(args).items() if name in wanted and value is not None}


def run_trainer(
    args: argparse.Namespace, trainer: Callable[..., T], *inputs: Any, leave_out: tuple[str, ...] = (), **kwargs: Any
) -> T:
    """``trainer(*inputs, **kwargs)`` with the TrainConfig settings of ``args`` and progress bars drawn as it trains."""
    with progress_bars() as progress:
        return trainer(*inputs, **kwargs, **config_overrides(args, leave_out), progress=progress)


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
    classify.add_argument("--size", type=int, help="input size (default: the architecture's)")
    classify.add_argument("--pretrained", default=False, help="initial weights: a file or registered name")
    ablation = classify.add_argument_group("Xception ablations (saved with the weights)")
    ablation.add_argument(
        "--no-residual", dest="residual", action="store_false", help="drop every residual connection (Fig. 9)"
    )
    ablation.add_argument(
        "--intermediate-activation",
        choices=("relu", "elu"),
        help="non-linearity between depthwise and pointwise convolutions (Fig. 10; default none, as the paper)",
    )
    ablation.add_argument(
        "--fc-layers", type=int, nargs="+", metavar="WIDTH", help="fully connected layers before the classifier"
    )
    ablation.add_argument("--dropout", type=float, help="dropout before the classifier (default 0.5, §4.3)")
    add_config_options(classify, "runs/classify", {"epochs": 10, "batch_size": 32, "num_workers": 2})
    classify.set_defaults(func=run_classify)
    register_segment(tasks)
    register_colorize(tasks)
    register_hash(tasks)
    register_video(tasks)
    register_flow(tasks)


def report(results: dict[str, object]) -> int:
    """Print the final metrics row on one line."""
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in results.items()))
    return 0


def run_classify(args: argparse.Namespace) -> int:
    from semvis.classify import train_classifier

    results = run_trainer(
        args,
        train_classifier,
        args.arch,
        args.data,
        recipe=args.recipe,
        val=args.val,
        val_fraction=args.val_fraction,
        size=args.size,
        pretrained=args.pretrained,
        model_options=xception_options(args),
    )
    return report(results)


def xception_options(args: argparse.Namespace) -> dict[str, object]:
    """The ablation switches given on the command line; refused by name for an architecture without them."""
    given = {
        "residual": args.residual,
        "intermediate_activation": args.intermediate_activation,
        "fc_layers": tuple(args.fc_layers) if args.fc_layers else None,
        "dropout": args.dropout,
    }
    options = {name: value for name, value in given.items() if value is not None and value is not True}
    if options and args.arch != "xception":
        raise SemvisError(f"{', '.join(options)}: Xception ablations; --arch {args.arch} has no such switch")
    return options


def register_segment(tasks: argparse._SubParsersAction) -> None:
    segment = tasks.add_parser(
        "segment", help="semantic segmentation (GridNet, PSPNet or DeepLabv3+) on a CamVid-style dataset"
    )
    segment.add_argument("--arch", default="gridnet", choices=ARCHS)
    segment.add_argument("--data", type=Path, required=True, help="root with train/ and val/ (images/, labels/)")
    segment.add_argument("--val-split", default="val", help="split scored after every epoch (default val)")
    segment.add_argument("--crop", type=int, default=352, help="square training crop after random scaling")
    channels = segment.add_mutually_exclusive_group()
    channels.add_argument("--gray", dest="gray", action="store_true", default=True, help="luma input (default)")
    channels.add_argument("--color", dest="gray", action="store_false", help="RGB input")
    segment.add_argument("--scratch", action="store_true", help="PSPNet/DeepLab: no ImageNet weights for the backbone")
    segment.add_argument(
        "--frozen-backbone",
        action="store_true",
        help="PSPNet/DeepLab: cache the ImageNet backbone's features once and train only the head (the CPU recipe)",
    )
    segment.add_argument(
        "--head-channels", type=int, help="PSPNet: width of the head's 3×3 conv (512); DeepLab: ASPP/decoder (256)"
    )
    segment.add_argument(
        "--context", choices=CONTEXTS, default="aspp", help="DeepLab: ASPP (default) or PSP pooling on the dense map"
    )
    segment.add_argument("--no-balance", action="store_true", help="frozen backbone: plain, unweighted cross-entropy")
    segment.add_argument(
        "--init", type=Path, help="frozen backbone: start the head from this saved segmenter (same configuration)"
    )
    segment.add_argument(
        "--feature-crop",
        type=int,
        metavar="CELLS",
        help="frozen backbone: train on random windows of CELLS×CELLS of the coarsest cached map (default: whole maps)",
    )
    segment.add_argument(
        "--tune-after",
        metavar="STAGE",
        help="frozen backbone: cache STAGE's map and fine-tune the backbone stages after it with the head "
        "(Xception: middle8 = the exit flow)",
    )
    segment.add_argument(
        "--output-stride", type=int, choices=(8, 16), help="backbone stride (default: PSPNet 8, DeepLab 16)"
    )
    segment.add_argument("--total-dropout", type=float, default=0.0, help="GridNet: lateral-unit drop probability")
    segment.add_argument("--aux-weight", type=float, default=AUX_WEIGHT, help="PSPNet: auxiliary loss weight (0: off)")
    add_config_options(segment, "runs/seg", {"epochs": 50, "batch_size": 8, "num_workers": 2})
    segment.set_defaults(func=run_segment)


def run_segment(args: argparse.Namespace) -> int:
    from semvis.segment import train_segmenter

    deeplab = args.arch.startswith("deeplab-")
    args.output_stride = args.output_stride or (16 if deeplab else 8)
    args.head_channels = args.head_channels or (256 if deeplab else 512)
    if args.frozen_backbone:
        return run_frozen_segment(args)
    if args.arch == "gridnet":
        model_kwargs = {"total_dropout": args.total_dropout}
    elif deeplab:
        model_kwargs = {"output_stride": args.output_stride, "width": args.head_channels, "context": args.context}
    else:
        model_kwargs = {"output_stride": args.output_stride, "channels": args.head_channels}
    results = run_trainer(
        args,
        train_segmenter,
        args.arch,
        args.data,
        crop=args.crop,
        gray=args.gray,
        pretrained=False if args.scratch else None,
        aux_weight=args.aux_weight,
        val_split=args.val_split,
        model_kwargs=model_kwargs,
    )
    return report(results)


def run_frozen_segment(args: argparse.Namespace) -> int:
    from semvis.segment.frozen import train_frozen_segmenter

    if args.arch == "gridnet" or args.scratch:
        raise SemvisError("--frozen-backbone needs ImageNet weights: --arch pspnet-… or deeplab-…, without --scratch")
    results = run_trainer(
        args,
        train_frozen_segmenter,
        args.arch,
        args.data,
        leave_out=("num_workers", "amp"),  # the head trains on cached maps in-process
        gray=args.gray,
        output_stride=args.output_stride,
        channels=args.head_channels,
        context=args.context,
        val_split=args.val_split,
        balance=not args.no_balance,
        crop=args.feature_crop,
        init=args.init,
        tune_after=args.tune_after,
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
    colorize.add_argument("--crop", type=int, default=352, help="random crop after resizing (seed §3: 352)")
    colorize.add_argument("--resize", type=int, default=360, help="shorter side before cropping (seed §3: 360)")
    colorize.add_argument("--width", type=int, default=32, help="first encoder depth (Fig. 4: 32)")
    colorize.add_argument("--semantic", choices=("scalar", "embedding"), default="scalar")
    colorize.add_argument("--no-instance-norm", action="store_true", help="ablation of Fig. 5")
    colorize.add_argument("--val-split", default="val")
    colorize.add_argument("--no-val", action="store_true", help="skip validation")
    colorize.add_argument(
        "--loss",
        choices=("huber", "classification"),
        default="huber",
        help="huber: the seed's eq. 1; classification: rebalanced cross-entropy over ab bins (Zhang et al. 2016)",
    )
    colorize.add_argument("--class-prior", action="store_true", help="per-class bias on the chroma head")
    colorize.add_argument(
        "--cache",
        type=Path,
        help="train on the diverse cached set (docs/colorize.md) in DIR, built there first from $SEMVIS_DATA",
    )
    colorize.add_argument("--cache-side", type=int, default=144, help="shorter side of the cached photos")
    colorize.add_argument("--epoch-size", type=int, help="with --cache: photos drawn per epoch (default: all once)")
    colorize.add_argument("--init", type=Path, help="colorizer file to start from (tensors of matching shape)")
    helps = {"batch_size": "seed §3: 16", "lr": "Adam, β = (0.9, 0.999) (seed §3)"}
    add_config_options(colorize, "runs/colorize", {"epochs": 50, "batch_size": 16, "lr": 1e-4, "num_workers": 2}, helps)
    colorize.set_defaults(func=run_colorize)


def run_colorize(args: argparse.Namespace) -> int:
    from semvis.colorize import train_colorizer

    if args.data is None and args.photos is None and args.cache is None:
        raise SemvisError(
            "give --data DIR (CamVid layout) or --photos DIR (colour photos, maps predicted), or --cache DIR"
        )
    segmenter, num_classes = None, None
    if args.photos is not None or args.cache is not None:
        from semvis.bundled import SEGMENTER, bundled_model
        from semvis.colorize.pipeline import load_segmenter_function

        segment_file = args.segment_weights or bundled_model(SEGMENTER)
        predict, labels = load_segmenter_function(segment_file)
        num_classes = len(labels.classes)
        segmenter = (predict, num_classes)
    if args.cache is not None:
        from semvis.colorize.cache import build_training_cache
        from semvis.paths import data_root

        build_training_cache(data_root(), args.cache, predict, segment_file, num_classes, args.cache_side)
    results = run_trainer(
        args,
        train_colorizer,
        args.data,
        crop=args.crop,
        resize=args.resize,
        instance_norm=not args.no_instance_norm,
        semantic=args.semantic,
        width=args.width,
        val_split=None if args.no_val else args.val_split,
        photos=None if args.cache else args.photos,
        segmenter=segmenter,
        loss=args.loss,
        class_prior=args.class_prior,
        cache=args.cache,
        num_classes=num_classes,
        init=args.init,
        epoch_size=args.epoch_size,
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
    hashing.add_argument(
        "--backbone", default="vgg19", choices=list_backbones(), help="trunk (its offline ImageNet weights)"
    )
    hashing.add_argument(
        "--features",
        default="semifinal",
        choices=("semifinal", "final"),
        help="trunk stage under PSP: the paper's semifinal block (1/8) or the last stage (1/32)",
    )
    hashing.add_argument("--bits", type=int, default=48, choices=CODE_LENGTHS)
    hashing.add_argument("--pool-grid", type=int, default=1, help="PSP output pooled to G×G before FC6 (1: global)")
    hashing.add_argument("--hidden", type=int, default=4096, help="width of FC6/FC7 (paper: 4096)")
    hashing.add_argument("--dropout", type=float, default=0.5, help="after FC6 and FC7 (paper's FC layers: 0.5)")
    hashing.add_argument("--no-input-norm", action="store_true", help="ablation: no BatchNorm on FC6's input")
    hashing.add_argument(
        "--quantization", type=float, default=0.0, help="weight of a term pulling r to 0 or 1 (not in the paper)"
    )
    hashing.add_argument(
        "--balance", type=float, default=0.0, help="weight of a term asking each bit to be on half the time (ditto)"
    )
    hashing.add_argument("--segment-epochs", type=int, default=30, help="phase 1 (paper: 30; lr ×0.1 after 20)")
    hashing.add_argument("--segment-lr", type=float, default=1e-3, help="phase 1, SGD momentum 0.9 (paper: 1e-3)")
    hashing.add_argument(
        "--finetune-stages",
        type=int,
        default=0,
        help="after phase 2, train end to end with this many last trunk stages unfrozen (slow on a CPU; 0: off)",
    )
    hashing.add_argument("--finetune-epochs", type=int, default=5, help="end-to-end epochs (with --finetune-stages)")
    hashing.add_argument("--finetune-lr", type=float, default=1e-4, help="end-to-end learning rate (same optimizer)")
    hashing.add_argument("--queries-per-class", type=int, default=10, help="for a plain folder of classes")
    hashing.add_argument("--cache", type=Path, help="feature caches and phase-1 result (default: --out)")
    helps = {
        "epochs": "phase 2 (paper: 30; lr ×0.1 after 20)",
        "lr": "phase 2, SGD momentum 0.9 (paper: 1e-3)",
        "resume": "continue phase 2 from the latest checkpoint in --out",
    }
    add_config_options(hashing, "runs/hash", {"epochs": 30, "lr": 1e-3}, helps)
    hashing.set_defaults(func=run_hash)


def run_hash(args: argparse.Namespace) -> int:
    from semvis.hashing.evaluate import comparison_table
    from semvis.hashing.train import train_semantic_hashing

    if args.baseline == (args.segment_data is not None):
        raise SemvisError("give --segment-data DIR for the PSP network, or --baseline for Lin et al. 2015 (not both)")
    result = run_trainer(
        args,
        train_semantic_hashing,
        args.data,
        segmentation_root=args.segment_data,
        cache_dir=args.cache,
        backbone=args.backbone,
        bits=args.bits,
        pool_grid=args.pool_grid,
        hidden=args.hidden,
        dropout=args.dropout,
        queries_per_class=args.queries_per_class,
        input_norm=not args.no_input_norm,
        feature_layer=args.features,
        quantization=args.quantization,
        balance=args.balance,
        segmentation_overrides={"epochs": args.segment_epochs, "lr": args.segment_lr},
        finetune_stages=args.finetune_stages,
        finetune_overrides={"epochs": args.finetune_epochs, "lr": args.finetune_lr}
        | ({"optimizer": args.optimizer} if args.optimizer else {}),
    )
    print(comparison_table({"baseline" if args.baseline else "PSP": result.scores}))
    floats = ", ".join(f"{k} {v:.3f}" for k, v in result.float_features.items())
    print(f"float features of the same trunk (cosine): {floats}")
    stats = result.code_stats
    print(
        f"database codes: {stats['distinct']} distinct, bit balance {stats['bit_balance']:.3f}, "
        f"mean |bit correlation| {stats['bit_correlation']:.3f}"
    )
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


def _davis_arguments(parser: argparse.ArgumentParser, out: str) -> None:
    parser.add_argument("--data", type=Path, required=True, help="DAVIS root: <sequence>/frames, <sequence>/masks")
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--test", nargs="+", help="sequences held out (default: every third in name order)")
    split.add_argument(
        "--tail", type=fraction, default=0.0, help="hold out the last TAIL fraction of every sequence instead"
    )
    parser.add_argument("--scale", type=float, default=0.5, help="frame scale (default 0.5: 427×240 for DAVIS)")
    helps = {"lr": "SGD momentum 0.9; ×0.1 after 70 % of the epochs"}
    add_config_options(parser, out, {"epochs": 10, "batch_size": 4, "lr": 1e-3}, helps)


def register_video(tasks: argparse._SubParsersAction) -> None:
    video = tasks.add_parser("video", help="Deep Feature Flow's N on DAVIS foreground masks (frozen ImageNet backbone)")
    _davis_arguments(video, "runs/dff-davis")
    video.add_argument(
        "--backbone", default="vgg19", choices=("vgg19", "xception", "mobilenet_v2"), help="N_feat's frozen backbone"
    )
    video.set_defaults(func=run_video_training)
    dff = tasks.add_parser("dff", help="Deep Feature Flow end to end on DAVIS frame pairs (a Table 3 variant)")
    _davis_arguments(dff, "runs/dff-joint")
    dff.add_argument("--frame-weights", type=Path, required=True, help="N from `semvis train video`")
    dff.add_argument("--flow-weights", type=Path, help="F from `semvis train flow` (default: the bundled FlowNet Half)")
    dff.add_argument("--variant", default="dff", choices=("dff", "fix-n", "fix-f"), help="what trains (default: both)")
    dff.set_defaults(func=run_dff_training)


def _davis_data(args: argparse.Namespace) -> DavisData:
    from semvis.video.train import DavisData

    return DavisData(args.data, args.scale, args.test, args.tail)


def run_video_training(args: argparse.Namespace) -> int:
    from semvis.video.train import train_frame_network

    _, results = run_trainer(args, train_frame_network, _davis_data(args), backbone=args.backbone)
    print(f"wrote {args.out_dir / 'model.safetensors'}")
    return report(results)


def run_dff_training(args: argparse.Namespace) -> int:
    from semvis.bundled import FLOWNET, bundled_model
    from semvis.video.joint import train_dff

    flow_weights = args.flow_weights or bundled_model(FLOWNET)
    data = _davis_data(args)
    _, results = run_trainer(args, train_dff, data, args.frame_weights, flow_weights, variant=args.variant)
    print(f"wrote {args.out_dir / 'model.safetensors'}")
    return report(results)


def register_flow(tasks: argparse._SubParsersAction) -> None:
    flow = tasks.add_parser(
        "flow",
        help="train a DFF flow network: on Flying-Chairs-style pairs made from photos, or distilled from "
        "a teacher flow on real video (--teacher)",
    )
    flow.add_argument("--photos", type=Path, help="folder of photos for synthetic pairs (backgrounds and objects)")
    flow.add_argument("--net", default="simple", choices=("simple", "half", "inception"))
    flow.add_argument(
        "--size", type=int, nargs=2, metavar=("H", "W"), help="pair size (default: 192 256 synthetic, 240 427 video)"
    )
    flow.add_argument("--pairs", type=int, default=4000, help="synthetic pairs per epoch (fixed, reproducible)")
    video = flow.add_argument_group("distillation on real video (issue 16)")
    video.add_argument("--teacher", choices=("dis", "raft"), help="distil this flow into F on real frame pairs")
    video.add_argument("--davis", type=Path, help="DAVIS root (<sequence>/frames); --test sequences are left out")
    video.add_argument("--test", nargs="+", help="DAVIS sequences held out (default: every third in name order)")
    video.add_argument("--video", type=Path, nargs="+", default=[], help="more roots of <sequence>/frames, used whole")
    video.add_argument("--max-gap", type=int, default=5, help="pairs (t, t ± d) for d = 1 … MAX_GAP (default: 5)")
    video.add_argument(
        "--init", type=Path, help="F to start from (default: the bundled FlowNet Half; --net is ignored)"
    )
    video.add_argument(
        "--moving-weight",
        type=float,
        default=0.0,
        help="weigh a pixel 1 + MOVING_WEIGHT × its teacher flow's distance from the frame's median (relative "
        "to the mean distance): objects moving apart from the camera count more (default: 0, plain EPE)",
    )
    add_config_options(
        flow, "runs/flownet", {"epochs": 10, "batch_size": 8, "lr": 1e-4}, {"lr": "Adam (FlowNet: 1e-4)"}
    )
    flow.set_defaults(func=run_flow_training)


def _flow_usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with a ``train flow`` command line, or ``None``."""
    real = args.davis is not None or bool(args.video)
    if args.teacher is None:
        if real or args.test or args.init or args.moving_weight:
            return "--davis, --video, --test, --init and --moving-weight distil a teacher flow: add --teacher dis|raft"
        return None if args.photos else "give --photos (synthetic pairs) or --teacher with --davis/--video (real video)"
    if not real:
        return "--teacher needs real video: --davis DIR and/or --video DIR…"
    if args.test and args.davis is None:
        return "--test names DAVIS sequences to hold out: add --davis"
    if args.max_gap < 1:
        return f"--max-gap must be at least 1, got {args.max_gap}"
    if args.moving_weight < 0:
        return f"--moving-weight must be non-negative, got {args.moving_weight}"
    return None


def run_flow_training(args: argparse.Namespace) -> int:
    from semvis.video.flow_train import train_flownet

    problem = _flow_usage_error(args)
    if problem:
        raise SemvisError(f"flow: {problem}")
    if args.teacher is None:
        size = tuple(args.size or (192, 256))
        _, results = run_trainer(args, train_flownet, args.photos, name=args.net, size=size, pairs=args.pairs)
    else:
        results = _distill(args)
    print(f"wrote {args.out_dir / 'model.safetensors'}")
    return report(results)


def _distill(args: argparse.Namespace) -> dict[str, float]:
    from semvis.bundled import FLOWNET, bundled_model
    from semvis.video.distill import SIZE, distill_flownet, video_sequences
    from semvis.video.train import davis_split

    sequences = [clip.sequence / "frames" for clip in davis_split(args.davis, args.test)[0]] if args.davis else []
    sequences += video_sequences(args.video)
    init = args.init or bundled_model(FLOWNET)
    size = tuple(args.size or SIZE)
    synthetic = args.pairs if args.photos else 0
    options = {"teacher": args.teacher, "max_gap": args.max_gap, "size": size, "photos": args.photos}
    options["moving"] = args.moving_weight
    _, results = run_trainer(args, distill_flownet, sequences, init=init, synthetic=synthetic, **options)
    return results
