"""``semvis export onnx MODEL -o FILE.onnx``: a model file as ONNX, checked in onnxruntime; the ``--runtime`` option.

MODEL is a semvis model file (any kind below), a bundled model's name (``colorizer-camvid``) or
``raft-small`` (the official weights). The graph is dynamic in batch, height and width when the
trace allows it (checked by running onnxruntime at a second size); otherwise, or with ``--static``,
it holds the ``--size`` it was exported at. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from torch import nn

from semvis.atomic import check_writable
from semvis.bundled import MODELS_DIR
from semvis.cli import console
from semvis.errors import SemvisError, WeightsError
from semvis.nn.runtime import RUNTIMES, export_difference, export_dynamic, export_onnx, onnxruntime_available

#: Default working size (height, width) of each model kind: where semvis runs it.
SIZES = {"colorizer": (352, 352), "hashnet": (224, 224), "backbone": (224, 224)}
DEFAULT_SIZE = (360, 480)
RUNTIME_HELP = (
    "CPU runtime: auto (onnxruntime when installed and the model exports, else torch; default, or $SEMVIS_RUNTIME), "
    "torch, onnx, or bf16 (torch in bfloat16: fastest on CPUs with AMX, outputs ~1 %% off)"
)


def add_runtime_option(parser: argparse.ArgumentParser) -> None:
    """``--runtime`` for a command that runs a network (:func:`semvis.nn.runtime.accelerate`); its default
    is ``$SEMVIS_RUNTIME`` when set to one of :data:`~semvis.nn.runtime.RUNTIMES`, else ``auto``."""
    default = os.environ.get("SEMVIS_RUNTIME", "auto")
    parser.add_argument(
        "--runtime", choices=RUNTIMES, default=default if default in RUNTIMES else "auto", help=RUNTIME_HELP
    )


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("export", help="write a model as ONNX (for onnxruntime and other runtimes)")
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    onnx = formats.add_parser("onnx", help="ONNX, opset 17, checked against torch in onnxruntime when installed")
    onnx.add_argument("model", help="a semvis model file, a bundled model's name (colorizer-camvid) or raft-small")
    onnx.add_argument("-o", "--out", type=Path, required=True, help="the .onnx file to write")
    onnx.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="example input size (default: the kind's)")
    onnx.add_argument("--static", action="store_true", help="fix the input size instead of dynamic batch/H/W")
    onnx.set_defaults(func=run)


def load(name: str) -> tuple[nn.Module, str]:
    """The model MODEL names (float32, eval mode) and its kind."""
    if name == "raft-small":
        from semvis.flow.raft import raft_small

        return raft_small(True).eval(), "raft"
    from semvis.weights import load_model

    bundled = MODELS_DIR / f"{name}.safetensors"
    path = bundled if not Path(name).exists() and bundled.is_file() else Path(name)
    loaded = load_model(path, what="semvis model")
    return loaded.model.float().eval(), loaded.header.kind


def example_inputs(model: nn.Module, kind: str, size: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    """Inputs of ``size`` in the convention of ``kind``."""
    h, w = size
    if kind == "colorizer":
        return torch.rand(1, 1, h, w), torch.randint(0, model.config["num_classes"], (1, h, w))
    if kind in ("flownet", "raft"):
        return torch.rand(1, 3, h, w), torch.rand(1, 3, h, w)
    if kind in ("hashnet", "backbone"):
        return (torch.rand(1, 3, h, w),)
    if hasattr(model, "in_channels"):  # the segmenters
        return (torch.rand(1, model.in_channels, h, w),)
    raise WeightsError(f"semvis export onnx has no example input for a {kind} model")


def run(args: argparse.Namespace) -> int:
    if args.out.suffix != ".onnx":
        raise SemvisError(f"{args.out}: the output must be a .onnx file")
    if args.size is not None and min(args.size) < 16:
        raise SemvisError(f"--size {args.size[0]} {args.size[1]}: each side must be at least 16 px")
    check_writable(args.out)
    model, kind = load(args.model)
    inputs = example_inputs(model, kind, tuple(args.size or SIZES.get(kind, DEFAULT_SIZE)))
    checked = onnxruntime_available()  # without it a dynamic graph cannot be checked: fixed size
    try:
        dynamic = checked and not args.static and export_dynamic(model, inputs, args.out)
        if not dynamic:
            export_onnx(model, inputs, args.out, dynamic=False)
    except Exception as error:  # noqa: BLE001 — the exporter's message, without its traceback
        raise SemvisError(
            f"{args.model}: the {kind} model does not export to ONNX ({str(error).splitlines()[0]})"
        ) from None
    shape = "dynamic batch/H/W" if dynamic else "fixed " + " and ".join("×".join(map(str, x.shape)) for x in inputs)
    if not checked:
        console().print(f"wrote {args.out} ({kind}, {shape}; not checked: onnxruntime is not installed)")
        return 0
    difference = export_difference(args.out, model, inputs)
    if difference is None:
        raise SemvisError(f"{args.out}: onnxruntime cannot run the exported {kind} model")
    console().print(f"wrote {args.out} ({kind}, {shape}); onnxruntime matches torch to {difference:.1e}")
    return 0
