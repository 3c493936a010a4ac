"""Each kind of network semvis wraps with ``accelerate``: onnxruntime answers like torch (random weights)."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_pspnet

from semvis.backbones import create_backbone
from semvis.colorize.unet import SemanticColorizer
from semvis.nn.runtime import accelerate, flatten_outputs
from semvis.video.flownet import build_flownet

pytest.importorskip("onnxruntime")
#: Relative to max(1, |torch output|max): fp32 in two runtimes, kernels and summation orders differ.
RTOL = 1e-5


def _agree(fast: torch.nn.Module, model: torch.nn.Module, *inputs: torch.Tensor) -> None:
    with torch.no_grad():
        want = flatten_outputs(model(*inputs))[0]
    got = flatten_outputs(fast(*inputs))[0]
    assert fast.runtime == "onnx" and len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=RTOL * max(1.0, float(w.abs().max())), rtol=0)


@pytest.mark.slow
def test_colorizer(tmp_path):
    torch.manual_seed(0)
    model = SemanticColorizer(num_classes=5, width=4).eval()
    fast = accelerate(model, runtime="onnx", cache_dir=tmp_path)
    for h, w in [(32, 48), (37, 29)]:
        _agree(fast, model, torch.rand(1, 1, h, w), torch.randint(0, 5, (1, h, w)))


def test_flownet_half_and_its_named_tuple(tmp_path):
    torch.manual_seed(0)
    model = build_flownet("half").eval()
    fast = accelerate(model, runtime="onnx", cache_dir=tmp_path)
    _agree(fast, model, torch.rand(1, 3, 64, 80), torch.rand(1, 3, 64, 80))
    assert fast(torch.rand(1, 3, 64, 80), torch.rand(1, 3, 64, 80)).scale is None


def test_classifier_backbone(tmp_path):
    torch.manual_seed(0)
    model = create_backbone("mobilenet_v2", num_classes=7).eval()
    fast = accelerate(model, runtime="onnx", cache_dir=tmp_path)
    for side in (64, 96):
        _agree(fast, model, torch.rand(2, 3, side, side))


@pytest.mark.slow
def test_pspnet_where_its_pooling_bins_divide_the_map(tmp_path):
    model = tiny_pspnet()  # a 48 px input gives a 6×6 map: bins 1, 2, 3 and 6 divide it
    fast = accelerate(model, runtime="onnx", cache_dir=tmp_path, dynamic=False)
    _agree(fast, model, torch.rand(1, 1, 48, 48))
