import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch.utils.data import DataLoader, Subset

from semvis.colorize import (
    WEIGHTS_FILE,
    SemanticColorizer,
    camvid_colorization,
    colorize_loss,
    colorize_metrics,
    huber_ab_loss,
    load_colorizer,
    train_colorizer,
)


@pytest.mark.data
def test_a_few_adam_steps_on_real_camvid_lower_the_loss(camvid: Path) -> None:
    torch.manual_seed(0)
    data, classes = camvid_colorization(camvid, "train", train=True, resize=72, crop=64)
    batch = next(iter(DataLoader(Subset(data, [0, 1]), batch_size=2)))
    luma, labels, ab = batch
    assert luma.shape == (2, 1, 64, 64) and labels.shape == (2, 64, 64) and ab.shape == (2, 2, 64, 64)
    model = SemanticColorizer(classes)  # the seed's full width
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999))
    losses = []
    for _ in range(3):
        loss, logs = colorize_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        assert torch.isfinite(logs["ab_psnr"])
    with torch.no_grad():
        losses.append(colorize_loss(model, batch)[0].item())
    assert losses[-1] < losses[0]


@pytest.mark.data
def test_train_colorizer_writes_loadable_fp16_weights(camvid: Path, tmp_path: Path) -> None:
    root = tmp_path / "camvid"
    root.mkdir()
    (root / "classes.json").write_text((camvid / "classes.json").read_text())
    for split in ("train", "val"):
        for kind, suffix in (("images", ".jpg"), ("labels", ".png")):
            (root / split / kind).mkdir(parents=True)
            for stem in sorted(p.stem for p in (camvid / split / "images").iterdir())[:2]:
                (root / split / kind / f"{stem}{suffix}").symlink_to(camvid / split / kind / f"{stem}{suffix}")
    out = tmp_path / "run"
    results = train_colorizer(root, out, epochs=1, batch_size=2, crop=32, resize=40, width=4, semantic="embedding")
    assert {"train_loss", "val_loss", "val_ab_psnr"} <= set(results)
    assert (out / "metrics.csv").is_file()
    with safe_open(str(out / WEIGHTS_FILE), framework="pt") as handle:
        config = json.loads(handle.metadata()["semvis"])["config"]
        assert handle.get_tensor("to_ab.weight").dtype == torch.float16
    assert config == {
        "num_classes": 11,
        "width": 4,
        "instance_norm": True,
        "semantic": "embedding",
        "head": "regression",
        "class_prior": False,
        "temperature": 0.38,
    }
    model = load_colorizer(out / WEIGHTS_FILE)
    val, _ = camvid_colorization(root, "val", train=False, resize=40, crop=32)
    with torch.no_grad():
        metrics = colorize_metrics(model, DataLoader(val, batch_size=2))
    assert metrics["loss"] == pytest.approx(results["val_loss"], rel=1e-2)


def toy_batch(n: int = 4, size: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noise luma; a random square of label 1 on label 0; label 0 → red-ish ab, 1 → blue-ish."""
    g = torch.Generator().manual_seed(0)
    labels = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        top, left = torch.randint(0, size // 2, (2,), generator=g).tolist()
        labels[i, top : top + size // 2, left : left + size // 2] = 1
    luma = torch.rand(n, 1, size, size, generator=g) * 0.4 - 0.2
    colours = torch.tensor([[0.5, 0.3], [0.1, -0.5]])
    return luma, labels, colours[labels].permute(0, 3, 1, 2)


def test_learns_a_two_label_toy_colouring() -> None:
    torch.manual_seed(0)
    luma, labels, ab = toy_batch()
    model = SemanticColorizer(num_classes=2, width=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(60):
        loss = huber_ab_loss(model(luma, labels), ab)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        pred = model(luma, labels)
    within = (pred - ab).abs().amax(dim=1) < 0.1  # 11 Lab units on a and b
    assert within.float().mean() > 0.9
    for label, colour in enumerate(([0.5, 0.3], [0.1, -0.5])):
        mean = pred.permute(0, 2, 3, 1)[labels == label].mean(dim=0)
        assert torch.allclose(mean, torch.tensor(colour), atol=0.05)


def photo_folder(folder: Path, n: int = 3) -> Path:
    """Colour photos: a red left half and a blue right half, 40×48."""
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):
        photo = torch.zeros(40, 48, 3, dtype=torch.uint8)
        photo[:, :24] = torch.tensor([200, 40, 30])
        photo[:, 24:] = torch.tensor([30, 60, 200])
        Image.fromarray(photo.numpy()).save(folder / f"{i}.png")
    return folder


def test_train_on_a_photo_folder_under_predicted_maps(tmp_path: Path) -> None:
    calls = []

    def halves(rgb: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return (rgb[2] > rgb[0]).long()  # bluer than red → class 1

    photos = photo_folder(tmp_path / "photos")
    out = tmp_path / "run"
    results = train_colorizer(
        None, out, epochs=2, batch_size=3, crop=32, resize=40, width=4, photos=photos, segmenter=(halves, 2)
    )
    assert "train_loss" in results and "val_loss" not in results  # no CamVid root: no validation
    assert len(calls) == 3  # each photo's map predicted once over two epochs
    assert load_colorizer(out / WEIGHTS_FILE).config["num_classes"] == 2
    with pytest.raises(ValueError, match="needs a segmenter"):
        train_colorizer(None, tmp_path / "x", epochs=1, photos=photos)
    with pytest.raises(ValueError, match="give data_root"):
        train_colorizer(None, tmp_path / "y", epochs=1)
