"""The two models of the colorization pipeline, from weight files or the bundled ones."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from semvis.bundled import COLORIZER, PHOTO_SEGMENTERS, bundled_model
from semvis.colorize.data import Segmenter
from semvis.colorize.unet import SemanticColorizer, load_colorizer
from semvis.data import LabelSpec
from semvis.device import DeviceSpec, resolve_device
from semvis.errors import WeightsError
from semvis.nn.runtime import accelerate
from semvis.segment import load_segmenter, segment

#: What ``runtime="auto"`` means for the colorizer: PyTorch. Measured on a quiet 2-core Xeon with 2 threads
#: (docs/performance.md): the shipped classification-head U-Net takes 147 ms in PyTorch and 299 ms in
#: onnxruntime at 176², 526 against 1,195 ms at 352². ``runtime="onnx"`` still forces onnxruntime.
COLORIZER_AUTO_RUNTIME = "torch"


def load_segmenter_function(
    path: str | Path | None = None, device: DeviceSpec | None = None, runtime: str = "torch"
) -> tuple[Segmenter, LabelSpec]:
    """``(rgb → labels, its classes)`` from a segmenter file, the bundled one by default, with the
    segmenter on ``device`` (see :mod:`semvis.device`; ``None``: the CPU) in ``runtime``
    (:func:`semvis.nn.runtime.accelerate`); labels come back on the CPU."""
    target = None if device is None else resolve_device(device)
    model, labels = load_segmenter(Path(path) if path is not None else bundled_model(PHOTO_SEGMENTERS["gray"]), target)
    return partial(segment, accelerate(model, runtime=runtime, device=target)), labels


def load_colorization_models(
    segmenter: str | Path | None = None,
    colorizer: str | Path | None = None,
    device: DeviceSpec | None = None,
    runtime: str = "torch",
) -> tuple[Segmenter, LabelSpec, SemanticColorizer]:
    """``(rgb → labels, its classes, colorizer)``; the bundled models (:mod:`semvis.bundled`) where none is given.

    Both models are put on ``device`` (``None``: the CPU) and run in ``runtime``, except that ``auto``
    runs the colorizer in :data:`COLORIZER_AUTO_RUNTIME` (PyTorch: faster for it, as measured). Raises
    :class:`~semvis.errors.WeightsError` for a missing file or when the segmenter's classes are not the colorizer's.
    """
    target = None if device is None else resolve_device(device)
    segmenter_path = Path(segmenter) if segmenter is not None else bundled_model(PHOTO_SEGMENTERS["gray"])
    colorizer_path = Path(colorizer) if colorizer is not None else bundled_model(COLORIZER)
    predict, labels = load_segmenter_function(segmenter_path, target, runtime)
    colorizer_runtime = COLORIZER_AUTO_RUNTIME if runtime == "auto" else runtime
    colorizer_model = accelerate(load_colorizer(colorizer_path, target), runtime=colorizer_runtime, device=target)
    if len(labels.classes) != colorizer_model.config["num_classes"]:
        raise WeightsError(
            f"{segmenter_path}: the segmenter predicts {len(labels.classes)} classes but the colorizer "
            f"{colorizer_path} expects {colorizer_model.config['num_classes']}"
        )
    return predict, labels, colorizer_model
