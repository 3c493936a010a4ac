"""TrainConfig validation, optimizer/scheduler factories and the Xception recipes."""

from __future__ import annotations

import itertools

import pytest
import torch

from semvis.errors import SemvisError
from semvis.train import (
    TrainConfig,
    TrainConfigError,
    build_optimizer,
    build_scheduler,
    xception_rmsprop,
    xception_sgd,
)


def _lrs_per_epoch(cfg: TrainConfig, epochs: int, steps_per_epoch: int) -> list[list[float]]:
    """The lr used by every optimizer step, grouped by epoch."""
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
    lrs = []
    for _ in range(epochs):
        epoch = []
        for _ in range(steps_per_epoch):
            epoch.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        lrs.append(epoch)
    return lrs


def test_xception_sgd_matches_paper_section_4_3():
    cfg = xception_sgd()
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.nesterov) == ("sgd", 0.045, 0.9, False)
    assert (cfg.scheduler, cfg.step_size, cfg.gamma) == ("step", 2.0, 0.94)
    assert cfg.weight_decay == 1e-5
    assert cfg.ema_decay is not None
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.defaults["momentum"] == 0.9 and optimizer.defaults["weight_decay"] == 1e-5


def test_xception_rmsprop_decays_every_three_million_samples():
    cfg = xception_rmsprop()
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.gamma) == ("rmsprop", 0.001, 0.9, 0.9)
    assert cfg.step_size == pytest.approx(3_000_000 / 1_281_167)
    # 30,000 samples per "epoch" in batches of 1,000: decay every 100 epochs = 3,000 steps.
    small = xception_rmsprop(samples_per_epoch=30_000, batch_size=1000)
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], small)
    assert isinstance(optimizer, torch.optim.RMSprop) and optimizer.defaults["momentum"] == 0.9
    assert build_scheduler(optimizer, small, steps_per_epoch=30).step_size == 3000


def test_step_scheduler_gives_recipe_lr_at_each_epoch():
    lrs = _lrs_per_epoch(xception_sgd(), epochs=7, steps_per_epoch=3)
    for epoch, epoch_lrs in enumerate(lrs):
        assert epoch_lrs == pytest.approx([0.045 * 0.94 ** (epoch // 2)] * 3, rel=1e-12)


@pytest.mark.parametrize("name", ["exponential", "cosine", "poly", "none"])
def test_other_schedulers_start_at_lr_and_never_increase(name):
    cfg = TrainConfig(scheduler=name, epochs=4, gamma=0.5)
    lrs = [lr for epoch in _lrs_per_epoch(cfg, epochs=4, steps_per_epoch=5) for lr in epoch]
    assert lrs[0] == pytest.approx(0.01)
    assert all(b <= a + 1e-15 for a, b in itertools.pairwise(lrs))
    if name == "exponential":
        assert lrs[5] == pytest.approx(0.005)  # gamma per epoch, applied per step


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("sgd", torch.optim.SGD),
        ("RMSprop", torch.optim.RMSprop),
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
    ],
)
def test_build_optimizer_names(name, cls):
    cfg = TrainConfig(optimizer=name, weight_decay=1e-4, optimizer_kwargs={"foreach": False})
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)
    assert isinstance(optimizer, cls)
    assert optimizer.defaults["weight_decay"] == 1e-4 and optimizer.defaults["foreach"] is False


def test_unknown_optimizer_is_a_clear_error():
    with pytest.raises(TrainConfigError, match=r"unknown optimizer 'adagrad'.*'adamw'.*'sgd'") as info:
        TrainConfig(optimizer="adagrad")
    assert isinstance(info.value, SemvisError)
    cfg = TrainConfig()
    cfg.optimizer = "lbfgs"
    with pytest.raises(TrainConfigError, match="unknown optimizer 'lbfgs'"):
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scheduler": "cyclic"}, "unknown scheduler 'cyclic'"),
        ({"epochs": 0}, "epochs must be > 0"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"grad_clip": 0.0}, "grad_clip"),
        ({"precision": "fp8"}, "precision must be one of fp32, bf16, fp16, got 'fp8'"),
        ({"amp": True, "precision": "bf16"}, "amp chooses the precision itself"),
    ],
)
def test_invalid_settings_are_rejected(kwargs, match):
    with pytest.raises(TrainConfigError, match=match):
        TrainConfig(**kwargs)


def test_to_dict_is_plain_data(tmp_path):
    cfg = xception_sgd(out_dir=tmp_path)
    torch.save(cfg.to_dict(), tmp_path / "cfg.pt")
    loaded = torch.load(tmp_path / "cfg.pt", weights_only=True)
    assert loaded["out_dir"] == str(tmp_path) and TrainConfig(**loaded) == cfg


def test_amp_means_fp16_on_cuda_and_bf16_elsewhere():
    cfg = TrainConfig(amp=True)
    assert cfg.precision_on(torch.device("cuda", 0)) == "fp16"
    assert cfg.precision_on(torch.device("cpu")) == cfg.precision_on(torch.device("mps", 0)) == "bf16"
    assert TrainConfig(precision="bf16").precision_on(torch.device("cuda", 0)) == "bf16"


def test_a_device_is_kept_by_name(tmp_path):
    cfg = TrainConfig(device=torch.device("cpu"), out_dir=tmp_path)
    assert cfg.device == "cpu" and TrainConfig().device == "auto"
    torch.save(cfg.to_dict(), tmp_path / "cfg.pt")
    assert torch.load(tmp_path / "cfg.pt", weights_only=True)["device"] == "cpu"
