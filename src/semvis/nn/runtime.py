"""CPU inference through onnxruntime where it is installed: export once, cache, run.

:func:`accelerate` turns an eval-mode model and an example of its inputs into a callable with the
model's call signature and output structure (a tensor, a tuple or named tuple, a dict, or a dataclass of
tensors). With ``runtime="onnx"`` (or ``"auto"`` when onnxruntime is importable and the model is
on the CPU) the model is exported by ``torch.onnx.export`` (TorchScript tracing, opset
:data:`OPSET`) into ``$SEMVIS_HOME/onnx/<key>.onnx``, keyed by the sha256 of the weights, the
model's class, the fixed keyword arguments and the input ranks and dtypes (plus the input shape when
the graph is exported per shape), and runs in an ``onnxruntime.InferenceSession`` with as many
threads as torch uses (``SEMVIS_ORT_THREADS`` overrides).

Batch, height and width are dynamic axes when the trace allows it (:func:`export_dynamic`): an
export whose outputs at the first inputs and two other sizes (:func:`other_shapes`) differ from the
model's — tracing records Python control flow on a shape as a constant — is exported again per input
shape, each shape once. When the
export fails, or onnxruntime is missing under ``"auto"``, the model itself is returned and one line
is logged. Results match the model to float rounding (tests state the tolerance); benchmarks/runtime.py
measures why this is the default on the CPU (docs/performance.md).

``runtime="bf16"`` is an opt-in: torch under bfloat16 autocast, channels-last. On a CPU with AMX it
beat onnxruntime 1.25-4× on the VGG-based networks, Xception and the colorizer (1 thread,
docs/performance.md), with outputs about 1 % of their range off (99.98 % of the segmenter's label
pixels unchanged); on depthwise networks and CPUs without bfloat16 units it is slower.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semvis.atomic import atomic_path
from semvis.errors import SemvisError
from semvis.paths import semvis_home

log = logging.getLogger("semvis.runtime")
#: The runtimes one can ask for: ``auto`` picks onnxruntime on the CPU when installed, else torch;
#: ``bf16`` is torch under bfloat16 autocast with channels-last tensors (fast on CPUs with AMX, outputs ~1e-2 off).
RUNTIMES = ("auto", "torch", "onnx", "bf16")
#: ONNX opset of the exports (grid_sample needs 16).
OPSET = 17
#: Part of every cache key: raised when semvis exports differently, so older files are not reused.
EXPORT_VERSION = 2
#: Largest |Δ| between torch and onnxruntime accepted when checking a dynamic export at a second shape.
CHECK_TOLERANCE = 1e-3
Rebuild = Callable[[list[torch.Tensor]], Any]


class RuntimeChoiceError(SemvisError):
    """An unknown runtime name, or ``onnx`` asked for where it cannot run."""


def onnxruntime_available() -> bool:
    """True when ``onnxruntime`` can be imported."""
    return importlib.util.find_spec("onnxruntime") is not None


def flatten_outputs(output: Any) -> tuple[list[torch.Tensor], Rebuild]:
    """The tensors of ``output`` (a tensor, a (named) tuple, a dict or a dataclass; ``None`` members
    skipped) and a function that rebuilds the same structure from such a list."""
    if isinstance(output, torch.Tensor):
        return [output], lambda tensors: tensors[0]
    if dataclasses.is_dataclass(output):
        values = [getattr(output, f.name) for f in dataclasses.fields(output)]
        make = lambda *items: type(output)(*items)  # noqa: E731
    elif isinstance(output, dict):
        keys = list(output)
        values = list(output.values())
        make = lambda *items: dict(zip(keys, items))  # noqa: E731
    elif isinstance(output, tuple):
        values = list(output)
        make = (lambda *items: type(output)(*items)) if hasattr(output, "_fields") else (lambda *items: tuple(items))
    else:
        raise TypeError(f"cannot export an output of type {type(output).__name__}")
    present = [i for i, value in enumerate(values) if value is not None]

    def rebuild(tensors: list[torch.Tensor]) -> Any:
        items: list[Any] = [None] * len(values)
        for i, tensor in zip(present, tensors):
            items[i] = tensor
        return make(*items)

    return [values[i] for i in present], rebuild


class _Flat(nn.Module):
    """``model`` with fixed keyword arguments, returning a flat tuple of tensors (what ONNX exports)."""

    def __init__(self, model: nn.Module, fixed: dict[str, Any]) -> None:
        super().__init__()
        self.model, self.fixed = model, fixed

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(flatten_outputs(self.model(*inputs, **self.fixed))[0])


def traceable_adaptive_avg_pool2d(x: torch.Tensor, bins: int) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, bins)`` as one mean per bin (bin ``i`` of ``b`` spans
    ``floor(i·s/b) … ceil((i+1)·s/b)``), so that a traced graph computes the bins from the input's
    size: the TorchScript exporter takes adaptive pooling only when the output divides the input."""
    h, w = x.shape[-2:]
    rows = []
    for i in range(bins):
        top, bottom = (i * h) // bins, ((i + 1) * h + bins - 1) // bins  # ceil without negative division
        cells = [
            x[..., top:bottom, (j * w) // bins : ((j + 1) * w + bins - 1) // bins].mean((-2, -1), keepdim=True)
            for j in range(bins)
        ]
        rows.append(torch.cat(cells, -1))
    return torch.cat(rows, -2)


def weights_digest(model: nn.Module) -> str:
    """sha256 of the model's class and every parameter and buffer (names, dtypes, values)."""
    digest = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _threads() -> int:
    return int(os.environ.get("SEMVIS_ORT_THREADS", torch.get_num_threads()))


def _session(path: Path, quiet: bool = False) -> Any:
    """An onnxruntime session on :func:`_threads` threads; ``quiet``: it logs nothing (a probe expected to fail)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4 if quiet else 2
    options.intra_op_num_threads, options.inter_op_num_threads = _threads(), 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run(session: Any, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    feed = {arg.name: x.detach().cpu().contiguous().numpy() for arg, x in zip(session.get_inputs(), inputs)}
    return [torch.from_numpy(np.asarray(y)) for y in session.run(None, feed)]


@contextlib.contextmanager
def _quiet_output() -> Iterator[None]:
    """Silence file descriptors 1 and 2: torch 2.13's TorchScript exporter prints the whole graph when it fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def export_onnx(
    model: nn.Module, inputs: Sequence[torch.Tensor], path: str | Path, dynamic: bool = True, **fixed: Any
) -> None:
    """Write ``model`` (called as ``model(*inputs, **fixed)``) to ``path`` as ONNX, with batch, height and
    width as dynamic axes or (``dynamic=False``) the inputs' shapes; :func:`export_dynamic` checks the former."""
    flat = _Flat(model, fixed).eval()
    with torch.no_grad():
        outputs = flat(*inputs)
    names = [f"input{i}" for i in range(len(inputs))]
    out_names = [f"output{i}" for i in range(len(outputs))]
    axes = {}
    if dynamic:
        axes = {
            n: {0: "batch"} | ({x.dim() - 2: "height", x.dim() - 1: "width"} if x.dim() >= 3 else {})
            for n, x in zip(names, inputs)
        }
        axes |= {n: {0: "batch"} for n in out_names}
    with atomic_path(path) as tmp, warnings.catch_warnings(), _quiet_output():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice and the tracer's, checked below instead
        torch.onnx.export(
            flat, tuple(inputs), str(tmp), dynamo=False, opset_version=OPSET, input_names=names,
            output_names=out_names, dynamic_axes=axes or None,
        )  # fmt: skip


def other_shapes(inputs: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
    """The inputs at two other heights and widths: +9 and +13 px (odd, off any stride), and the next
    multiples of 32 above; values replicated from the border. Shape-dependent Python in the traced
    model (padding to a stride, say) shows up at one of them."""

    def grow(x: torch.Tensor, dh: int, dw: int) -> torch.Tensor:
        if x.dim() < 3:
            return x
        planes = x if x.dim() == 4 else x[:, None]
        grown = F.pad(planes.float(), (0, dw, 0, dh), mode="replicate").to(x.dtype)
        return grown if x.dim() == 4 else grown[:, 0]

    h, w = next((x.shape[-2:] for x in inputs if x.dim() >= 3), (0, 0))
    steps = [(9, 13), (32 - h % 32 if h % 32 else 32, 32 - w % 32 if w % 32 else 32)]
    return [[grow(x, dh, dw) for x in inputs] for dh, dw in steps]


def export_dynamic(model: nn.Module, inputs: Sequence[torch.Tensor], path: Path, **fixed: Any) -> bool:
    """Export ``model`` with dynamic batch, height and width to ``path``; True when the graph answers like
    the model at ``inputs`` and :func:`other_shapes` of them. Traced from ``inputs``, then (a branch on the
    size recorded one way) from their first other shape; False when neither serves every size."""
    shapes = [list(inputs), *other_shapes(inputs)]
    for example in shapes[:2]:
        try:
            export_onnx(model, example, path, dynamic=True, **fixed)
        except Exception:  # noqa: BLE001 — an op the exporter handles only at fixed sizes
            return False
        differences = [export_difference(path, model, shape, **fixed) for shape in shapes]
        if all(d is not None and d <= CHECK_TOLERANCE for d in differences):
            return True
    return False


def export_difference(path: Path, model: nn.Module, inputs: Sequence[torch.Tensor], **fixed: Any) -> float | None:
    """Largest |onnxruntime − torch| over the outputs of ``inputs``, relative to max(1, |torch|max) per output;
    None when either refuses the inputs or the outputs differ in shape."""
    try:
        got = _run(_session(path, quiet=True), inputs)
        with torch.no_grad():
            want = flatten_outputs(model(*inputs, **fixed))[0]
    except Exception:  # noqa: BLE001 — a runtime refusing the inputs: the graph does not serve them
        return None
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
        return None
    return max(float((g - w.float()).abs().max()) / max(1.0, float(w.abs().max())) for g, w in zip(got, want))


class Wrapped(nn.Module):
    """A model behind another way of running it; attributes the wrapper lacks (``in_channels``, ``config``…)
    are the model's."""

    runtime = "torch"

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self._model = model.eval()

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("_model"), name)


class Bf16Model(Wrapped):
    """``model`` with channels-last weights run under ``torch.autocast(bfloat16)`` in inference mode;
    floating outputs come back as float32. oneDNN runs the convolutions on AMX where the CPU has it."""

    runtime = "bf16"

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model.to(memory_format=torch.channels_last))

    def forward(self, *inputs: torch.Tensor, **kwargs: Any) -> Any:
        inputs = tuple(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in inputs)
        device = inputs[0].device.type if inputs else "cpu"
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16):
            tensors, rebuild = flatten_outputs(self._model(*inputs, **kwargs))
        return rebuild([t.float() if t.is_floating_point() else t for t in tensors])


class OnnxModel(Wrapped):
    """``model`` run by onnxruntime, called like ``model`` (tensors in, the same structure out).

    The export happens for the first inputs it sees (or ``example_inputs`` at once). When it fails, the
    model answers inputs of that shape, one line is logged, and the reason is kept in the cache so no
    later run tries that shape again; with ``strict`` the failure raises instead. ``runtime`` says who
    answered the last call.
    """

    def __init__(self, model: nn.Module, cache_dir: Path, dynamic: bool, fixed: dict, strict: bool) -> None:
        super().__init__(model)
        self._fixed, self._cache_dir, self._strict = fixed, cache_dir, strict
        self._key = hashlib.sha256(
            f"{weights_digest(model)} {sorted(fixed.items())} {torch.__version__} {OPSET} {EXPORT_VERSION}".encode()
        )
        self._sessions: dict[str, Any] = {}
        self._rebuild: Rebuild | None = None
        self.dynamic, self.runtime, self._warned = dynamic, "onnx", False

    def _signature(self, inputs: Sequence[torch.Tensor], dynamic: bool) -> str:
        parts = [f"{x.dtype}:{x.dim() if dynamic else tuple(x.shape)}" for x in inputs]
        key = self._key.copy()
        key.update(f"{dynamic} {parts}".encode())
        return key.hexdigest()[:32]

    def prepare(self, inputs: Sequence[torch.Tensor]) -> str | None:
        """Export (unless cached) and open the session for ``inputs``; the session's key, None when the
        export failed for inputs of this shape (noted in ``<key>.failed`` so no later run tries again)."""
        signature = self._signature(inputs, self.dynamic)
        if signature in self._sessions:
            return signature
        failed = self._cache_dir / f"{self._signature(inputs, False)}.failed"
        if failed.is_file():
            return self._fail(failed.read_text(), failed)
        try:
            if self._rebuild is None:
                with torch.no_grad():
                    self._rebuild = flatten_outputs(self._model(*inputs, **self._fixed))[1]
            if self.dynamic and not self._load(inputs, dynamic=True):
                self.dynamic = False
            if not self.dynamic:
                self._load(inputs, dynamic=False)
        except Exception as error:  # noqa: BLE001 — any export failure means torch runs the model
            reason = f"{type(error).__name__}: {str(error).splitlines()[0].split('. ')[0][:200]}"
            if self._strict:
                raise RuntimeChoiceError(f"{type(self._model).__name__} did not export to ONNX: {reason}") from error
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            failed.write_text(reason)
            return self._fail(reason, failed)
        return self._signature(inputs, self.dynamic)

    def _fail(self, reason: str, marker: Path) -> None:
        if not self._warned:
            name = type(self._model).__name__
            log.warning("%s runs in torch: ONNX export failed (%s); delete %s to try again", name, reason, marker)
        self._warned, self.runtime = True, "torch"
        return None

    def _load(self, inputs: Sequence[torch.Tensor], dynamic: bool) -> bool:
        """Open the session of ``inputs`` (exporting it unless cached); False when a dynamic graph is refused."""
        signature = self._signature(inputs, dynamic)
        if signature in self._sessions:
            return True
        path = self._cache_dir / f"{signature}.onnx"
        refused = path.with_suffix(".static")
        if dynamic and refused.is_file():
            return False
        if not path.is_file():
            if dynamic and not export_dynamic(self._model, inputs, path, **self._fixed):
                path.unlink(missing_ok=True)
                refused.touch()
                return False
            if not dynamic:
                export_onnx(self._model, inputs, path, dynamic=False, **self._fixed)
                difference = export_difference(path, self._model, inputs, **self._fixed)
                if difference is None or difference > CHECK_TOLERANCE:
                    path.unlink()
                    raise RuntimeError(
                        f"the exported graph differs from the model by {difference} at {inputs[0].shape}"
                    )
        self._sessions[signature] = _session(path)
        return True

    def forward(self, *inputs: torch.Tensor) -> Any:
        signature = self.prepare(inputs)
        if signature is None:
            return self._model(*inputs, **self._fixed)
        self.runtime = "onnx"
        assert self._rebuild is not None
        return self._rebuild(_run(self._sessions[signature], inputs))


def accelerate(
    model: nn.Module,
    example_inputs: Sequence[torch.Tensor] | None = None,
    runtime: str = "auto",
    device: torch.device | str | None = None,
    cache_dir: str | Path | None = None,
    dynamic: bool = True,
    **fixed: Any,
) -> nn.Module:
    """``model`` (called as ``model(*inputs, **fixed)``, put in eval mode) in the runtime asked for.

    ``runtime``: ``"torch"`` gives ``model`` back; ``"bf16"`` wraps it in :class:`Bf16Model`;
    ``"onnx"`` runs it in onnxruntime and raises :class:`RuntimeChoiceError` when onnxruntime is
    missing, ``device`` (default: where the model is) is not the CPU, or the export fails;
    ``"auto"`` is ``"onnx"`` on the CPU when onnxruntime is installed and gives the model back
    otherwise, and a failed export makes the model answer (one log line). The export happens for
    ``example_inputs`` now, else for the first call's inputs. ``cache_dir``: where exports live
    (default ``$SEMVIS_HOME/onnx``); ``dynamic=False`` exports per input shape. The result's
    ``runtime`` attribute, where it has one, says which runtime answers.
    """
    if runtime not in RUNTIMES:
        raise RuntimeChoiceError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    where = torch.device(device) if device is not None else next(
        (t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu")
    )  # fmt: skip
    if runtime == "onnx" and not onnxruntime_available():
        raise RuntimeChoiceError("--runtime onnx needs onnxruntime: pip install 'semvis[onnx]'")
    if runtime == "onnx" and where.type != "cpu":
        raise RuntimeChoiceError(f"--runtime onnx runs on the CPU only, not {where}; use --runtime torch")
    if runtime == "bf16":
        return Bf16Model(model)
    if runtime == "torch" or where.type != "cpu" or not onnxruntime_available():
        return model
    cache = Path(cache_dir) if cache_dir is not None else semvis_home() / "onnx"
    wrapped = OnnxModel(model, cache, dynamic, fixed, strict=runtime == "onnx")
    if example_inputs is not None:
        wrapped.prepare(list(example_inputs))
    return wrapped
