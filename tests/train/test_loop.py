"""Trainer: learning, metrics.csv, options, and exact resume after an interruption."""

from __future__ import annotations

import csv

import pytest
import torch

from semvis.errors import DeviceError
from semvis.progress import ProgressUpdate
from semvis.train import (
    DistInfo,
    TrainConfig,
    TrainConfigError,
    Trainer,
    classification_loss,
    classification_metrics,
    latest_checkpoint,
    load_checkpoint,
    loop,
    seed_everything,
)
from semvis.train.selftest import synthetic_classification, tiny_convnet


class Interrupted(Exception):
    """Stands in for a crash or a killed job."""


def _trainer(out_dir, loss_fn=classification_loss, model_seed=0, **overrides) -> Trainer:
    """A small classification run (4 steps per epoch) with its model seeded by ``model_seed``."""
    settings = {
        "epochs": 4,
        "batch_size": 16,
        "lr": 0.1,
        "scheduler": "step",
        "step_size": 1.0,
        "gamma": 0.8,
        "ema_decay": 0.9,
        "log_every": 2,
        "out_dir": out_dir,
    }
    seed_everything(model_seed)
    return Trainer(
        tiny_convnet(),
        loss_fn,
        synthetic_classification(64),
        TrainConfig(**(settings | overrides)),
        val_data=synthetic_classification(32, seed=1),
        metrics=classification_metrics,
    )


def _read_csv(path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_loss_decreases_and_csv_is_written(tmp_path):
    trainer = _trainer(tmp_path)
    result = trainer.fit()
    header, rows = _read_csv(tmp_path / "metrics.csv")
    assert header == ["epoch", "step", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [int(r["step"]) for r in rows] == [4, 8, 12, 16]
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.1 * 0.8**e for e in range(4)])
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < 0.5 * losses[0]
    assert result["val_acc"] >= 0.9 and result["epoch"] == 4
    assert latest_checkpoint(tmp_path).name == "checkpoint-epoch0004.pt"


def test_evaluation_uses_the_ema_weights(tmp_path):
    trainer = _trainer(tmp_path, epochs=1, ema_decay=0.99)
    trainer.fit()
    assert trainer.evaluate() == pytest.approx(classification_metrics(trainer.ema.module, trainer.val_loader))
    raw = trainer.model.eval()
    with torch.no_grad():
        assert trainer.evaluate() != pytest.approx(classification_metrics(raw, trainer.val_loader))


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    reference = _trainer(tmp_path / "reference")
    reference.fit()

    calls = 0

    def crashing_loss(model, batch):
        nonlocal calls
        calls += 1
        if calls == 10:  # second step of the third epoch (4 steps per epoch)
            raise Interrupted
        return classification_loss(model, batch)

    with pytest.raises(Interrupted):
        _trainer(tmp_path / "run", loss_fn=crashing_loss).fit()
    assert load_checkpoint(latest_checkpoint(tmp_path / "run"))["epoch"] == 2

    resumed = _trainer(tmp_path / "run", model_seed=123, resume=True)
    resumed.fit()
    for trained, ref in [
        (resumed.model, reference.model),
        (resumed.ema.module, reference.ema.module),
    ]:
        for (name, a), b in zip(trained.state_dict().items(), ref.state_dict().values(), strict=True):
            assert torch.equal(a, b), name
    _, rows = _read_csv(tmp_path / "run" / "metrics.csv")
    _, ref_rows = _read_csv(tmp_path / "reference" / "metrics.csv")
    assert rows == ref_rows


def test_fresh_run_refuses_to_mix_with_existing_checkpoints(tmp_path):
    _trainer(tmp_path, epochs=1).fit()
    with pytest.raises(TrainConfigError, match=r"already holds checkpoints.*resume=True"):
        _trainer(tmp_path, epochs=1).fit()


def test_optimizer_and_clipping_options_train(tmp_path):
    trainer = _trainer(
        tmp_path,
        epochs=2,
        optimizer="adamw",
        lr=0.01,
        scheduler="cosine",
        ema_decay=None,
        grad_clip=1.0,
        amp=True,
        checkpoint_every=5,
    )
    result = trainer.fit()
    assert trainer.ema is None and result["epoch"] == 2
    assert [p.name for p in tmp_path.glob("checkpoint-*.pt")] == ["checkpoint-epoch0002.pt"]
    assert load_checkpoint(tmp_path / "checkpoint-epoch0002.pt")["ema"] is None


def test_val_data_without_metrics_is_rejected(tmp_path):
    with pytest.raises(TrainConfigError, match="together"):
        Trainer(
            tiny_convnet(),
            classification_loss,
            synthetic_classification(8),
            TrainConfig(),
            val_data=synthetic_classification(8),
        )


def test_bf16_precision_runs_the_loss_under_autocast_and_scales_no_loss(tmp_path):
    dtypes = []

    def recording_loss(model, batch):
        loss, logs = classification_loss(model, batch)
        dtypes.append(model(batch[0]).dtype)
        return loss, logs

    trainer = _trainer(tmp_path, recording_loss, epochs=1, precision="bf16")
    trainer.fit()
    assert set(dtypes) == {torch.bfloat16} and not trainer.scaler.is_enabled()
    _trainer(tmp_path / "fp32", recording_loss, epochs=1).fit()
    assert dtypes[-1] == torch.float32


def test_fp16_off_cuda_and_an_absent_device_are_refused(tmp_path, monkeypatch):
    with pytest.raises(DeviceError, match="fp16 needs a CUDA device, not cpu"):
        _trainer(tmp_path, precision="fp16", device="cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="cuda requested"):
        _trainer(tmp_path, device="cuda")


def test_the_device_argument_overrides_the_config(tmp_path, monkeypatch):
    asked = []
    cpu = DistInfo(0, 1, 0, torch.device("cpu"))
    monkeypatch.setattr(loop, "init_distributed", lambda device: asked.append(device) or cpu)
    seed_everything(0)
    Trainer(tiny_convnet(), classification_loss, synthetic_classification(8), TrainConfig(device="mps"))
    Trainer(tiny_convnet(), classification_loss, synthetic_classification(8), TrainConfig(), device="cpu")
    assert asked == ["mps", "cpu"]


def test_progress_reports_each_epochs_steps(tmp_path):
    updates: list[ProgressUpdate] = []
    trainer = _trainer(tmp_path, epochs=2)
    trainer.progress = updates.append
    trainer.fit()
    assert [(u.task, u.done, u.total) for u in updates] == [
        (f"epoch {e}/2", done, 4) for e in (1, 2) for done in range(5)
    ]
    assert updates[2].status == "step 2 loss " + updates[2].status.split()[-1]
