"""Pre-training the flow networks F on Flying-Chairs-style pairs, and using them as flow functions.

DFF starts F from FlowNet weights trained on Flying Chairs (§5). Those pairs are made here from
ordinary photos (:class:`~semvis.video.chairs.SyntheticPairs`). :func:`flow_loss` is the end-point
error between F's flow (stride 8 of the frame, vectors in pixels of that grid) and the exact flow
resized to that grid (:func:`~semvis.video.flownet.resize_flow`). :func:`multiscale_loss` is
FlowNet's multi-scale loss over all five of the decoder's flows (strides 128 … 8), which
distillation from a teacher flow uses (:mod:`semvis.video.distill`).
Optimiser: Adam (β = 0.9, 0.999) at 1e-4, as FlowNet (Dosovitskiy et al. 2015).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from semvis.data import image_to_tensor
from semvis.progress import ProgressCallback
from semvis.train import TrainConfig, Trainer, is_main_process
from semvis.video.chairs import SyntheticPairs
from semvis.video.flownet import FlowEstimate, FlowNet, build_flownet, resize_flow
from semvis.weights import load_model, save_model

#: FlowNet's optimiser: Adam with torch's default β = (0.9, 0.999), lr 1e-4.
RECIPE: dict[str, Any] = {"optimizer": "adam", "lr": 1e-4}
#: A Trainer ``loss_fn``: ``(model, batch) → (loss, logs)``.
LossFn = Callable[[nn.Module, Sequence[torch.Tensor]], tuple[torch.Tensor, dict[str, torch.Tensor]]]


#: FlowNetS' loss weights of its five flows, coarse to fine (flow6 … flow2; Caffe release).
MULTISCALE_WEIGHTS = (0.32, 0.08, 0.02, 0.01, 0.005)


def end_point_error(
    flow: torch.Tensor, target: torch.Tensor, antialias: bool = False, moving: float = 0.0
) -> torch.Tensor:
    """Mean ‖flow − target‖ on ``flow``'s grid, ``target`` (any size) resized to it (vectors scaled).

    ``moving > 0`` weighs each pixel ``1 + moving · a / mean(a)`` instead, ``a`` the distance of its
    target from the frame's median target (the camera's motion, roughly): pixels that move apart
    from the camera, the objects, count more (our addition, not FlowNet's).
    """
    target = resize_flow(target, flow.shape[-2:], antialias)
    error = (flow - target).norm(dim=1)
    if not moving:
        return error.mean()
    apart = (target - target.flatten(2).median(-1).values[..., None, None]).norm(dim=1)
    weight = 1 + moving * apart / apart.mean((1, 2), keepdim=True).clamp_min(1e-6)
    return (weight * error).sum() / weight.sum()


def flow_loss(model: nn.Module, batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``loss_fn`` for the Trainer: mean EPE of ``model(frame1, frame2)`` against the resized true flow."""
    frame1, frame2, flow = batch
    epe = end_point_error(model(frame1, frame2).flow, flow)
    return epe, {"epe": epe.detach()}


def multiscale_loss(
    model: nn.Module, batch: Sequence[torch.Tensor], moving: float = 0.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``loss_fn``: FlowNet's multi-scale EPE, ``Σ_l w_l · EPE_l`` over the decoder's five flows.

    Each level's EPE is in pixels of its own grid against the target shrunk to it with
    antialiasing (FlowNet pools its ground truth); the weights are :data:`MULTISCALE_WEIGHTS`
    divided by the last, so F's own flow (stride 8) weighs 1 and the coarsest 64. Per frame pixel
    that weighs the levels 4 : 2 : 1 : 1 : 1, coarse to fine. ``moving`` weighs the pixels
    (:func:`end_point_error`). Logs ``epe``, F's own flow's plain EPE.
    """
    frame1, frame2, flow = batch
    levels = model(frame1, frame2, pyramid=True)
    errors = [end_point_error(level, flow, True, moving) for level in levels]
    loss = sum(w / MULTISCALE_WEIGHTS[-1] * e for w, e in zip(MULTISCALE_WEIGHTS, errors))
    epe = end_point_error(levels[-1].detach(), flow, True) if moving else errors[-1].detach()
    return loss, {"epe": epe}


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
    notes = {"pairs": pairs, "size": list(size)}
    results = fit_flownet(model, data, flow_loss, out_dir, notes, epochs, batch_size, progress, **overrides)
    return model, results


def fit_flownet(
    model: FlowNet,
    data: Dataset,
    loss: LossFn,
    out_dir: str | Path,
    notes: dict[str, Any],
    epochs: int,
    batch_size: int,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> dict[str, float]:
    """Train ``model`` on ``data`` with ``loss`` and :data:`RECIPE` (checkpoints and ``resume`` in
    ``out_dir``), then save it to ``out_dir/model.safetensors`` with ``notes``; the last metrics row."""
    cfg = TrainConfig(**(RECIPE | {"epochs": epochs, "batch_size": batch_size, "out_dir": Path(out_dir)} | overrides))
    results = Trainer(model, loss, data, cfg, progress=progress).fit()
    if is_main_process():
        save_flownet(model, Path(out_dir) / "model.safetensors", notes)
    return results


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
