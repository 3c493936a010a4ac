"""One training loop for every semvis model.

:class:`Trainer` runs any task given as ``loss_fn(model, batch)`` and
``metrics(model, val_loader)``, with the optimizers, LR schedules, EMA, atomic
checkpoints, exact resume and ``torchrun``/DDP support configured by
:class:`TrainConfig`. :func:`xception_sgd` and :func:`xception_rmsprop` are the
Xception paper's (§4.3) recipes.
"""

from semvis.train.checkpoint import (
    CheckpointError,
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from semvis.train.config import (
    OPTIMIZERS,
    SCHEDULERS,
    TrainConfig,
    TrainConfigError,
    build_optimizer,
    build_scheduler,
    xception_rmsprop,
    xception_sgd,
)
from semvis.train.distributed import (
    DistInfo,
    cleanup,
    init_distributed,
    is_main_process,
    unwrap_model,
    wrap_model,
)
from semvis.train.ema import ModelEMA
from semvis.train.loop import Trainer, move_to
from semvis.train.rng import seed_everything
from semvis.train.tasks import classification_loss, classification_metrics

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "CheckpointError",
    "DistInfo",
    "ModelEMA",
    "TrainConfig",
    "TrainConfigError",
    "Trainer",
    "build_optimizer",
    "build_scheduler",
    "checkpoint_path",
    "classification_loss",
    "classification_metrics",
    "cleanup",
    "init_distributed",
    "is_main_process",
    "latest_checkpoint",
    "load_checkpoint",
    "move_to",
    "save_checkpoint",
    "seed_everything",
    "unwrap_model",
    "wrap_model",
    "xception_rmsprop",
    "xception_sgd",
]
