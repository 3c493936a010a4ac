import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.data import (
    ImageFolderDataset,
    RandomScaleCropFlip,
    SegmentationDataset,
    load_label,
    shared_dataset,
)
from semvis.errors import DataError, ImageError

CLASSES = {"classes": ["sky", "road", "car"], "colors": [[128, 128, 128], [128, 64, 128], [64, 0, 128]]}


def solid(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def camvid_like(root: Path, split: str = "train", n: int = 2, with_classes: bool = True) -> list[np.ndarray]:
    """A tiny CamVid-shaped split: 8×6 solid JPEGs with index-valued labels (11 = void)."""
    if with_classes:
        root.mkdir(parents=True, exist_ok=True)
        (root / "classes.json").write_text(json.dumps({**CLASSES, "ignore_index": 11, "note": "test"}))
    labels = []
    for i in range(n):
        solid(root / split / "images" / f"seq_{i:03d}.jpg", (40 * i, 100, 200))
        label = np.full((6, 8), i % 3, np.uint8)
        label[0, :] = 11
        (root / split / "labels").mkdir(parents=True, exist_ok=True)
        Image.fromarray(label).save(root / split / "labels" / f"seq_{i:03d}.png")
        labels.append(label)
    return labels


# --- shared_dataset ----------------------------------------------------------------------


def test_shared_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMVIS_DATA", str(tmp_path))
    (tmp_path / "camvid").mkdir()
    assert shared_dataset("camvid") == tmp_path / "camvid"
    with pytest.raises(DataError, match=r"'davis' not found \(set SEMVIS_DATA"):
        shared_dataset("davis")


# --- ImageFolderDataset ------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    solid(root / "dog" / "a.png", (0, 0, 255))
    solid(root / "cat" / "b.png", (255, 0, 0))
    solid(root / "cat" / "nested" / "a.jpg", (0, 255, 0))
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()
    return root


def test_image_folder_indexes_sorted_classes(folder: Path) -> None:
    ds = ImageFolderDataset(folder)
    assert ds.classes == ["cat", "dog"]
    assert ds.class_to_idx == {"cat": 0, "dog": 1}
    assert [(p.relative_to(folder).as_posix(), i) for p, i in ds.samples] == [
        ("cat/b.png", 0),
        ("cat/nested/a.jpg", 0),
        ("dog/a.png", 1),
    ]
    image, target = ds[2]
    assert target == 1 and image.shape == (3, 6, 8)
    assert image[:, 3, 4].tolist() == [0.0, 0.0, 1.0]

    sized = ImageFolderDataset(folder, transform=lambda img: img.size, extensions=[".PNG"])
    assert len(sized) == 2 and sized[0] == ((8, 6), 0)


def test_image_folder_list_file(folder: Path) -> None:
    listing = folder.parent / "query.txt"
    listing.write_text("dog/a.png\n\ncat/b.png\n")
    ds = ImageFolderDataset(folder, list_file=listing)
    assert [(p.name, i) for p, i in ds.samples] == [("a.png", 1), ("b.png", 0)]
    assert ds.classes == ["cat", "dog"]  # every class folder, even if unlisted

    listing.write_text("dog/a.png\ncat/missing.png\n")
    with pytest.raises(DataError, match=r"query\.txt: line 2 names 'cat/missing\.png'"):
        ImageFolderDataset(folder, list_file=listing)


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere: dataset folder not found"):
        ImageFolderDataset(tmp_path / "nowhere")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match=r"empty: no images"):
        ImageFolderDataset(tmp_path / "empty")


# --- SegmentationDataset -----------------------------------------------------------------


def test_segmentation_items_and_class_spec(tmp_path: Path) -> None:
    labels = camvid_like(tmp_path)
    ds = SegmentationDataset(tmp_path, "train")
    assert len(ds) == 2
    assert ds.classes == ["sky", "road", "car"]
    assert ds.colors == [(128, 128, 128), (128, 64, 128), (64, 0, 128)]
    assert ds.ignore_index == 11
    image, label = ds[1]
    assert image.dtype == torch.float32 and image.shape == (3, 6, 8)
    assert label.dtype == torch.int64 and torch.equal(label, torch.from_numpy(labels[1]).long())
    assert torch.allclose(image[:, 3, 3] * 255, torch.tensor([40.0, 100.0, 200.0]), atol=3)


def test_segmentation_defaults_without_classes_json(tmp_path: Path) -> None:
    camvid_like(tmp_path, with_classes=False)
    ds = SegmentationDataset(tmp_path, "train")
    assert ds.ignore_index == 255 and ds.classes == [] and ds.colors == []


def test_segmentation_applies_joint_transform(tmp_path: Path) -> None:
    camvid_like(tmp_path)
    ds = SegmentationDataset(tmp_path, "train", transform=lambda im, lb: (im[:, :2], lb[:2] + 1))
    image, label = ds[0]
    assert image.shape == (3, 2, 8) and label[0, 0].item() == 12


def test_segmentation_errors(tmp_path: Path) -> None:
    camvid_like(tmp_path)
    with pytest.raises(DataError, match=r"split 'val' not found"):
        SegmentationDataset(tmp_path, "val")

    (tmp_path / "train" / "labels" / "seq_001.png").unlink()
    with pytest.raises(DataError, match=r"seq_001\.jpg: image has no label file"):
        SegmentationDataset(tmp_path, "train")

    Image.new("L", (4, 4)).save(tmp_path / "train" / "labels" / "seq_001.png")
    with pytest.raises(DataError, match=r"seq_001\.png: label is 4x4 but its image is 8x6"):
        SegmentationDataset(tmp_path, "train")[1]

    Image.new("RGB", (8, 6)).save(tmp_path / "train" / "labels" / "seq_001.png")
    with pytest.raises(ImageError, match=r"seq_001\.png: label image must be 8-bit single-channel"):
        SegmentationDataset(tmp_path, "train")[1]

    (tmp_path / "classes.json").write_text('{"colors": []}')
    with pytest.raises(DataError, match=r"classes\.json: malformed class list"):
        SegmentationDataset(tmp_path, "train")


def voc_like(root: Path) -> np.ndarray:
    """A VOC2012 tree: two images listed for ``train``, palette-PNG labels with a 255 border."""
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "SegmentationClass").mkdir()
    label = np.full((6, 8), 255, np.uint8)
    label[1:-1, 1:-1] = 15  # person
    for name in ("2007_000001", "2007_000002"):
        Image.new("RGB", (8, 6), (10, 20, 30)).save(root / "JPEGImages" / f"{name}.jpg")
        png = Image.fromarray(label, mode="P")
        png.putpalette([0] * 768)
        png.save(root / "SegmentationClass" / f"{name}.png")
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("2007_000001\n2007_000002\n")
    return label


def test_segmentation_reads_the_voc_layout_with_its_classes_and_palette(tmp_path: Path) -> None:
    label = voc_like(tmp_path)
    ds = SegmentationDataset(tmp_path, "train")
    assert len(ds) == 2 and ds.ignore_index == 255
    assert len(ds.classes) == 21 and ds.classes[15] == "person"
    assert ds.colors[:3] == [(0, 0, 0), (128, 0, 0), (0, 128, 0)] and ds.colors[15] == (192, 128, 128)
    image, target = ds[1]
    assert image.shape == (3, 6, 8) and torch.equal(target, torch.from_numpy(label).long())


def test_a_voc_list_naming_a_missing_image_is_refused(tmp_path: Path) -> None:
    voc_like(tmp_path)
    (tmp_path / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000001\n\n2007_000009\n")
    with pytest.raises(DataError, match=r"val\.txt: line 3 names '2007_000009'"):
        SegmentationDataset(tmp_path, "val")


# --- RandomScaleCropFlip -----------------------------------------------------------------


def encoded_pair(h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A label of 0..9 and an image whose every channel is label / 10."""
    label = torch.randint(0, 10, (h, w), generator=torch.Generator().manual_seed(seed))
    return (label.float() / 10).expand(3, h, w).clone(), label


def placements(out: torch.Tensor, src: torch.Tensor) -> list[tuple[int, int, bool]]:
    """Every (top, left, mirrored) at which ``out`` is a crop of ``src``."""
    h, w = out.shape
    found = []
    for top in range(src.shape[0] - h + 1):
        for left in range(src.shape[1] - w + 1):
            crop = src[top : top + h, left : left + w]
            for flip, candidate in ((False, crop), (True, crop.flip(-1))):
                if torch.equal(out, candidate):
                    found.append((top, left, flip))
    return found


def test_joint_transform_keeps_image_and_label_aligned() -> None:
    image, label = encoded_pair(32, 32)
    mirrored = 0
    for seed in range(8):
        t = RandomScaleCropFlip(24, scale=(1.0, 1.0), generator=torch.Generator().manual_seed(seed))
        img, lab = t(image, label)
        assert img.shape == (3, 24, 24) and lab.shape == (24, 24)
        assert torch.equal((img[0] * 10).round().long(), lab)
        (where,) = placements(lab, label)
        mirrored += where[2]
    assert 0 < mirrored < 8


def test_joint_transform_is_deterministic_per_generator() -> None:
    image, label = encoded_pair(20, 30)

    def run(seed: int) -> list[torch.Tensor]:
        t = RandomScaleCropFlip((16, 12), generator=torch.Generator().manual_seed(seed))
        return [t(image, label)[1] for _ in range(4)]

    assert all(torch.equal(a, b) for a, b in zip(run(1), run(1)))
    assert not all(torch.equal(a, b) for a, b in zip(run(1), run(2)))


def test_joint_transform_upscales_labels_by_nearest_and_pads_with_ignore() -> None:
    image, label = encoded_pair(16, 16)
    t = RandomScaleCropFlip(40, scale=(2.0, 2.0), flip=False, ignore_index=255)
    img, lab = t(image, label)
    assert torch.equal(lab[:32, :32], label.repeat_interleave(2, 0).repeat_interleave(2, 1))
    assert (lab[32:] == 255).all() and (lab[:, 32:] == 255).all()
    assert (img[:, 32:] == 0).all() and img.min() >= 0 and img.max() <= 1


# --- real data ---------------------------------------------------------------------------


@pytest.mark.data
def test_real_camvid(camvid: Path) -> None:
    counts = {}
    for split in ("train", "val", "test"):
        ds = SegmentationDataset(camvid, split)
        counts[split] = len(ds)
        assert all(load_label(label).max() <= 11 for _, label in ds.samples)
    assert counts == {"train": 367, "val": 101, "test": 233}
    assert len(ds.classes) == len(ds.colors) == 11 and ds.ignore_index == 11
    image, label = ds[0]
    assert image.shape == (3, 360, 480) and label.shape == (360, 480)
    assert 0 <= image.min() and image.max() <= 1 and image.std() > 0.05


@pytest.mark.data
def test_real_caltech101_retrieval_split(caltech101: Path) -> None:
    images = caltech101 / "images"
    query = ImageFolderDataset(images, list_file=caltech101 / "query.txt")
    database = ImageFolderDataset(images, list_file=caltech101 / "database.txt")
    assert len(query.classes) == 101 and len(query) == 1010
    assert len(query) + len(database) == 8677
    assert not {p for p, _ in query.samples} & {p for p, _ in database.samples}
    assert query.class_to_idx == database.class_to_idx
    image, target = query[0]
    assert query.classes[target] == query.samples[0][0].parent.name
    assert image.shape[0] == 3 and max(image.shape[1:]) <= 192
