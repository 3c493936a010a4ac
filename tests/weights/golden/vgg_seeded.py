"""A seeded torchvision-layout VGG-16 state dict and an independent float64 numpy forward.

torchvision's ``vgg16()`` is ``features`` (configuration D: conv3×3 pad 1 + ReLU, ``M`` =
2×2/2 max-pool) → ``avgpool`` (adaptive 7×7) → flatten → ``classifier`` (Linear, ReLU,
Dropout, Linear, ReLU, Dropout, Linear), so its parameters are ``features.{N}.weight/bias``
at the Sequential indices of the convolutions and ``classifier.{0,3,6}.weight/bias``.
Written from torchvision's source, without semvis and without torch (numpy only);
``make_golden.py`` runs the forward, ``test_golden.py`` rebuilds the state dict.
"""

from __future__ import annotations

import hashlib

import numpy as np

SEED = 16
CFG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
NUM_CLASSES = 1000
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def conv_indices() -> list[int]:
    """Indices of the convolutions in torchvision's ``features`` Sequential."""
    indices, i = [], 0
    for v in CFG_D:
        if v == "M":
            i += 1
        else:
            indices.append(i)
            i += 2  # Conv2d, ReLU
    return indices


def seeded_state(seed: int = SEED) -> dict[str, np.ndarray]:
    """torchvision key → float32 array (He-scaled normal weights, small normal biases)."""
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}
    cin = 3
    convs = [v for v in CFG_D if v != "M"]
    for index, cout in zip(conv_indices(), convs):
        state[f"features.{index}.weight"] = rng.standard_normal((cout, cin, 3, 3), dtype=np.float32) * np.float32(
            np.sqrt(2.0 / (9 * cin))
        )
        state[f"features.{index}.bias"] = rng.standard_normal(cout, dtype=np.float32) * np.float32(0.1)
        cin = cout
    for index, (fin, fout) in zip((0, 3, 6), ((512 * 7 * 7, 4096), (4096, 4096), (4096, NUM_CLASSES))):
        weight = rng.standard_normal((fout, fin), dtype=np.float32)
        weight *= np.float32(np.sqrt(2.0 / fin))
        state[f"classifier.{index}.weight"] = weight
        state[f"classifier.{index}.bias"] = rng.standard_normal(fout, dtype=np.float32) * np.float32(0.1)
    return state


def fingerprint(state: dict[str, np.ndarray]) -> str:
    """sha256 of every 997th number of every array: tells whether numpy still draws the same weights."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode() + np.ascontiguousarray(state[key].ravel()[::997]).tobytes())
    return digest.hexdigest()


def conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Cross-correlation with zero padding 1, stride 1: x (N, C, H, W), weight (O, C, 3, 3)."""
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    patches = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))  # N, C, H, W, 3, 3
    out = np.einsum("nchwij,ocij->nohw", patches, weight, optimize=True)
    return out + bias[None, :, None, None]


def max_pool2(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    return x[:, :, : h // 2 * 2, : w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def adaptive_avg_pool(x: np.ndarray, size: int) -> np.ndarray:
    """PyTorch's adaptive average pooling: bin i spans [floor(i·H/s), ceil((i+1)·H/s))."""
    n, c, h, w = x.shape
    out = np.empty((n, c, size, size), dtype=x.dtype)
    for i in range(size):
        y0, y1 = (i * h) // size, -((-(i + 1) * h) // size)
        for j in range(size):
            x0, x1 = (j * w) // size, -((-(j + 1) * w) // size)
            out[:, :, i, j] = x[:, :, y0:y1, x0:x1].mean(axis=(2, 3))
    return out


def forward(rgb01: np.ndarray, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float64 forward of torchvision's VGG-16 in eval mode on RGB in [0, 1] (N, 3, H, W).

    Returns the output after every Sequential index of ``features`` (``features.N``),
    ``avgpool`` and ``logits``.
    """
    mean = np.array(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = np.array(IMAGENET_STD).reshape(1, 3, 1, 1)
    x = (rgb01.astype(np.float64) - mean) / std
    st = {k: v.astype(np.float64) for k, v in state.items()}
    outputs: dict[str, np.ndarray] = {}
    i = 0
    for v in CFG_D:
        if v == "M":
            x = max_pool2(x)
            outputs[f"features.{i}"] = x
            i += 1
        else:
            x = conv3x3(x, st[f"features.{i}.weight"], st[f"features.{i}.bias"])
            outputs[f"features.{i}"] = x
            x = np.maximum(x, 0)
            outputs[f"features.{i + 1}"] = x
            i += 2
    x = adaptive_avg_pool(x, 7)
    outputs["avgpool"] = x
    x = x.reshape(x.shape[0], -1)
    for index in (0, 3, 6):
        x = x @ st[f"classifier.{index}.weight"].T + st[f"classifier.{index}.bias"]
        if index != 6:
            x = np.maximum(x, 0)  # Dropout is the identity in eval mode
    outputs["logits"] = x
    return outputs
