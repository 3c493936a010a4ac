"""ONNX files as weight files: their initializers and the nodes that use them (needs ``onnx``, the ``onnx`` extra).

Only the protobuf is read (``onnx.load`` and ``onnx.numpy_helper``); nothing is executed. A
family's converter finds its layers among :attr:`OnnxWeights.nodes` (by operator type and
node name) and takes their weights from :attr:`OnnxWeights.initializers` by input name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semvis.errors import WeightsError
from semvis.weights.formats import sniff


@dataclass(frozen=True)
class OnnxNode:
    """One graph node: operator, name, input and output tensor names, attributes as Python values."""

    op_type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OnnxWeights:
    """The constant tensors of an ONNX graph (float32 numpy arrays, by name) and its nodes in graph order."""

    initializers: dict[str, np.ndarray]
    nodes: tuple[OnnxNode, ...]
    inputs: dict[str, tuple[int | str, ...]]


def _onnx():
    try:
        import onnx
        import onnx.numpy_helper
    except ImportError as exc:
        raise WeightsError(
            "reading ONNX weights needs the onnx package: pip install onnx (or pip install 'semvis[onnx]')"
        ) from exc
    return onnx


def read_onnx(path: Path) -> OnnxWeights:
    """Initializers, nodes and graph inputs of the ONNX model at ``path``; one :class:`WeightsError` otherwise."""
    onnx = _onnx()
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises DecodeError, onnx its own types
        raise WeightsError(f"{path}: not a readable ONNX model: it is {sniff(path)} ({exc})") from None
    graph = model.graph
    if not graph.node:
        raise WeightsError(f"{path}: not a readable ONNX model: it is {sniff(path)} (no graph nodes)")
    try:
        initializers = {
            tensor.name: np.array(onnx.numpy_helper.to_array(tensor), dtype=np.float32)  # a writable copy
            for tensor in graph.initializer
            if tensor.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE)
        }
    except (ValueError, OSError) as exc:
        raise WeightsError(f"{path}: ONNX initializers not readable ({exc})") from exc
    nodes = tuple(
        OnnxNode(
            node.op_type,
            node.name,
            tuple(node.input),
            tuple(node.output),
            {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute if a.type != a.TENSOR},
        )
        for node in graph.node
    )
    inputs = {
        value.name: tuple(d.dim_value or d.dim_param for d in value.type.tensor_type.shape.dim)
        for value in graph.input
        if value.name not in initializers
    }
    return OnnxWeights(initializers, nodes, inputs)
