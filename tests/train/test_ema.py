"""ModelEMA against hand-computed averages."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from semvis.train import ModelEMA


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))


def _set(model: nn.Module, value: float) -> None:
    """Fill every float parameter/buffer with ``value``; bump BN's batch counter."""
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.fill_(value)
            else:
                tensor.add_(1)


def test_two_updates_match_hand_computation():
    decay = 0.9
    model = _model()
    _set(model, 1.0)
    ema = ModelEMA(model, decay, updates=10**6)  # past the warm-up: the decay is 0.9
    _set(model, 3.0)
    ema.update(model)
    _set(model, -2.0)
    ema.update(model)
    expected = decay * (decay * 1.0 + (1 - decay) * 3.0) + (1 - decay) * -2.0  # 1.01
    for name, tensor in ema.state_dict().items():
        if tensor.is_floating_point():  # weights, biases, running mean and var
            torch.testing.assert_close(tensor, torch.full_like(tensor, expected), msg=name)
    assert ema.module[1].num_batches_tracked.item() == model[1].num_batches_tracked.item() == 3


def test_module_is_a_frozen_eval_copy_and_state_round_trips():
    model = _model()
    ema = ModelEMA(model, 0.5)
    assert not ema.module.training
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert ema.module[0].weight.data_ptr() != model[0].weight.data_ptr()
    _set(model, 4.0)
    ema.update(model)
    other = ModelEMA(_model(), 0.5)
    other.load_state_dict(ema.state_dict())
    for a, b in zip(ema.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_warm_up_decay_follows_tensorflow_num_updates():
    model = _model()
    _set(model, 1.0)
    ema = ModelEMA(model, 0.9999)
    assert ema.current_decay == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    _set(model, 3.0)
    ema.update(model)
    assert ema.updates == 1 and ema.module[0].weight[0, 0].item() == pytest.approx(0.1 * 1.0 + 0.9 * 3.0)
    assert ema.current_decay == pytest.approx(2 / 11)
    ema.updates = 10**7
    assert ema.current_decay == 0.9999


def test_a_short_runs_average_is_near_the_trained_weights():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    start = model.weight.detach().clone()
    ema = ModelEMA(model, 0.9999)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    for _ in range(300):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        ema.update(model)
    trained = model.weight.detach()
    distance = (ema.module.weight - trained).norm() / (start - trained).norm()
    assert distance < 0.05  # without the warm-up it is 0.97: the average would still be the initialisation


def test_invalid_decay():
    with pytest.raises(ValueError, match="decay"):
        ModelEMA(_model(), 1.0)
