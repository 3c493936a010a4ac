"""resolve_device, place and the autocast helper; CUDA and MPS are simulated where this machine lacks them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from semvis.device import autocast, check_precision, model_device, place, resolve_device
from semvis.errors import DeviceError, SemvisError


@pytest.fixture
def no_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


@pytest.mark.parametrize("spec", ["auto", None, "cpu", " CPU ", torch.device("cpu")])
def test_cpu_and_auto_without_an_accelerator(no_accelerator, spec) -> None:
    assert resolve_device(spec) == torch.device("cpu")


def test_auto_prefers_cuda_then_mps(monkeypatch, two_gpus) -> None:
    assert resolve_device("auto") == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device() == torch.device("mps", 0)


def test_cuda_names_get_their_index_and_are_checked_against_the_count(two_gpus) -> None:
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match=r"cuda:2 requested but this machine has 2 CUDA device\(s\)"):
        resolve_device("cuda:2")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cuda", r"cuda requested but torch\.cuda\.is_available\(\) is False on this machine"),
        ("cuda:1", r"cuda:1 requested but torch\.cuda\.is_available\(\) is False"),
        ("mps", r"mps requested but torch\.backends\.mps\.is_available\(\) is False"),
        ("gpu", r"unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps"),
        ("cpu:0", "unknown device 'cpu:0'"),
        ("cuda:x", "unknown device 'cuda:x'"),
        (torch.device("meta"), "unsupported device"),
    ],
)
def test_unknown_or_absent_devices_are_one_clear_error(no_accelerator, spec, message) -> None:
    with pytest.raises(DeviceError, match=message) as caught:
        resolve_device(spec)
    assert isinstance(caught.value, SemvisError)


def test_place_moves_a_model_and_none_leaves_it(monkeypatch) -> None:
    model = nn.Linear(2, 2)
    moved: list[torch.device] = []
    monkeypatch.setattr(nn.Module, "to", lambda self, device: moved.append(device) or self)
    assert place(model, None) == torch.device("cpu") and moved == []
    assert place(model, "cpu") == torch.device("cpu") and moved == [torch.device("cpu")]
    assert model_device(nn.ReLU()) == torch.device("cpu")


def test_place_refuses_an_absent_device_before_touching_the_model(no_accelerator) -> None:
    with pytest.raises(DeviceError, match="cuda requested"):
        place(nn.Linear(2, 2), "cuda")


def test_autocast_fp32_keeps_float32_and_bf16_computes_in_bfloat16() -> None:
    a, b = torch.ones(4, 4), torch.ones(4, 4)
    with autocast("cpu", "fp32"):
        assert (a @ b).dtype == torch.float32
    with autocast(torch.device("cpu"), "bf16"):
        assert (a @ b).dtype == torch.bfloat16


def test_fp16_needs_cuda_and_unknown_precisions_are_refused() -> None:
    with pytest.raises(DeviceError, match="fp16 needs a CUDA device, not cpu"):
        autocast("cpu", "fp16")
    with pytest.raises(DeviceError, match="unknown precision 'fp8'; choose one of fp32, bf16, fp16"):
        check_precision("cpu", "fp8")
    check_precision("cuda", "fp16")
