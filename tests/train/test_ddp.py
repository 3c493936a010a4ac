"""Two-process DDP training through torchrun (gloo, CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from semvis.train.selftest import tiny_convnet

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.slow
@pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed gloo backend unavailable",
)
def test_two_ranks_end_with_identical_trained_parameters(tmp_path):
    env = os.environ | {
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"),
        *("-m", "semvis.train.selftest", "--out", str(tmp_path)),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def load(name: str) -> dict[str, torch.Tensor]:
        return torch.load(tmp_path / name, weights_only=True)

    # BatchNorm running statistics are per-rank under DDP; the parameters must agree.
    names = [name for name, _ in tiny_convnet().named_parameters()]
    initial, rank0, rank1 = load("initial-rank0.pt"), load("final-rank0.pt"), load("final-rank1.pt")
    for name in names:
        assert torch.equal(rank0[name], rank1[name]), name
    assert all(not torch.equal(rank0[name], initial[name]) for name in names)
    assert (tmp_path / "run" / "checkpoint-epoch0002.pt").is_file()
