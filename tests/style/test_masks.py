"""Region masks and guided Gram matrices (Gatys et al. 2017, spatial control)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.errors import ImageError
from semvis.style.losses import gram_matrix, layer_style_loss
from semvis.style.masks import load_region_masks, masked_layer_style_loss, resize_mask_to


def save_labels(path: Path, labels: np.ndarray, palette: bool = False) -> Path:
    img = Image.fromarray(labels.astype(np.uint8))
    if palette:
        img = img.convert("P")
        img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
        img.putdata(labels.flatten().tolist())
    img.save(path)
    return path


def test_load_region_masks_one_hot_from_index_image(tmp_path: Path) -> None:
    labels = np.array([[0, 1, 2, 2], [0, 1, 1, 2]])
    masks = load_region_masks(save_labels(tmp_path / "m.png", labels), (4, 2), 3)
    assert masks.shape == (3, 2, 4) and masks.dtype == torch.float32
    torch.testing.assert_close(masks.argmax(0), torch.from_numpy(labels).long())
    torch.testing.assert_close(masks.sum(0), torch.ones(2, 4))


def test_load_region_masks_palette_indices_are_labels(tmp_path: Path) -> None:
    labels = np.array([[2, 0], [1, 2]])
    path = save_labels(tmp_path / "p.png", labels, palette=True)
    assert Image.open(path).mode == "P"
    torch.testing.assert_close(load_region_masks(path, (2, 2), 3).argmax(0), torch.from_numpy(labels).long())


def test_load_region_masks_resizes_nearest(tmp_path: Path) -> None:
    labels = np.zeros((4, 4), dtype=np.uint8)
    labels[:, 2:] = 1
    masks = load_region_masks(save_labels(tmp_path / "m.png", labels), (8, 2), 2)
    assert masks.shape == (2, 2, 8)
    expected = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]).expand(2, 8)
    torch.testing.assert_close(masks[1], expected.float())
    assert set(masks.unique().tolist()) == {0.0, 1.0}


def test_load_region_masks_black_and_white_for_two_regions(tmp_path: Path) -> None:
    labels = np.array([[0, 255], [255, 0]])
    path = save_labels(tmp_path / "bw.png", labels)
    torch.testing.assert_close(load_region_masks(path, (2, 2), 2)[1], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(ImageError, match=r"bw\.png.*value 255.*3 regions"):
        load_region_masks(path, (2, 2), 3)


def test_load_region_masks_errors_name_the_file(tmp_path: Path) -> None:
    path = save_labels(tmp_path / "many.png", np.array([[0, 1], [2, 3]]))
    with pytest.raises(ImageError, match=r"many\.png.*value 3"):
        load_region_masks(path, (2, 2), 3)
    rgb = tmp_path / "rgb.png"
    Image.new("RGB", (2, 2)).save(rgb)
    with pytest.raises(ImageError, match=r"rgb\.png.*mode L or P"):
        load_region_masks(rgb, (2, 2), 2)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ImageError, match=r"broken\.png"):
        load_region_masks(broken, (2, 2), 2)
    with pytest.raises(ValueError, match="at least 1"):
        load_region_masks(path, (2, 2), 0)


def test_resize_mask_to_area_averages_and_keeps_partition() -> None:
    masks = torch.zeros(2, 4, 4)
    masks[0, :, :1] = 1  # region 0: first column
    masks[1] = 1 - masks[0]
    small = resize_mask_to(masks, torch.zeros(1, 8, 2, 2))
    torch.testing.assert_close(small[0], torch.tensor([[0.5, 0.0], [0.5, 0.0]]))
    torch.testing.assert_close(small.sum(0), torch.ones(2, 2))
    with pytest.raises(ValueError, match="R×H×W"):
        resize_mask_to(masks[0], torch.zeros(1, 8, 2, 2))


def test_single_full_region_equals_layer_style_loss() -> None:
    features = torch.rand(1, 5, 6, 7)
    target = gram_matrix(torch.rand(1, 5, 6, 7))
    loss = masked_layer_style_loss(features, torch.ones(1, 6, 7), [target])
    torch.testing.assert_close(loss, layer_style_loss(features, target))


def test_two_regions_by_hand() -> None:
    # N = 1 feature map of 1×3: values (1, 2, 3); region 0 = first pixel, region 1 = the other two
    features = torch.tensor([[[[1.0, 2.0, 3.0]]]])
    masks = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 1.0]]])
    targets = [torch.tensor([[[2.0]]]), torch.tensor([[[10.0]]])]
    # region 0: G = 1, (1 − 2)² / (4·1·1²) = 0.25; region 1: G = 4 + 9 = 13, (13 − 10)² / (4·1·2²) = 9/16
    loss = masked_layer_style_loss(features, masks, targets)
    assert loss.item() == pytest.approx(0.25 + 9 / 16)


def test_zero_area_region_adds_nothing() -> None:
    features = torch.rand(1, 3, 4, 4)
    target = gram_matrix(torch.rand(1, 3, 4, 4))
    masks = torch.stack([torch.ones(4, 4), torch.zeros(4, 4)])
    huge = torch.full((1, 3, 3), 1e6)
    torch.testing.assert_close(
        masked_layer_style_loss(features, masks, [target, huge]), layer_style_loss(features, target)
    )
    assert masked_layer_style_loss(features, torch.zeros(1, 4, 4), [huge]).item() == 0


def test_gradient_in_each_region_comes_only_from_its_term() -> None:
    features = torch.rand(1, 4, 6, 6, requires_grad=True)
    masks = torch.zeros(2, 6, 6)
    masks[0, :, :2] = 1
    masks[1] = 1 - masks[0]
    targets = [gram_matrix(torch.rand(1, 4, 6, 2)), gram_matrix(torch.rand(1, 4, 6, 4))]
    (grad,) = torch.autograd.grad(masked_layer_style_loss(features, masks, targets), features)
    for mask, target in zip(masks, targets):
        term = layer_style_loss(features * mask, target, size=int(mask.sum()))
        (grad_term,) = torch.autograd.grad(term, features)
        inside = mask.bool().expand_as(grad)
        assert (grad_term[~inside] == 0).all()
        torch.testing.assert_close(grad[inside], grad_term[inside])
        assert grad_term[inside].abs().sum() > 0


def test_masked_loss_rejects_mismatches() -> None:
    features = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match="feature resolution"):
        masked_layer_style_loss(features, torch.ones(1, 2, 2), [torch.zeros(1, 3, 3)])
    with pytest.raises(ValueError, match="2 region masks but 1 target"):
        masked_layer_style_loss(features, torch.ones(2, 4, 4), [torch.zeros(1, 3, 3)])
