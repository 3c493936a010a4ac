"""Every shipped network on the CPU: eager PyTorch, the best PyTorch path, and onnxruntime, in one run.

Networks, each at the size semvis runs it (batch 1): the backbones whose weights are installed
(VGG-19 and VGG-16 at 224², Xception at 299², MobileNetV2 at 224², their last stage), the bundled
gray segmenter (PSPNet-VGG19 head, 360×480), the colorizer at 352², the hash net (224²), FlowNet
Half (360×480) and RAFT-small (360×480, 12 iterations). For each network, interleaved round by
round so that a change in the machine's load hits every variant alike:

- ``eager``: the loaded model under ``torch.no_grad`` (what semvis ran before this benchmark);
- ``fused``: ``torch.inference_mode``, BatchNorm folded into the convolution before it
  (:func:`semvis.nn.fuse.fuse_conv_bn`, where the model traces) and channels-last tensors;
- ``bf16``: semvis' ``--runtime bf16`` (:class:`semvis.nn.runtime.Bf16Model`: channels-last, CPU
  autocast to bfloat16; oneDNN uses AMX where the CPU has it);
- ``compile``: ``torch.compile`` (inductor) of ``fused``, only with ``--compile`` (compiling takes minutes);
- ``onnxruntime``: a fixed-size ``torch.onnx.export`` of the same weights in an onnxruntime session
  (TorchScript tracing; the dynamo exporter where tracing fails and onnxscript is installed);
- ``semvis``: what semvis runs by default, :func:`semvis.nn.runtime.accelerate` with ``runtime="auto"``
  (onnxruntime, dynamic in H/W where the model allows; torch where the export fails).

Each cell is the median of ``--repeats`` calls after two warm-up calls; "vs ort" is onnxruntime's
median divided by the cell's (> 1: faster than onnxruntime); "max |Δ|" is the largest absolute
difference from eager fp32 (with the largest |eager| value beside it, for scale); "agree" is the task's
agreement with eager (label pixels, code bits, top class), where the output has one.

Rows are kept per network in ``benchmarks/results/runtime.json``, so ``--only`` measures a few
networks again and the table (``benchmarks/results/runtime.md``) is rewritten from all rows.

Usage: ``OMP_NUM_THREADS=2 python benchmarks/runtime.py [--threads 2] [--repeats 15] [--only NAME …]
[--compile] [--list]``
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from semvis.atomic import atomic_path
from semvis.backbones import create_backbone
from semvis.bundled import COLORIZER, FLOWNET, HASHNET, SEGMENTER, bundled_model
from semvis.nn.fuse import fuse_conv_bn
from semvis.nn.runtime import RuntimeChoiceError, _Flat, _run, _session, accelerate, flatten_outputs
from semvis.weights import available_offline, weights_at_hand

RESULTS = Path(__file__).parent / "results"
TABLE, ROWS = RESULTS / "runtime.md", RESULTS / "runtime.json"
Inputs = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class Network:
    """A network to time: ``build()`` gives the model (outputs: tensors) and its inputs; ``agree`` scores outputs."""

    name: str
    size: str
    build: Callable[[], tuple[nn.Module, Inputs]]
    agree: Callable[[torch.Tensor, torch.Tensor], float] | None = None


class LastStage(nn.Module):
    """A backbone's deepest stage as one tensor (what the hash net, PSPNet and style read)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x)[self.backbone.feature_names[-1]]


def _backbone(arch: str, side: int) -> Callable[[], tuple[nn.Module, Inputs]]:
    def build() -> tuple[nn.Module, Inputs]:
        entry = weights_at_hand(arch)
        if not available_offline(entry):
            raise FileNotFoundError(f"no {arch} weights are installed (make installs them)")
        return LastStage(create_backbone(arch, entry.name)).eval(), (torch.rand(1, 3, side, side),)

    return build


def _segmenter() -> tuple[nn.Module, Inputs]:
    from semvis.segment import load_segmenter

    model, _ = load_segmenter(bundled_model(SEGMENTER))
    return model.float().eval(), (torch.rand(1, model.in_channels, 360, 480),)


def _colorizer() -> tuple[nn.Module, Inputs]:
    from semvis.colorize.unet import load_colorizer

    model = load_colorizer(bundled_model(COLORIZER)).float().eval()
    labels = torch.randint(0, model.config["num_classes"], (1, 352, 352))
    return model, (torch.rand(1, 1, 352, 352), labels)


def _hashnet() -> tuple[nn.Module, Inputs]:
    from semvis.hashing.model import load_hashnet

    return load_hashnet(bundled_model(HASHNET)).float().eval(), (torch.rand(1, 3, 224, 224),)


def _flownet() -> tuple[nn.Module, Inputs]:
    from semvis.video.flow_train import load_flownet

    model = load_flownet(bundled_model(FLOWNET)).float().eval()
    return model, (torch.rand(1, 3, 360, 480), torch.rand(1, 3, 360, 480))


def _raft() -> tuple[nn.Module, Inputs]:
    from semvis.flow.raft import raft_small

    frame = torch.rand(1, 3, 360, 480)
    shifted = torch.roll(frame, (3, -5), (2, 3))
    return raft_small(True).eval(), (frame, shifted)


def _label_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.argmax(1) == b.argmax(1)).float().mean())


def _bit_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a > 0.5) == (b > 0.5)).float().mean())


NETWORKS = [
    Network("vgg19", "224²", _backbone("vgg19", 224)),
    Network("vgg16", "224²", _backbone("vgg16", 224)),
    Network("xception", "299²", _backbone("xception", 299)),
    Network("mobilenet_v2", "224²", _backbone("mobilenet_v2", 224)),
    Network("segmenter", "360×480", _segmenter, _label_agreement),
    Network("colorizer", "352²", _colorizer),
    Network("hashnet", "224²", _hashnet, _bit_agreement),
    Network("flownet-half", "360×480", _flownet),
    Network("raft-small", "360×480", _raft),
]

ORDER = {network.name: i for i, network in enumerate(NETWORKS)}


def _fused(model: nn.Module, inputs: Inputs) -> tuple[nn.Module, str]:
    """``model`` with BN folded (where it traces) and channels-last weights; a note when BN stays."""
    try:
        fused, note = fuse_conv_bn(model), ""
        fused(*inputs)
    except Exception as error:  # noqa: BLE001 — a model fx cannot trace keeps its BN layers
        fused, note = copy.deepcopy(model), f"BN not folded ({type(error).__name__})"
    return fused.to(memory_format=torch.channels_last), note


def _channels_last(inputs: Inputs) -> Inputs:
    return tuple(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in inputs)


def _first(output: object) -> torch.Tensor:
    return flatten_outputs(output)[0][0].float()


def _onnxruntime_anchor(model: nn.Module, inputs: Inputs, workdir: Path) -> tuple[Callable[[], object], str]:
    """onnxruntime on a fixed-size export: TorchScript tracing (what semvis uses), else the dynamo exporter
    (needs onnxscript, not a semvis dependency) for models the tracer cannot export."""
    try:
        session = accelerate(model, inputs, runtime="onnx", cache_dir=workdir / "anchor", dynamic=False)
        return (lambda: session(*inputs)), "TorchScript"
    except RuntimeChoiceError:
        path = workdir / "dynamo.onnx"
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(_Flat(model, {}), inputs, str(path), dynamo=True, external_data=False)
        session = _session(path)
        return (lambda: _run(session, inputs)[0]), "dynamo"


def variants(model: nn.Module, inputs: Inputs, compile_too: bool, workdir: Path) -> tuple[dict, dict[str, str]]:
    """The callables to time (each takes no argument) and a note per variant (build time, what failed)."""
    notes: dict[str, str] = {}
    calls: dict[str, Callable[[], object]] = {}

    def eager() -> object:
        with torch.no_grad():
            return model(*inputs)

    calls["eager"] = eager
    fused, notes["fused"] = _fused(model, inputs)
    last = _channels_last(inputs)

    def best() -> object:
        with torch.inference_mode():
            return fused(*last)

    half = accelerate(copy.deepcopy(model), runtime="bf16")
    calls["fused"], calls["bf16"] = best, lambda: half(*inputs)
    if compile_too:
        start = time.perf_counter()
        compiled = torch.compile(fused)
        try:
            with torch.inference_mode():
                compiled(*last)
            notes["compile"] = f"compiled in {time.perf_counter() - start:.0f} s"

            def run_compiled() -> object:
                with torch.inference_mode():
                    return compiled(*last)

            calls["compile"] = run_compiled
        except Exception as error:  # noqa: BLE001 — reported in the table, not fatal
            notes["compile"] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:80]}"
    start = time.perf_counter()
    try:
        anchor, how = _onnxruntime_anchor(model, inputs, workdir)
        notes["onnxruntime"] = f"{how} export + session {time.perf_counter() - start:.0f} s"
        calls["onnxruntime"] = anchor
    except Exception as error:  # noqa: BLE001 — reported in the table
        notes["onnxruntime"] = "export failed: " + str(error).splitlines()[0].split(". ")[0][:90]
    start = time.perf_counter()
    semvis_path = accelerate(model, inputs, runtime="auto", cache_dir=workdir)
    dynamic = " (dynamic H/W)" if getattr(semvis_path, "dynamic", False) else ""
    notes["semvis"] = (
        f"{getattr(semvis_path, 'runtime', 'torch')}{dynamic}, ready in {time.perf_counter() - start:.0f} s"
    )
    calls["semvis"] = lambda: semvis_path(*inputs)
    return calls, notes


def measure(network: Network, repeats: int, compile_too: bool) -> dict:
    """Median ms per variant (interleaved rounds), max |Δ| and agreement against eager."""
    model, inputs = network.build()
    with tempfile.TemporaryDirectory() as workdir:
        calls, notes = variants(model, inputs, compile_too, Path(workdir))
        reference = _first(calls["eager"]())
        outputs = {name: _first(call()) for name, call in calls.items()}
        for call in calls.values():
            call()
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(repeats):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                times[name].append(1000 * (time.perf_counter() - start))
    row = {"name": network.name, "size": network.size, "scale": float(reference.abs().max()), "variants": {}}
    for name, out in outputs.items():
        row["variants"][name] = {
            "ms": statistics.median(times[name]),
            "max_diff": float((out - reference).abs().max()),
            "cos": float(
                torch.nn.functional.cosine_similarity(out.double().flatten(), reference.double().flatten(), 0)
            ),
            "agree": network.agree(out, reference) if network.agree else None,
            "note": notes.get(name, ""),
        }
    row["failed"] = {name: note for name, note in notes.items() if name not in calls}
    return row


def machine() -> dict[str, str]:
    """CPU model and cores (``lscpu``), load average, versions."""
    import onnxruntime

    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    facts = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    return {
        "cpu": facts.get("Model name", platform.processor()).strip(),
        "cores": facts.get("CPU(s)", str(os.cpu_count())).strip(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def write_table(rows: dict[str, dict]) -> str:
    """The markdown table of every stored row, in :data:`NETWORKS` order."""
    names = ["eager", "fused", "bf16", "compile", "onnxruntime", "semvis"]
    lines = [
        "# CPU runtimes of the shipped networks",
        "",
        "Written by `benchmarks/runtime.py`; median ms per call, batch 1. *vs ort* = onnxruntime's median /",
        "this one (> 1: faster than onnxruntime). *max |Δ|* against eager fp32 (|eager|max in the size column);",
        "*agree*: share of label pixels (segmenter) or code bits (hash net) equal to eager's.",
        "The machine is shared with other sessions: each row states the load average when it was measured.",
        "",
        "| network | size (|eager|max) | when, threads, load | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for row in sorted(rows.values(), key=lambda row: (ORDER[row["name"]], row["threads"])):
        network = NETWORKS[ORDER[row["name"]]]
        if "skipped" in row:
            lines.append(f"| {network.name} | {network.size} | {row['when']} | skipped: {row['skipped']} |")
            continue
        ort = row["variants"].get("onnxruntime", {}).get("ms")
        cells = []
        for name in names:
            cell = row["variants"].get(name)
            if cell is None:
                cells.append(row.get("failed", {}).get(name, "–"))
                continue
            versus = f"{ort / cell['ms']:.2f}×" if ort else "no ort"
            text = f"{cell['ms']:.0f} ms ({versus}), Δ {cell['max_diff']:.1e}, cos {cell['cos']:.6f}"
            if cell["agree"] is not None:
                text += f", agree {100 * cell['agree']:.2f} %"
            if cell["note"]:
                text += f"; {cell['note']}"
            cells.append(text)
        facts = f"{row['when']}, {row['threads']} thr, load {row['machine']['load']}"
        lines.append(f"| {network.name} | {network.size} ({row['scale']:.3g}) | {facts} | " + " | ".join(cells) + " |")
    machines = {json.dumps(row["machine"] | {"load": ""}) for row in rows.values() if "machine" in row}
    lines += ["", "Machines: " + "; ".join(sorted(machines))]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--only", nargs="+", choices=[n.name for n in NETWORKS])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (minutes to compile)")
    parser.add_argument("--list", action="store_true", help="print the stored table and exit")
    args = parser.parse_args(argv)
    rows = json.loads(ROWS.read_text()) if ROWS.is_file() else {}
    if not args.list:
        torch.set_num_threads(args.threads)
        os.environ["SEMVIS_ORT_THREADS"] = str(args.threads)
        for network in NETWORKS:
            if args.only and network.name not in args.only:
                continue
            when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
            try:
                row = measure(network, args.repeats, args.compile)
            except FileNotFoundError as error:
                row = {"name": network.name, "skipped": str(error)}
            row |= {"when": when, "threads": args.threads, "machine": machine()}
            rows[f"{network.name}/{args.threads}"] = row
            with atomic_path(ROWS) as tmp:
                tmp.write_text(json.dumps(rows, indent=1))
            with atomic_path(TABLE) as tmp:
                tmp.write_text(write_table(rows))
            print(f"{network.name}: done", file=sys.stderr, flush=True)
    print(write_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
