"""The frozen-trunk training recipe: crops, splits, cached phases, the whole run and its files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import needs_mobilenet_weights, needs_weights, run_cli, write_toy_segmentation
from PIL import Image
from safetensors import safe_open
from torch.utils.data import Dataset

import semvis.hashing.train as hash_train
from semvis.data import SegmentationDataset
from semvis.errors import DataError
from semvis.hashing import ImageEncoder, SemanticHashNet, load_hashnet
from semvis.hashing.train import (
    EndToEnd,
    HashPhase,
    SegmentationPhase,
    SquareCrops,
    cache_split,
    cached_codes,
    hash_loss,
    image_codes,
    pooled_grids,
    pooled_split,
    pyramid_pools,
    retrieval_splits,
    train_hash_loss,
    train_semantic_hashing,
)

COLOURS = {"blue": (30, 60, 220), "green": (40, 200, 50), "red": (220, 40, 30)}


def coloured_classes(root: Path, per_class: int = 6, size: tuple[int, int] = (40, 30)) -> Path:
    """A folder of class folders: noisy images of one colour per class."""
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 25, (size[1], size[0], 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i:02d}.png")
    return root


class _Encoded(Dataset):
    """One photo whose pixel values encode their column (landscape) or row (portrait)."""

    def __init__(self, w: int, h: int) -> None:
        self.split, self.w, self.h = "train", w, h
        along = torch.arange(max(w, h), dtype=torch.float32)
        grid = along[None, :].expand(h, w) if w >= h else along[:, None].expand(h, w)
        self.image, self.label = (grid / 255).expand(3, h, w).clone(), grid.long()

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image, self.label


@pytest.mark.parametrize(("w", "h", "offsets"), [(8, 6, [0, 2]), (6, 15, [0, 4, 9]), (5, 5, [0])])
def test_square_crops_cover_the_photo_edge_to_edge(tmp_path, w, h, offsets) -> None:
    photo = tmp_path / "p.png"
    Image.new("RGB", (w, h)).save(photo)
    source = _Encoded(w, h)
    source.samples = [(photo, None)]
    side = min(w, h)
    crops = SquareCrops(source, size=side)  # no resizing: the crops are exact windows
    assert len(crops) == len(offsets)
    for (image, label), offset in zip((crops[i] for i in range(len(crops))), offsets, strict=True):
        assert label[0, 0].item() == offset and label.shape == (side, side)
        torch.testing.assert_close(image[0] * 255, label.float())


def test_square_crops_resize_images_smoothly_and_labels_by_nearest(tmp_path) -> None:
    crops = SquareCrops(SegmentationDataset(write_toy_segmentation(tmp_path / "toy"), "train"), size=16)
    assert len(crops) == 2 * 4  # 40×32 photos: two 32-px squares each
    image, label = crops[0]
    assert image.shape == (3, 16, 16) and label.shape == (16, 16)
    assert set(label.unique().tolist()) <= {0, 1, 2}  # nearest neighbour invents no class


def test_a_folder_of_classes_keeps_the_first_images_of_each_class_as_queries(tmp_path) -> None:
    root = coloured_classes(tmp_path / "photos", per_class=4)
    database, query = retrieval_splits(root, queries_per_class=1, size=8)
    assert [p.name for p, _ in query.samples] == ["00.png"] * 3
    assert len(database) == 9 and {p.name for p, _ in database.samples} == {"01.png", "02.png", "03.png"}
    image, label = query[2]
    assert image.shape == (3, 8, 8) and query.classes[label] == "red"
    with pytest.raises(DataError, match="too few images"):
        retrieval_splits(root, queries_per_class=4)


def test_the_caltech_layout_reads_its_lists(tmp_path) -> None:
    root = tmp_path / "caltech"
    coloured_classes(root / "images", per_class=2)
    (root / "database.txt").write_text("red/00.png\nblue/00.png\n")
    (root / "query.txt").write_text("green/01.png\n")
    database, query = retrieval_splits(root, size=8)
    assert len(database) == 2 and len(query) == 1 and query.classes[query[0][1]] == "green"


def test_the_segmentation_phase_is_the_networks_segmentation() -> None:
    model = SemanticHashNet(num_classes=3, num_seg_classes=2, hidden=8, bits=16).eval()
    seg = SegmentationPhase(model, size=32)
    assert seg.psp is model.psp and seg.seg_head is model.seg_head
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(seg(model.trunk(x)[model.feature_layer]), model.segment(x))
    with pytest.raises(ValueError, match="segmentation head"):
        SegmentationPhase(SemanticHashNet(num_classes=3, baseline=True))


@pytest.mark.parametrize(("baseline", "grid"), [(False, 1), (False, 2), (False, 3), (True, 1), (True, 4)])
def test_the_hash_phase_on_pyramid_pools_is_the_network_on_full_maps(baseline, grid) -> None:
    torch.manual_seed(0)
    model = SemanticHashNet(num_classes=3, hidden=16, bits=16, pool_grid=grid, baseline=baseline).eval()
    x = torch.rand(3, 3, 112, 112)  # a 14×14 map: bins of 3 overlap, as at 224 px
    with torch.no_grad():
        maps = model.trunk(x)[model.feature_layer]
        phase = HashPhase(model, maps.shape[-2:])
        r, logits = phase.latent(pyramid_pools(maps, pooled_grids(model)))
        out = model(x)
    assert phase.hash_head is model.hash_head and phase.psp is model.psp
    assert pooled_grids(model) == ((grid,) if baseline else tuple(sorted({1, 2, 3, 4, grid})))
    torch.testing.assert_close(logits, out.logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(r, out.hash_probs, atol=1e-5, rtol=1e-4)


def test_the_hash_phase_trains_the_psp_branches_like_the_network() -> None:
    """One training step on pools gives the PSP branches the gradients the full network gives them."""
    torch.manual_seed(0)
    model = SemanticHashNet(num_classes=3, hidden=16, bits=16, dropout=0.0).train()
    maps = torch.rand(4, 512, 14, 14)
    labels = torch.tensor([0, 1, 2, 0])
    grads = []
    for logits in (
        HashPhase(model, (14, 14))(pyramid_pools(maps, pooled_grids(model))),
        model.hash_head(model.psp(maps))[1],
    ):
        model.zero_grad()
        torch.nn.functional.cross_entropy(logits, labels).backward()
        grads.append(model.psp.branches[2].conv[0].weight.grad.clone())  # the 3×3-bin branch
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-4)


def test_codes_from_the_cache_are_the_networks_codes(tmp_path) -> None:
    torch.manual_seed(0)
    model = SemanticHashNet(num_classes=3, hidden=32, bits=16).eval()
    database, _ = retrieval_splits(coloured_classes(tmp_path / "photos"), queries_per_class=1, size=32)
    split = cache_split(model, database, tmp_path, "db", size=32)
    with torch.no_grad():
        r = model(torch.stack([database[i][0] for i in range(len(database))])).hash_probs
        cached_r = HashPhase(model, split.features.shape[-2:]).latent(pyramid_pools(split.features, (1, 2, 3, 4)))[0]
    torch.testing.assert_close(cached_r, r, atol=2e-3, rtol=0)  # the fp16 cache moves r by little
    sure = ((r - 0.5).abs() > 2e-3).numpy()  # bits that little cannot flip
    cached = np.unpackbits(cached_codes(model, pooled_split(model, split)), axis=1, bitorder="little").astype(bool)
    assert cached.shape == (len(database), 16) and sure.mean() > 0.5
    assert np.array_equal(cached[sure], (r > 0.5).numpy()[sure])


@needs_weights
def test_the_whole_recipe_learns_codes_and_writes_a_head_only_file(tmp_path, monkeypatch) -> None:
    photos = coloured_classes(tmp_path / "photos")
    seg = write_toy_segmentation(tmp_path / "toy")
    kwargs = dict(bits=16, hidden=64, queries_per_class=2, input_size=32, epochs=40, lr=0.05, step_size=100)
    seg_kwargs = {"epochs": 2, "log_every": 1000}
    result = train_semantic_hashing(
        photos, tmp_path / "run", seg, tmp_path / "cache", segmentation_overrides=seg_kwargs, **kwargs
    )
    assert result.scores.map_at[10] > 0.9  # one colour per class: same-class images share codes
    assert 0 <= result.segmentation["val_miou"] <= 1 and result.hashing["epoch"] == 40
    with safe_open(str(result.weights), framework="pt") as handle:
        keys = list(handle.keys())
    assert keys and not any(k.startswith("trunk.") for k in keys) and not any(k.startswith("seg_head") for k in keys)
    assert result.weights.stat().st_size < 2_000_000  # the 10 M-parameter trunk is named, not stored
    loaded = load_hashnet(result.weights)
    assert loaded.config["num_seg_classes"] is None and loaded.psp is not None
    database, _ = retrieval_splits(photos, 2, 32)
    pooled = pooled_split(loaded, cache_split(loaded, database, tmp_path / "cache", "photos-database", 32))
    assert np.array_equal(cached_codes(loaded, pooled), cached_codes(loaded.float(), pooled))

    # a second run reuses phase 1 and every cache
    monkeypatch.setattr(hash_train, "train_segmentation_phase", lambda *a, **k: pytest.fail("phase 1 again"))
    monkeypatch.setattr(hash_train, "trunk_features", lambda *a: pytest.fail("trunk again"))
    again = train_semantic_hashing(
        photos, tmp_path / "run2", seg, tmp_path / "cache", segmentation_overrides=seg_kwargs, **kwargs
    )
    assert again.segmentation == result.segmentation
    assert again.scores.map_at == result.scores.map_at  # same seed, same data: same run


def test_the_cli_asks_for_masks_or_the_baseline(capsys, tmp_path) -> None:
    code, _, err = run_cli(capsys, "train", "hash", "--data", str(tmp_path))
    assert code == 2 and "--segment-data" in err and "--baseline" in err


def test_hash_loss_terms_have_their_known_values() -> None:
    torch.manual_seed(0)
    model = SemanticHashNet(num_classes=3, hidden=8, bits=16, baseline=True, pool_grid=1).eval()
    phase = HashPhase(model, (4, 4))
    pools, labels = torch.randn(6, model.trunk.feature_info[0].channels, 1), torch.tensor([0, 1, 2, 0, 1, 2])
    r, logits = phase.latent(pools)
    plain, logs = hash_loss(phase, (pools, labels))
    torch.testing.assert_close(plain, F.cross_entropy(logits, labels))
    u = 2 * r - 1
    quantized, _ = hash_loss(phase, (pools, labels), quantization=2.0)
    torch.testing.assert_close(quantized - plain, 2.0 * ((u.abs() - 1) ** 2).mean())
    balanced, _ = hash_loss(phase, (pools, labels), balance=3.0)
    torch.testing.assert_close(balanced - plain, 3.0 * (u.mean(0) ** 2).mean())
    assert 0 < logs["saturation"] < 1 and 0 <= logs["acc"] <= 1


def test_fine_tuning_trains_the_last_stages_and_leaves_the_frozen_ones_bn_statistics_included(tmp_path) -> None:
    torch.manual_seed(0)
    model = SemanticHashNet(
        "mobilenet_v2", False, bits=16, num_classes=3, hidden=16, baseline=True, feature_layer="final"
    )
    database, _ = retrieval_splits(coloured_classes(tmp_path / "photos"), queries_per_class=1, size=32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_hash_loss(EndToEnd(model, 2), database, tmp_path / "ft", epochs=2, lr=0.01, batch_size=5, optimizer="adam")
    changed = {
        k.split(".")[3]
        for k, v in model.state_dict().items()
        if k.startswith("trunk.") and not torch.equal(v, before[k])
    }
    assert changed == {"block7", "conv_last"}  # weights and running statistics of the last two stages only
    assert not torch.equal(model.hash_head.fc6.weight, before["hash_head.fc6.weight"])
    codes, labels = image_codes(ImageEncoder(model), database)
    assert codes.shape == (len(database), 2) and labels.tolist() == [label for _, label in database.samples]
    with pytest.raises(ValueError, match="1 to 9"):
        EndToEnd(model, 10)


@needs_mobilenet_weights
def test_the_cli_fine_tunes_after_phase_2_and_saves_the_trunk_it_changed(capsys, tmp_path) -> None:
    photos = coloured_classes(tmp_path / "photos")
    out = tmp_path / "run"
    args = ["--baseline", "--backbone", "mobilenet_v2", "--features", "final", "--bits", "16", "--hidden", "32"]
    args += ["--epochs", "3", "--optimizer", "adam", "--lr", "0.01", "--batch-size", "5", "--queries-per-class", "2"]
    args += ["--finetune-stages", "1", "--finetune-epochs", "1", "--out", str(out)]
    code, stdout, err = run_cli(capsys, "train", "hash", "--data", str(photos), *args)
    assert code == 0, err
    assert "float features of the same trunk" in stdout and "distinct" in stdout
    report = json.loads((out / "retrieval.json").read_text())
    assert report["finetune"]["stages"] == 1 and report["finetune"]["epoch"] == 1
    assert report["summary"]["map@10"] > 0.9 and report["float_features"]["map@10"] > 0.9
    with safe_open(str(out / "model.safetensors"), framework="pt") as handle:
        assert any(k.startswith("trunk.") for k in handle.keys())  # fine-tuned: the trunk travels in the file
    assert load_hashnet(out / "model.safetensors").config.get("pretrained") is None
