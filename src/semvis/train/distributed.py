"""torch.distributed helpers for runs launched with ``torchrun``.

Launch multi-process training with ``torchrun --nproc_per_node=N -m semvis.cli.main train …``:
every :class:`~semvis.train.Trainer` calls :func:`init_distributed`, which reads the
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` variables torchrun sets, joins the process group once
and is a no-op for a plain single-process run.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from semvis.device import DeviceSpec, resolve_device
from semvis.errors import DeviceError


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job, and the device it should use."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device


def init_distributed(device: DeviceSpec | None = "auto") -> DistInfo:
    """This process's place in torchrun's job, joined (:func:`join_process_group`), and its device.

    ``device`` goes through :func:`~semvis.device.resolve_device`; with more than one process a
    CUDA device becomes ``cuda:LOCAL_RANK`` (one GPU per process). MPS cannot run DDP.
    """
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    resolved = resolve_device(device)
    if world_size > 1 and resolved.type == "cuda":
        resolved = resolve_device(f"cuda:{local_rank}")
    if world_size > 1 and resolved.type == "mps":
        raise DeviceError("torch.distributed cannot train on mps; run torchrun with --device cpu or on CUDA")
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    join_process_group()
    return DistInfo(rank(), world_size, local_rank, resolved)


def join_process_group() -> None:
    """Join the process group torchrun describes, once, when it runs more than one process.

    The group carries CPU tensors over gloo and, where CUDA is available, CUDA tensors over NCCL
    (torch's default), so it serves a CPU run, a GPU run and CPU-side work such as barriers alike.
    It is left when the process exits.
    """
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size > 1 and not is_distributed():
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, rank=int(os.environ["RANK"]), world_size=world_size)
        atexit.register(cleanup)


def is_distributed() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's global rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes in the job (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0, the process that logs and writes files."""
    return rank() == 0


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in :class:`DistributedDataParallel` when more than one process runs, else as is."""
    if world_size() == 1:
        return model
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (or ``model`` itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean of ``tensor`` over all processes (``tensor`` itself when not distributed)."""
    if world_size() == 1:
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor)
    return tensor / world_size()


def barrier() -> None:
    """Wait for every process (no-op when not distributed)."""
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group, if one was joined."""
    if is_distributed():
        dist.destroy_process_group()
