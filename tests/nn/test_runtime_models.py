"""Each kind of network semvis wraps with ``accelerate``: onnxruntime answers like torch (random weights)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_pspnet

from semvis.backbones import create_backbone
from semvis.colorize.unet import SemanticColorizer
from semvis.nn.runtime import accelerate, flatten_outputs, traceable_adaptive_avg_pool2d
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
def test_pspnet_with_one_dynamic_graph_for_sizes_its_bins_do_not_divide(tmp_path):
    model = tiny_pspnet()
    fast = accelerate(model, runtime="onnx", cache_dir=tmp_path)
    for h, w in [(40, 56), (48, 48), (37, 61)]:  # 5×7, 6×6 and 5×8 maps under bins 1, 2, 3, 6
        _agree(fast, model, torch.rand(1, 1, h, w))
    assert fast.dynamic


@pytest.mark.parametrize("bins", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("size", [(6, 6), (7, 9), (28, 28), (45, 60), (5, 3)])
def test_traceable_pool_is_adaptive_pooling(bins, size):
    x = torch.randn(2, 3, *size)
    torch.testing.assert_close(traceable_adaptive_avg_pool2d(x, bins), F.adaptive_avg_pool2d(x, bins))
