"""Training configuration, optimizer/scheduler factories and the Xception recipes.

Schedulers are stepped once per optimizer step (per iteration). Epoch-based
settings (``step_size``, ``gamma`` per epoch, ``epochs``) are converted to
iterations with ``steps_per_epoch``, so a fractional ``step_size`` (a decay every
N samples) is honoured exactly, and staircase decay still changes at epoch
boundaries when ``step_size`` is a whole number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch.optim import lr_scheduler

from semvis.device import PRECISIONS
from semvis.errors import SemvisError

IMAGENET_TRAIN_IMAGES = 1_281_167

#: optimizer name -> (class, the TrainConfig fields it takes besides lr and weight_decay)
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], tuple[str, ...]]] = {
    "sgd": (torch.optim.SGD, ("momentum", "nesterov")),
    "rmsprop": (torch.optim.RMSprop, ("momentum",)),
    "adam": (torch.optim.Adam, ()),
    "adamw": (torch.optim.AdamW, ()),
}

_Scheduler = lr_scheduler.LRScheduler
_SchedulerFactory = Callable[[torch.optim.Optimizer, "TrainConfig", int], _Scheduler]

#: scheduler name -> factory(optimizer, cfg, steps_per_epoch); all are stepped per iteration.
SCHEDULERS: dict[str, _SchedulerFactory] = {
    "step": lambda opt, cfg, spe: lr_scheduler.StepLR(
        opt, step_size=max(1, round(cfg.step_size * spe)), gamma=cfg.gamma
    ),
    "exponential": lambda opt, cfg, spe: lr_scheduler.ExponentialLR(opt, gamma=cfg.gamma ** (1 / spe)),
    "cosine": lambda opt, cfg, spe: lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * spe, eta_min=cfg.min_lr),
    "poly": lambda opt, cfg, spe: lr_scheduler.PolynomialLR(opt, total_iters=cfg.epochs * spe, power=cfg.power),
    "none": lambda opt, cfg, spe: lr_scheduler.LambdaLR(opt, lambda _: 1.0),
}

_T = TypeVar("_T")


class TrainConfigError(SemvisError, ValueError):
    """A training setting is out of range or names an unknown optimizer or scheduler."""


def _choose(table: Mapping[str, _T], name: str, what: str) -> _T:
    """``table[name]`` (case-insensitive), or a clear error listing the choices."""
    key = name.lower()
    if key not in table:
        raise TrainConfigError(f"unknown {what} {name!r}; choose one of {sorted(table)}")
    return table[key]


@dataclass
class TrainConfig:
    """Everything the :class:`~semvis.train.Trainer` needs besides model, loss and data.

    ``step_size`` is in epochs (may be fractional); ``gamma`` is the decay factor per
    ``step_size`` epochs for ``"step"`` and per epoch for ``"exponential"`` (applied
    smoothly per iteration). ``power`` is for ``"poly"``, ``min_lr`` for ``"cosine"``.
    ``optimizer_kwargs`` is passed through to the torch optimizer (e.g. ``betas``,
    ``eps``, ``alpha``). ``grad_clip`` is a max global L2 norm; ``ema_decay=None``
    disables the parameter EMA. ``checkpoint_every`` is in epochs; ``log_every`` in steps.

    ``device`` is ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (see :mod:`semvis.device`;
    under torchrun each process takes ``cuda:LOCAL_RANK``). ``precision`` is ``fp32``, ``bf16``
    (autocast) or ``fp16`` (autocast with loss scaling, CUDA only). ``amp`` is the older switch
    for mixed precision: bf16 on the CPU and MPS, fp16 on CUDA; it excludes ``precision``.
    """

    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    scheduler: str = "none"
    step_size: float = 1.0
    gamma: float = 0.1
    power: float = 0.9
    min_lr: float = 0.0
    ema_decay: float | None = None
    grad_clip: float | None = None
    amp: bool = False
    device: str = "auto"
    precision: str = "fp32"
    num_workers: int = 0
    drop_last: bool = False
    seed: int = 0
    log_every: int = 50
    out_dir: Path = Path("runs/train")
    checkpoint_every: int = 1
    resume: bool = False

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.device = str(self.device)  # a torch.device too, kept as its name
        _choose(OPTIMIZERS, self.optimizer, "optimizer")
        _choose(SCHEDULERS, self.scheduler, "scheduler")
        positive = ("epochs", "batch_size", "lr", "step_size", "log_every", "checkpoint_every")
        for name in positive:
            if not getattr(self, name) > 0:
                raise TrainConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise TrainConfigError(f"ema_decay must be in [0, 1) or None, got {self.ema_decay!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise TrainConfigError(f"grad_clip must be > 0 or None, got {self.grad_clip!r}")
        if self.num_workers < 0:
            raise TrainConfigError(f"num_workers must be >= 0, got {self.num_workers!r}")
        if self.precision not in PRECISIONS:
            raise TrainConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.amp and self.precision != "fp32":
            raise TrainConfigError(f"amp chooses the precision itself; set precision={self.precision!r} alone")

    def precision_on(self, device: torch.device) -> str:
        """The autocast precision on ``device``: ``precision``, or with ``amp`` fp16 on CUDA and bf16 elsewhere."""
        if self.amp:
            return "fp16" if device.type == "cuda" else "bf16"
        return self.precision

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (paths as strings) that ``torch.load(weights_only=True)`` accepts."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}


def build_optimizer(params: Iterable[Any], cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg.optimizer`` over ``params``."""
    cls, fields = _choose(OPTIMIZERS, cfg.optimizer, "optimizer")
    kwargs = {name: getattr(cfg, name) for name in fields}
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kwargs, **cfg.optimizer_kwargs)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> _Scheduler:
    """The LR scheduler named by ``cfg.scheduler``; step it after every optimizer step."""
    if steps_per_epoch < 1:
        raise TrainConfigError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    return _choose(SCHEDULERS, cfg.scheduler, "scheduler")(optimizer, cfg, steps_per_epoch)


def xception_sgd(**overrides: Any) -> TrainConfig:
    """Xception paper (Chollet 2017) §4.3 ImageNet recipe.

    SGD, momentum 0.9, initial lr 0.045 decayed by 0.94 every 2 epochs, weight
    decay 1e-5, Polyak averaging (parameter EMA) for evaluation. The paper's
    dropout of 0.5 before the classifier belongs to the model, not to this config.
    The paper gives neither the batch size, the epoch count nor the averaging
    decay; 0.9999 (the usual TensorFlow choice) is used for the EMA.
    """
    recipe: dict[str, Any] = {
        "optimizer": "sgd",
        "lr": 0.045,
        "momentum": 0.9,
        "weight_decay": 1e-5,
        "scheduler": "step",
        "step_size": 2.0,
        "gamma": 0.94,
        "ema_decay": 0.9999,
    }
    return TrainConfig(**(recipe | overrides))


def xception_rmsprop(samples_per_epoch: int = IMAGENET_TRAIN_IMAGES, **overrides: Any) -> TrainConfig:
    """Xception paper §4.3 JFT recipe: RMSprop, momentum 0.9, lr 0.001 decayed by 0.9
    every 3,000,000 samples, weight decay 1e-5, Polyak averaging for evaluation.

    The decay interval becomes ``step_size = 3e6 / samples_per_epoch`` epochs (about
    2.34 ImageNet epochs by default); since schedulers step per iteration this is
    ``round(3e6 / batch_size)`` optimizer steps, i.e. every 3M samples whatever the
    dataset size. The paper uses no dropout here and does not give RMSprop's
    decay/epsilon, so torch's defaults apply (override via ``optimizer_kwargs``).
    """
    recipe: dict[str, Any] = {
        "optimizer": "rmsprop",
        "lr": 0.001,
        "momentum": 0.9,
        "weight_decay": 1e-5,
        "scheduler": "step",
        "step_size": 3_000_000 / samples_per_epoch,
        "gamma": 0.9,
        "ema_decay": 0.9999,
    }
    return TrainConfig(**(recipe | overrides))
