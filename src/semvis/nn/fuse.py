"""Inference-time fusion: fold each BatchNorm into the convolution before it.

Uses ``torch.fx.experimental.optimization.fuse`` on a symbolic trace; custom modules
without children (e.g. input normalisation with its shape check) are kept as leaves so
they need not be traceable.
"""

from __future__ import annotations

import copy

from torch import fx, nn
from torch.fx.experimental.optimization import fuse


class _LeafTracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return super().is_leaf_module(m, qualname) or not any(True for _ in m.children())


def fuse_conv_bn(model: nn.Module) -> fx.GraphModule:
    """An eval-mode copy of ``model`` with Conv→BN pairs folded (same outputs, fewer ops)."""
    model = copy.deepcopy(model).eval()
    graph = _LeafTracer().trace(model)
    return fuse(fx.GraphModule(model, graph), no_trace=True)
