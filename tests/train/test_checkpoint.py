"""Atomic checkpoint writes, clear errors, and finding the latest checkpoint."""

from __future__ import annotations

import pytest
import torch

from semvis.errors import SemvisError
from semvis.train import (
    CheckpointError,
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)


def test_round_trip_with_weights_only(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    state = {
        "epoch": 3,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "config": {"lr": 0.1},
    }
    path = tmp_path / "sub" / "ckpt.pt"
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and loaded["config"] == {"lr": 0.1}
    assert torch.equal(loaded["model"]["weight"], model.weight.detach())
    torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9).load_state_dict(loaded["optimizer"])


def test_failed_write_keeps_previous_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"value": torch.tensor([1.0])})

    def half_write(obj, target, *args, **kwargs):
        with open(target, "wb") as handle:
            handle.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", half_write)
    with pytest.raises(CheckpointError, match=r"could not write checkpoint .*ckpt\.pt: disk full"):
        save_checkpoint(path, {"value": torch.tensor([2.0])})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]
    assert torch.equal(load_checkpoint(path)["value"], torch.tensor([1.0]))


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", "truncated"])
def test_corrupt_file_error_names_the_file(tmp_path, content):
    path = tmp_path / "bad.pt"
    if content == "truncated":
        save_checkpoint(path, {"value": torch.zeros(100)})
        content = path.read_bytes()[:200]
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"checkpoint .*bad\.pt is corrupt") as info:
        load_checkpoint(path)
    assert isinstance(info.value, SemvisError)


def test_missing_and_non_dict_files(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*missing\.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save(torch.zeros(2), tmp_path / "tensor.pt")
    with pytest.raises(CheckpointError, match=r"tensor\.pt does not hold a dict"):
        load_checkpoint(tmp_path / "tensor.pt")


def test_latest_checkpoint_picks_highest_epoch(tmp_path):
    assert latest_checkpoint(tmp_path / "absent") is None
    assert latest_checkpoint(tmp_path) is None
    for epoch in (2, 10, 9):
        save_checkpoint(checkpoint_path(tmp_path, epoch), {"epoch": epoch})
    (tmp_path / ".checkpoint-epoch0099.pt.abc.tmp").write_bytes(b"partial")
    (tmp_path / "notes.pt").write_bytes(b"")
    assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 10)
