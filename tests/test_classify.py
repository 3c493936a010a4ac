"""Classification training: the RMSprop schedule on a small folder, top-5, ablation switches saved with the weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from semvis.classify import load_classifier, train_classifier
from semvis.train import classification_metrics, latest_checkpoint, load_checkpoint


def colour_folders(root: Path, per_class: int = 4, size: int = 40) -> Path:
    for name, colour in (("blue", (20, 20, 220)), ("red", (220, 20, 20))):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (size, size), tuple(max(0, c - 12 * i) for c in colour)).save(root / name / f"{i}.png")
    return root


def test_top5_counts_a_label_among_the_five_highest_logits() -> None:
    logits = torch.tensor([[0.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0], [9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
    labels = torch.tensor([3, 1])  # third highest (top-5 only); tied last (neither)

    class Fixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.anchor = nn.Parameter(torch.zeros(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return logits[x.long()] + self.anchor

    metrics = classification_metrics(Fixed(), DataLoader(TensorDataset(torch.arange(2), labels), batch_size=2))
    assert metrics["acc"] == 0.0 and metrics["top5"] == 0.5


@pytest.mark.slow
def test_rmsprop_decays_every_three_million_samples_of_this_training_set(tmp_path: Path) -> None:
    data = colour_folders(tmp_path / "data", per_class=5)
    out = tmp_path / "run"
    train_classifier("vgg16", data, out, recipe="rmsprop", val_fraction=0.2, size=32, epochs=1, batch_size=4)
    config = load_checkpoint(latest_checkpoint(out))["config"]
    assert config["step_size"] == pytest.approx(3_000_000 / 8)  # 8 training images per epoch, not ImageNet's 1.28M


@pytest.mark.slow
def test_ablation_switches_travel_with_the_trained_weights(tmp_path: Path) -> None:
    data = colour_folders(tmp_path / "data", per_class=2, size=80)
    out = tmp_path / "run"
    options = {"residual": False, "intermediate_activation": "elu"}
    train_classifier("xception", data, out, val_fraction=0, size=71, epochs=1, batch_size=4, model_options=options)
    model = load_classifier("vgg19", out / "model.safetensors", 1000)  # the file's own architecture wins
    assert model.arch == "xception" and not model.residual and model.num_classes == 2
    assert model.head_source == str(out / "model.safetensors")
    assert isinstance(model.stages["middle1"].units[0].conv.intermediate, nn.ELU)


def test_ablation_switches_are_refused_for_another_architecture(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    from helpers import run_cli

    data = colour_folders(tmp_path / "data")
    code, _, err = run_cli(capsys, "train", "classify", "--arch", "vgg16", "--data", str(data), "--no-residual")
    assert code == 2 and "residual: Xception ablations; --arch vgg16 has no such switch" in err
