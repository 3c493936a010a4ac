"""semvis.nn.runtime: onnxruntime answers like torch (within ATOL), dynamic shapes, per-shape exports, fallbacks."""

from __future__ import annotations

import dataclasses
import logging
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from semvis.nn import runtime
from semvis.nn.runtime import Bf16Model, OnnxModel, RuntimeChoiceError, accelerate, flatten_outputs

pytest.importorskip("onnxruntime")
#: fp32 through two runtimes: different kernels and summation orders, nothing more.
ATOL = 1e-5


class Pair(NamedTuple):
    features: torch.Tensor
    extra: torch.Tensor | None


@dataclasses.dataclass
class Output:
    probs: torch.Tensor
    logits: torch.Tensor
    seg: torch.Tensor | None = None


class ConvNet(nn.Module):
    """Conv → BN → ReLU → pooled linear: traceable for any size; the output kind is a switch."""

    def __init__(self, output: str = "tensor") -> None:
        super().__init__()
        self.conv, self.bn, self.fc = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Linear(8, 5)
        self.bn.running_mean.uniform_(-1, 1)
        self.bn.running_var.uniform_(0.5, 2)
        self.output = output
        self.eval()

    def forward(self, x: torch.Tensor) -> object:
        y = F.relu(self.bn(self.conv(x)))
        logits = self.fc(y.mean((2, 3)))
        if self.output == "pair":
            return Pair(y, None)
        if self.output == "dataclass":
            return Output(torch.sigmoid(logits), logits)
        if self.output == "dict":  # DeepLabv3+'s named maps
            return {"dense": y, "logits": logits}
        return y


class PadToStride(nn.Module):
    """Python control flow on the input's shape, like the colorizer's padding: traced, the pad amounts
    follow the size, so one dynamic graph serves every size (when traced from a size that pads)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.embed = nn.Embedding(6, 4)

    def forward(self, luma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h, w = luma.shape[-2:]
        if h % 4 or w % 4:
            luma = F.pad(luma, (0, -w % 4, 0, -h % 4), mode="replicate")
        return self.conv(luma)[..., :h, :w] + self.embed(labels).permute(0, 3, 1, 2)


class Threshold(nn.Module):
    """A branch on the size that no dynamic graph can hold: exported per shape."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return 2 * y if x.shape[-1] > 20 else y


class NoExport(nn.Module):
    """Adaptive pooling to a size that does not divide the input: the TorchScript exporter refuses it."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


def _close(got: object, want: object) -> None:
    got_tensors, _ = flatten_outputs(got)
    want_tensors, _ = flatten_outputs(want)
    assert type(got) is type(want) and len(got_tensors) == len(want_tensors)
    for g, w in zip(got_tensors, want_tensors):
        torch.testing.assert_close(g, w, atol=ATOL, rtol=0)


@pytest.mark.parametrize("output", ["tensor", "pair", "dataclass", "dict"])
def test_onnx_answers_like_torch_with_the_same_structure(tmp_path, output):
    model, x = ConvNet(output), torch.rand(2, 3, 20, 24)
    fast = accelerate(model, (x,), runtime="onnx", cache_dir=tmp_path)
    assert isinstance(fast, OnnxModel) and fast.runtime == "onnx"
    with torch.no_grad():
        want = model(x)
    got = fast(x)
    _close(got, want)
    if output == "pair":
        assert got.extra is None
    if output == "dataclass":
        assert got.seg is None
    if output == "dict":
        assert list(got) == ["dense", "logits"]


def test_a_traceable_model_is_exported_once_with_dynamic_batch_height_and_width(tmp_path):
    model = ConvNet()
    fast = accelerate(model, (torch.rand(1, 3, 16, 16),), runtime="onnx", cache_dir=tmp_path)
    for shape in [(1, 3, 16, 16), (3, 3, 37, 21), (1, 3, 64, 8)]:
        x = torch.rand(shape)
        with torch.no_grad():
            _close(fast(x), model(x))
    assert fast.dynamic and len(list(tmp_path.glob("*.onnx"))) == 1


def test_padding_to_a_stride_gets_one_dynamic_graph_even_from_a_size_that_does_not_pad(tmp_path):
    torch.manual_seed(0)
    model = PadToStride().eval()
    fast = accelerate(model, runtime="auto", cache_dir=tmp_path)
    for h, w in [(16, 16), (17, 22), (16, 30)]:
        luma, labels = torch.rand(1, 1, h, w), torch.randint(0, 6, (1, h, w))
        with torch.no_grad():
            _close(fast(luma, labels), model(luma, labels))
    assert fast.runtime == "onnx" and fast.dynamic and len(list(tmp_path.glob("*.onnx"))) == 1


def test_a_branch_on_the_size_is_exported_per_shape_and_still_right(tmp_path):
    torch.manual_seed(0)
    model = Threshold().eval()
    fast = accelerate(model, runtime="auto", cache_dir=tmp_path)
    for h, w in [(16, 16), (17, 22), (16, 16)]:
        x = torch.rand(1, 1, h, w)
        with torch.no_grad():
            _close(fast(x), model(x))
    assert fast.runtime == "onnx" and not fast.dynamic
    assert len(list(tmp_path.glob("*.onnx"))) == 2 and len(list(tmp_path.glob("*.static"))) == 1


def test_the_cache_serves_a_second_process_without_exporting(tmp_path, monkeypatch):
    model, x = ConvNet(), torch.rand(1, 3, 12, 12)
    accelerate(model, (x,), runtime="onnx", cache_dir=tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(runtime, "export_onnx", refuse)
    twin = ConvNet()
    twin.load_state_dict(model.state_dict())
    again = accelerate(twin, (x,), runtime="onnx", cache_dir=tmp_path)
    with torch.no_grad():
        _close(again(x), model(x))


def test_other_weights_get_another_export(tmp_path):
    first, second = ConvNet(), ConvNet()
    x = torch.rand(1, 3, 8, 8)
    a = accelerate(first, (x,), runtime="onnx", cache_dir=tmp_path)
    b = accelerate(second, (x,), runtime="onnx", cache_dir=tmp_path)
    with torch.no_grad():
        _close(a(x), first(x))
        _close(b(x), second(x))
    assert len(list(tmp_path.glob("*.onnx"))) == 2


def test_wrapper_passes_model_attributes_through(tmp_path):
    model = ConvNet()
    model.in_channels = 3
    fast = accelerate(model, runtime="auto", cache_dir=tmp_path)
    assert fast.in_channels == 3 and fast.fc is model.fc


def test_auto_falls_back_to_torch_with_one_log_line_and_remembers(tmp_path, caplog):
    model, x = NoExport(), torch.rand(1, 2, 8, 8)
    with caplog.at_level(logging.WARNING, logger="semvis.runtime"):
        fast = accelerate(model, runtime="auto", cache_dir=tmp_path)
        torch.testing.assert_close(fast(x), model(x))
        torch.testing.assert_close(fast(x), model(x))
    assert fast.runtime == "torch"
    assert [r.message for r in caplog.records if "ONNX export failed" in r.message] == [caplog.records[0].message]
    (marker,) = tmp_path.glob("*.failed")
    assert len(caplog.records) == 1 and f"delete {marker} to try again" in caplog.records[0].message
    again = accelerate(model, runtime="auto", cache_dir=tmp_path)
    torch.testing.assert_close(again(x), model(x))
    assert again.runtime == "torch"


def test_onnx_asked_for_raises_when_the_export_fails(tmp_path):
    with pytest.raises(RuntimeChoiceError, match="NoExport did not export"):
        accelerate(NoExport(), (torch.rand(1, 2, 8, 8),), runtime="onnx", cache_dir=tmp_path)


def test_without_onnxruntime_auto_is_torch_and_onnx_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(runtime.importlib.util, "find_spec", lambda name: None)
    model = ConvNet()
    assert accelerate(model, runtime="auto", cache_dir=tmp_path) is model
    with pytest.raises(RuntimeChoiceError, match="needs onnxruntime"):
        accelerate(model, runtime="onnx", cache_dir=tmp_path)


def test_torch_runtime_unknown_names_and_other_devices(tmp_path):
    model = ConvNet()
    assert accelerate(model, runtime="torch", cache_dir=tmp_path) is model
    assert accelerate(model, runtime="auto", device="meta", cache_dir=tmp_path) is model
    with pytest.raises(RuntimeChoiceError, match="CPU only"):
        accelerate(model, runtime="onnx", device="meta", cache_dir=tmp_path)
    with pytest.raises(RuntimeChoiceError, match="unknown runtime 'tensorrt'"):
        accelerate(model, runtime="tensorrt")
    assert not list(tmp_path.iterdir())


def test_threads_follow_torch_unless_overridden(monkeypatch):
    monkeypatch.delenv("SEMVIS_ORT_THREADS", raising=False)
    assert runtime._threads() == torch.get_num_threads()
    monkeypatch.setenv("SEMVIS_ORT_THREADS", "3")
    assert runtime._threads() == 3


def test_bf16_keeps_structure_returns_float32_and_stays_within_bfloat16_rounding(tmp_path):
    torch.manual_seed(0)
    model, x = ConvNet("dataclass"), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        want = model(x)
    fast = accelerate(model, runtime="bf16", cache_dir=tmp_path)
    got = fast(x)
    assert isinstance(fast, Bf16Model) and fast.runtime == "bf16" and isinstance(got, Output)
    assert got.logits.dtype == torch.float32 and got.seg is None
    # bfloat16 keeps 8 significant bits: a relative error of a few 2⁻⁸ after a conv and a linear layer
    torch.testing.assert_close(got.logits, want.logits, atol=0.05 * float(want.logits.abs().max()), rtol=0)
    assert not list(tmp_path.iterdir())
