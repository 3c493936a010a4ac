import pytest
import torch
from helpers import needs_weights
from torch.utils.data import default_collate

from semvis.backbones import CAFFE_BGR
from semvis.data import RandomScaleCropFlip, SegmentationDataset
from semvis.segment import GridNet, PSPNet, load_segmenter, segmentation_loss, train_segmenter
from semvis.segment.train import RECIPES, PairTransform, cross_entropy
from semvis.train import TrainConfig, TrainConfigError, build_optimizer


def toy_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Gray images with a brighter box on noise; the box is class 1."""
    images = 0.35 * torch.rand(n, 1, 24, 24, generator=generator)
    labels = torch.zeros(n, 24, 24, dtype=torch.int64)
    for i in range(n):
        top, left = torch.randint(0, 12, (2,), generator=generator).tolist()
        images[i, :, top : top + 10, left : left + 10] += 0.5
        labels[i, top : top + 10, left : left + 10] = 1
    return images, labels


def test_a_small_gridnet_overfits_a_two_class_toy_map() -> None:
    torch.manual_seed(0)
    images, labels = toy_batch(8, torch.Generator().manual_seed(0))
    model = GridNet(2, depths=(4, 8, 8), columns=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(40):
        loss, _ = segmentation_loss(model, (images, labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (model.eval()(images).argmax(1) == labels).float().mean().item()
    assert accuracy > 0.9


def test_pspnet_loss_adds_the_weighted_auxiliary_term() -> None:
    torch.manual_seed(0)
    model = PSPNet(2)
    images, labels = toy_batch(2, torch.Generator().manual_seed(1))
    labels[:, 0] = 255
    loss, logs = segmentation_loss(model, (images.repeat(1, 3, 1, 1), labels), ignore_index=255, aux_weight=0.4)
    torch.testing.assert_close(loss, logs["ce"] + 0.4 * logs["aux"])
    plain, logs = segmentation_loss(model, (images.repeat(1, 3, 1, 1), labels), aux_weight=0.0)
    assert "aux" not in logs and torch.isfinite(plain)


def test_a_crop_with_no_labelled_pixel_gives_zero_loss_not_nan() -> None:
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = cross_entropy(logits, torch.full((1, 4, 4), 11), ignore_index=11)
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


@pytest.mark.data
def test_gridnet_loss_decreases_on_real_camvid_crops(camvid_subset) -> None:
    torch.manual_seed(0)
    augment = RandomScaleCropFlip(48, ignore_index=11, generator=torch.Generator().manual_seed(0))
    dataset = SegmentationDataset(camvid_subset, "train", PairTransform(1, augment))
    images, labels = default_collate([dataset[i] for i in range(4)])
    assert images.shape == (4, 1, 48, 48) and labels.max() <= 11
    model = GridNet(len(dataset.classes))
    optimizer = build_optimizer(model.parameters(), TrainConfig(**RECIPES["gridnet"]))
    losses = []
    for _ in range(3):
        loss, _ = segmentation_loss(model, (images, labels), ignore_index=dataset.ignore_index)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


@needs_weights
def test_train_pspnet_saves_ema_weights_that_load_with_their_input_convention(toy_root, tmp_path) -> None:
    out = tmp_path / "run"
    row = train_segmenter(
        "pspnet-vgg19", toy_root, out, epochs=1, batch_size=2, crop=32, gray=True, ema_decay=0.5, log_every=1
    )
    assert row["epoch"] == 1 and "train_aux" in row and "val_miou" in row
    model, labels = load_segmenter(out / "model.safetensors")
    assert isinstance(model, PSPNet) and model.in_channels == 1 and model.input_spec == CAFFE_BGR
    assert labels.classes == ("ground", "box") and labels.ignore_index == 2
    with pytest.raises(TrainConfigError, match="batches of 2 or more"):
        train_segmenter("pspnet-vgg19", toy_root, tmp_path / "other", batch_size=1)
