"""Two-process DDP training through torchrun (gloo, CPU): a synthetic task and a real semvis recipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from helpers import write_toy_segmentation
from safetensors.torch import load_file

from semvis.segment.frozen import PSPHead, backbone_features
from semvis.segment.train import training_split
from semvis.train.selftest import selftest_pspnet, tiny_convnet

SRC = Path(__file__).resolve().parents[2] / "src"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (dist.is_available() and dist.is_gloo_available()), reason="torch.distributed gloo backend unavailable"
    ),
]


def torchrun_selftest(out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``torchrun --nproc_per_node=2 -m semvis.train.selftest --out OUT …`` on the CPU; fails the test on error."""
    env = os.environ | {
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"),
        *("-m", "semvis.train.selftest", "--out", str(out), *options),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def assert_trained_alike(out: Path, names: list[str]) -> None:
    """Both ranks end with the same parameters ``names``, and every one of them moved."""

    def load(name: str) -> dict[str, torch.Tensor]:
        return torch.load(out / name, weights_only=True)

    initial, rank0, rank1 = load("initial-rank0.pt"), load("final-rank0.pt"), load("final-rank1.pt")
    assert not all(torch.equal(initial[name], load("initial-rank1.pt")[name]) for name in names)
    for name in names:
        assert torch.equal(rank0[name], rank1[name]), name
    assert all(not torch.equal(rank0[name], initial[name]) for name in names)


def test_two_ranks_end_with_identical_trained_parameters(tmp_path):
    torchrun_selftest(tmp_path)
    # BatchNorm running statistics are per-rank under DDP; the parameters must agree.
    assert_trained_alike(tmp_path, [name for name, _ in tiny_convnet().named_parameters()])
    assert (tmp_path / "run" / "checkpoint-epoch0002.pt").is_file()


def test_the_frozen_segmenter_recipe_trains_alike_on_two_ranks_from_one_sharded_cache(tmp_path):
    data = write_toy_segmentation(tmp_path / "toy")
    done = torchrun_selftest(tmp_path / "out", "--frozen-segmenter", str(data))
    train_set, labels = training_split(data)
    model = selftest_pspnet(len(labels.classes))
    assert_trained_alike(tmp_path / "out", [name for name, _ in PSPHead(model).named_parameters()])
    # the cache joins both ranks' shards in dataset order: the features one process computes
    cache = load_file(str(tmp_path / "out" / "features.safetensors"))
    with torch.inference_mode():
        expected = torch.cat([backbone_features(model, image[None]) for image, _ in train_set])
    torch.testing.assert_close(cache["features"].float(), expected.half().float(), rtol=1e-2, atol=1e-3)
    assert cache["labels"].shape[0] == len(train_set) == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if "shard" in p.name) == []
    # each rank trained on its half of the 4 cached maps: one step of batch 2 per epoch, not two
    assert "epoch 1 step 1 loss" in done.stderr + done.stdout and "epoch 1 step 2 loss" not in done.stderr
    assert (tmp_path / "out" / "run" / "model.safetensors").is_file()
