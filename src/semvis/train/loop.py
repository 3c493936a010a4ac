"""The training loop shared by every semvis model.

A task plugs in through two functions:

- ``loss_fn(model, batch) -> (loss, logs)``: ``batch`` is already on the device;
  ``logs`` maps names to scalars, averaged per epoch as ``train_<name>``.
- ``metrics(model, val_loader) -> {name: value}``: runs under ``torch.no_grad`` with
  the model in eval mode (the EMA copy when EMA is on); batches come straight from
  the loader, so move them with :func:`move_to`. Results are logged as ``val_<name>``.

The trainer runs on ``cfg.device`` (or its ``device`` argument) in ``cfg.precision``. Under
``torchrun`` it joins the process group itself (:func:`~semvis.train.distributed.init_distributed`,
one GPU per process on CUDA), so every task trains with DDP without code of its own: the model
is wrapped in DDP and the training set sharded with a :class:`DistributedSampler`; rank 0 alone
evaluates, logs, reports progress and writes checkpoints, so resuming needs ``out_dir`` on a
filesystem all ranks can read.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from semvis.device import DeviceSpec, autocast, check_precision
from semvis.errors import SemvisError
from semvis.progress import ProgressCallback, report
from semvis.train.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from semvis.train.config import TrainConfig, TrainConfigError, build_optimizer, build_scheduler
from semvis.train.distributed import (
    all_reduce_mean,
    barrier,
    init_distributed,
    is_distributed,
    is_main_process,
    rank,
    unwrap_model,
    world_size,
    wrap_model,
)
from semvis.train.ema import ModelEMA
from semvis.train.metrics_log import MetricsLog
from semvis.train.rng import rng_state, seed_everything, set_rng_state

LossFn = Callable[[nn.Module, Any], tuple[torch.Tensor, Mapping[str, Any]]]
MetricsFn = Callable[[nn.Module, DataLoader], Mapping[str, float]]

logger = logging.getLogger(__name__)


def move_to(batch: Any, device: torch.device | str) -> Any:
    """``batch`` with every tensor inside (nested tuples, lists, dicts) moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {key: move_to(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(value, device) for value in batch)
    return batch


class Trainer:
    """Trains ``model`` on ``train_data`` as ``cfg`` says; see the module docstring.

    ``fit()`` seeds every RNG with ``cfg.seed`` (or, with ``cfg.resume`` and a
    checkpoint in ``cfg.out_dir``, restores the full state of the latest one and
    continues at the next epoch, reproducing the uninterrupted run). The data order
    of each epoch depends only on ``cfg.seed``, the epoch and the rank. ``device``
    overrides ``cfg.device``; ``progress`` gets each epoch's steps (task ``epoch E/N``).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        train_data: Dataset,
        cfg: TrainConfig,
        val_data: Dataset | None = None,
        metrics: MetricsFn | None = None,
        device: DeviceSpec | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        if (val_data is None) != (metrics is None):
            raise TrainConfigError("val_data and metrics must be given together")
        self.cfg = cfg
        self.device = init_distributed(cfg.device if device is None else device).device
        self.precision = cfg.precision_on(self.device)
        check_precision(self.device, self.precision)  # fp16 off CUDA is refused before any work
        self.progress = progress if is_main_process() else None
        self.loss_fn = loss_fn
        self.metrics = metrics
        model.to(self.device)
        self.model = wrap_model(model, self.device)
        self.ema = None if cfg.ema_decay is None else ModelEMA(model, cfg.ema_decay)
        self._generator = torch.Generator()
        self.train_loader = self._loader(train_data, train=True)
        if len(self.train_loader) == 0:
            raise TrainConfigError(
                f"training data yields no batches (batch_size={cfg.batch_size}, drop_last={cfg.drop_last})"
            )
        self.val_loader = None if val_data is None else self._loader(val_data, train=False)
        self.optimizer = build_optimizer(model.parameters(), cfg)
        self.scheduler = build_scheduler(self.optimizer, cfg, len(self.train_loader))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.epoch = 0  # completed epochs
        self.step = 0  # optimizer steps taken

    def _loader(self, data: Dataset, train: bool) -> DataLoader:
        """Shuffled (sharded under DDP) loader for training; an in-order one for validation."""
        cfg = self.cfg
        sampler = None
        if train and is_distributed():
            sampler = DistributedSampler(data, shuffle=True, seed=cfg.seed, drop_last=cfg.drop_last)
        return DataLoader(
            data,
            batch_size=cfg.batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            num_workers=cfg.num_workers,
            pin_memory=self.device.type == "cuda",
            drop_last=train and cfg.drop_last,
            generator=self._generator if train else None,
        )

    def state_dict(self) -> dict[str, Any]:
        """All that resuming needs: weights, EMA, optimizer, scheduler, scaler, RNG, counters."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "model": unwrap_model(self.model).state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "config": self.cfg.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (an EMA missing from it restarts from the weights)."""
        unwrap_model(self.model).load_state_dict(state["model"])
        if self.ema is not None and state["ema"] is None:
            self.ema = ModelEMA(self.model, self.ema.decay)
        elif self.ema is not None:
            self.ema.load_state_dict(state["ema"])
            self.ema.updates = state["step"]  # one EMA update per optimizer step: the warm-up resumes too
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.epoch, self.step = state["epoch"], state["step"]

    def _start(self) -> None:
        """Resume from the latest checkpoint, or seed a fresh run."""
        latest = latest_checkpoint(self.cfg.out_dir)
        if latest is not None and not self.cfg.resume:
            raise TrainConfigError(
                f"{self.cfg.out_dir} already holds checkpoints ({latest.name}); "
                "set resume=True to continue that run or choose another out_dir"
            )
        if latest is None:
            seed_everything(self.cfg.seed)
            return
        self.load_state_dict(load_checkpoint(latest))
        logger.info("resumed from %s at epoch %d", latest, self.epoch)

    def fit(self) -> dict[str, float]:
        """Train up to ``cfg.epochs``; return the last epoch's row of ``metrics.csv``."""
        cfg, main = self.cfg, is_main_process()
        self._start()
        row: dict[str, float] = {"epoch": self.epoch, "step": self.step}
        with MetricsLog(cfg.out_dir, self.epoch, enabled=main) as log:
            while self.epoch < cfg.epochs:
                row = self._train_epoch()
                if main and self.val_loader is not None:
                    row |= {f"val_{name}": value for name, value in self.evaluate().items()}
                self.epoch += 1
                log.write(row)  # before the checkpoint: a resume drops rows past its epoch
                if main:
                    logger.info("epoch %d: %s", self.epoch, row)
                    if self.epoch % cfg.checkpoint_every == 0 or self.epoch == cfg.epochs:
                        save_checkpoint(checkpoint_path(cfg.out_dir, self.epoch), self.state_dict())
        barrier()  # every rank returns once rank 0 has evaluated and written the last checkpoint
        return row

    def evaluate(self) -> dict[str, float]:
        """``metrics`` on the validation loader, with the EMA weights when EMA is on."""
        if self.metrics is None or self.val_loader is None:
            raise TrainConfigError("evaluate() needs val_data and metrics")
        model = unwrap_model(self.model) if self.ema is None else self.ema.module
        was_training = model.training
        model.eval()
        with torch.no_grad():
            result = self.metrics(model, self.val_loader)
        model.train(was_training)
        return {name: float(value) for name, value in result.items()}

    def _train_epoch(self) -> dict[str, float]:
        """One pass over the training data; returns epoch, step, lr and mean train logs."""
        cfg = self.cfg
        self.model.train()
        self._generator.manual_seed(cfg.seed + self.epoch * world_size() + rank())
        if isinstance(self.train_loader.sampler, DistributedSampler):
            self.train_loader.sampler.set_epoch(self.epoch)
        lr = self.optimizer.param_groups[0]["lr"]
        task, total, status = f"epoch {self.epoch + 1}/{cfg.epochs}", len(self.train_loader), ""
        report(self.progress, task, 0, total)
        sums: dict[str, torch.Tensor] = {}
        for done, batch in enumerate(self.train_loader, start=1):
            loss, logs = self._train_step(move_to(batch, self.device))
            for name, value in {"loss": loss, **logs}.items():
                value = torch.as_tensor(value, device=self.device).detach().float()
                sums[name] = sums.get(name, 0) + value
            if self.step % cfg.log_every == 0:
                status = f"step {self.step} loss {loss.item():.4f}"
                if is_main_process():
                    logger.info("epoch %d %s", self.epoch + 1, status)
            report(self.progress, task, done, total, status)
        means = all_reduce_mean(torch.stack(list(sums.values())) / len(self.train_loader)).tolist()
        result = {f"train_{name}": mean for name, mean in zip(sums, means, strict=True)}
        if not math.isfinite(result["train_loss"]):
            raise SemvisError(
                f"training loss became {result['train_loss']} in epoch {self.epoch + 1}; "
                "lower the learning rate or set grad_clip"
            )
        return {"epoch": self.epoch + 1, "step": self.step, "lr": lr, **result}

    def _train_step(self, batch: Any) -> tuple[torch.Tensor, Mapping[str, Any]]:
        """Forward, backward (with optional AMP and clipping), optimizer, scheduler and EMA."""
        with autocast(self.device, self.precision):
            loss, logs = self.loss_fn(self.model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.step += 1
        return loss.detach(), logs
