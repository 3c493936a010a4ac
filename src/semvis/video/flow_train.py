"""Pre-training the flow networks F on Flying-Chairs-style pairs, and using them as flow functions.

DFF starts F from FlowNet weights trained on Flying Chairs (§5). Those pairs are made here from
ordinary photos (:class:`~semvis.video.chairs.SyntheticPairs`). The loss is the end-point error
between F's flow (stride 8 of the frame, vectors in pixels of that grid) and the exact flow
resized to that grid (:func:`~semvis.video.flownet.resize_flow`): FlowNetS' multi-scale loss is not
used, as the decoder's coarser predictions are internal to :class:`~semvis.video.flownet.FlowNet`.
Optimiser: Adam (β = 0.9, 0.999) at 1e-4, as FlowNet (Dosovitskiy et al. 2015).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from semvis.data import image_to_tensor
from semvis.progress import ProgressCallback
from semvis.train import TrainConfig, Trainer, is_main_process
from semvis.video.chairs import SyntheticPairs
from semvis.video.flownet import FlowEstimate, FlowNet, build_flownet, resize_flow
from semvis.weights import load_model, save_model

#: FlowNet's optimiser: Adam with torch's default β = (0.9, 0.999), lr 1e-4.
RECIPE: dict[str, Any] = {"optimizer": "adam", "lr": 1e-4}


def flow_loss(model: nn.Module, batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``loss_fn`` for the Trainer: mean EPE of ``model(frame1, frame2)`` against the resized true flow."""
    frame1, frame2, flow = batch
    estimate = model(frame1, frame2)
    epe = (estimate.flow - resize_flow(flow, estimate.flow.shape[-2:])).norm(dim=1).mean()
    return epe, {"epe": epe.detach()}


def train_flownet(
    photos: str | Path,
    out_dir: str | Path,
    name: str = "simple",
    size: tuple[int, int] = (192, 256),
    pairs: int = 4000,
    epochs: int = 10,
    batch_size: int = 8,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> tuple[FlowNet, dict[str, float]]:
    """Train ``build_flownet(name)`` on ``pairs`` synthetic pairs of ``size`` (H, W) from ``photos``.

    Saves ``out_dir/model.safetensors``; returns the model and the last metrics row. ``progress``
    gets the training steps.
    """
    model = build_flownet(name)
    data = SyntheticPairs(photos, size, pairs)
    cfg = TrainConfig(**(RECIPE | {"epochs": epochs, "batch_size": batch_size, "out_dir": Path(out_dir)} | overrides))
    results = Trainer(model, flow_loss, data, cfg, progress=progress).fit()
    if is_main_process():
        save_flownet(model, Path(out_dir) / "model.safetensors", {"pairs": pairs, "size": list(size)})
    return model, results


def save_flownet(model: FlowNet, path: str | Path, notes: dict[str, Any]) -> Path:
    """The flow network (fp16) as a model file of kind ``flownet``, training notes as provenance."""
    config = {"name": model.name, "scale_channels": model.scale_channels, "scale_head": model.scale_head}
    return save_model(model, path, FlowNet.kind, config, provenance=notes)


def load_flownet(
    path: str | Path, scale_channels: int | None = None, device: str | None = None, scale_head: str | None = None
) -> FlowNet:
    """A flow network from its model file, in eval mode (on ``device``).

    ``scale_channels`` or ``scale_head`` other than the file's keeps the trained flow and gives the
    network a fresh scale field of that width and head (weights 0, biases 1: S ≡ 1), as DFF starts
    from a pre-trained F (§5).
    """
    model = load_model(path, (FlowNet.kind,), what="flow network").model
    channels = model.scale_channels if scale_channels is None else scale_channels
    head = scale_head or model.scale_head
    if (channels, head) != (model.scale_channels, model.scale_head):
        trained, model = model.state_dict(), build_flownet(model.name, channels, head)
        state = model.state_dict()
        for name, tensor in trained.items():
            if name.startswith("head."):
                state[name][:2] = tensor[:2]  # the flow rows; the rest is S
            elif not name.startswith("scale."):
                state[name] = tensor
        model.load_state_dict(state)
    return model.eval().to(device or "cpu")


class FlowNetFlow:
    """A trained F as a flow function (``flow(current, key)``) for :func:`~semvis.video.run_video` or a benchmark."""

    def __init__(self, model: FlowNet) -> None:
        self.model = model.eval()

    def __call__(self, current: torch.Tensor, key: torch.Tensor) -> FlowEstimate:
        with torch.inference_mode():
            return self.model(current, key)

    def dense(self, frame1: np.ndarray, frame2: np.ndarray) -> np.ndarray:
        """Flow from ``frame1`` to ``frame2`` (RGB uint8 H×W×3) at full resolution, H×W×2 (as ``dis_flow``)."""
        estimate = self(image_to_tensor(frame1)[None], image_to_tensor(frame2)[None])
        return resize_flow(estimate.flow, frame1.shape[:2])[0].permute(1, 2, 0).numpy()
