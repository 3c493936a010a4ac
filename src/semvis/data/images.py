"""Loading, converting and saving images with Pillow.

Every failure caused by the file itself becomes an :class:`~semvis.errors.ImageError`
whose message names the file and the problem.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import torch
from kornia.color import rgb_to_grayscale
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from semvis.atomic import atomic_path, check_writable
from semvis.errors import ImageError

DEFAULT_MAX_PIXELS = 100_000_000
#: The smallest side a network is given: below it the pooling of VGG and Xception runs out of pixels.
MIN_SIDE = 16
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
Mode = Literal["RGB", "L"]
_WHITE = (255, 255, 255, 255)
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


def list_images(folder: str | os.PathLike[str], extensions: Sequence[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files under ``folder`` (recursively, by extension, any case), sorted by path."""
    exts = {e.lower() for e in extensions}
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in exts)


def check_sides(
    size: tuple[int, int], what: str, error: type[Exception] = ImageError, min_side: int = MIN_SIDE
) -> None:
    """Refuse a ``(width, height)`` with a side under ``min_side`` px: ``error("{what} W×H px; …")``."""
    width, height = size
    if min(width, height) < min_side:
        raise error(f"{what} {width}×{height} px; every side must be at least {min_side} px")


def image_format(path: Path) -> str:
    """The Pillow format that writes ``path``, by its suffix; an ImageError when none does."""
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise ImageError(f"{path}: cannot tell an image format to write from the suffix {path.suffix!r}")
    return fmt


def check_image_output(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path if an image can be written there, checked before any work: its suffix names
    a format Pillow writes, it is no folder, and its nearest existing folder is writable."""
    path = Path(path)
    image_format(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a directory; give an image file name")
    check_writable(path)
    return path


def open_image(source: Path | BinaryIO, formats: Sequence[str] | None = None) -> Image.Image:
    """``Image.open`` without Pillow's decompression-bomb warning: the caller checks its own pixel limit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(source, formats=formats)


def _open(path: Path, max_pixels: int, min_side: int = 1) -> Image.Image:
    """Open, size-check, fully decode and EXIF-orient the image at ``path``."""
    if not path.exists():
        raise ImageError(f"{path}: file not found")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: file is empty")
    try:
        img = open_image(path)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image (unknown or unsupported file format)") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: image is too large to load safely ({e})") from None
    except OSError as e:
        raise ImageError(f"{path}: cannot be read ({e.strerror or e})") from None
    with img:
        width, height = img.size
        if width * height > max_pixels:
            raise ImageError(
                f"{path}: image is too large ({width}x{height} = {width * height:,} pixels, limit {max_pixels:,})"
            )
        check_sides(img.size, f"{path}: the image is", min_side=min_side)
        try:
            img.load()
            return ImageOps.exif_transpose(img)
        except DECODE_ERRORS as e:
            raise ImageError(f"{path}: truncated or corrupt image data ({e})") from None


def to_mode(img: Image.Image, mode: Mode, path: Path) -> Image.Image:
    """Convert any Pillow mode to ``mode``: alpha onto white, 16-bit scaled to 8-bit (``path`` names it in errors)."""
    if img.mode in _SIXTEEN_BIT:
        scaled = np.asarray(img, dtype=np.float64) * (255.0 / 65535.0)
        img = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))
    elif img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", img.size, _WHITE), rgba).convert("RGB")
    if img.mode == mode:
        return img
    try:
        return img.convert(mode) if img.mode in ("RGB", "L", "1") else img.convert("RGB").convert(mode)
    except ValueError:
        raise ImageError(f"{path}: unsupported image mode {img.mode}") from None


def load_image(
    path: str | os.PathLike[str], mode: Mode = "RGB", max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = 1
) -> Image.Image:
    """Load an image as an upright ``mode`` ("RGB" or "L") Pillow image.

    Images with more than ``max_pixels`` pixels or a side under ``min_side`` (e.g. :data:`MIN_SIDE`,
    for an image a network sees as it is) are refused before decoding.
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', not {mode!r}")
    path = Path(path)
    return to_mode(_open(path, max_pixels, min_side), mode, path)


def load_label(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Load a label/mask image (mode L or P) as its raw uint8 H×W index array."""
    path = Path(path)
    img = _open(path, max_pixels)
    if img.mode not in ("L", "P"):
        raise ImageError(f"{path}: label image must be 8-bit single-channel (mode L or P), not {img.mode}")
    return np.array(img, dtype=np.uint8)


def image_to_tensor(img: Image.Image | np.ndarray) -> torch.Tensor:
    """An RGB/L image (or uint8 H×W[×C] array) as a float32 C×H×W tensor in [0, 1]."""
    if isinstance(img, Image.Image) and img.mode not in ("RGB", "L"):
        raise ValueError(f"expected an RGB or L image, got mode {img.mode}; use load_image(mode=...)")
    arr = np.array(img)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous().float().div_(255.0)


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    """A C×H×W or 1×C×H×W tensor (C = 1 or 3, values in [0, 1], clamped) as a Pillow image."""
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"expected a 1- or 3-channel C×H×W tensor, got shape {tuple(t.shape)}")
    arr = t.detach().cpu().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    arr = arr.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def load_tensor(path: str | os.PathLike[str], size: int | None = None, max_side: int | None = None) -> torch.Tensor:
    """Load an RGB image as a 1×3×H×W tensor, optionally resized keeping its aspect ratio.

    ``size`` sets the shorter side; ``max_side`` caps the longer side (never enlarges).
    """
    if size is not None and max_side is not None:
        raise ValueError("give at most one of size and max_side")
    img = load_image(path)
    w, h = img.size
    if size is not None:
        scale = size / min(w, h)
    elif max_side is not None:
        scale = min(1.0, max_side / max(w, h))
    else:
        scale = 1.0
    if scale != 1.0:
        new = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = img.resize(new, Image.Resampling.LANCZOS)
    return image_to_tensor(img).unsqueeze(0)


def save_image(
    image: Image.Image | torch.Tensor,
    path: str | os.PathLike[str],
    metadata: dict[str, str] | None = None,
) -> Path:
    """Atomically write an image (format from the suffix); ``metadata`` becomes PNG text chunks."""
    path = Path(path)
    img = tensor_to_image(image) if isinstance(image, torch.Tensor) else image
    fmt = image_format(path)
    params: dict[str, object] = {}
    if metadata:
        if fmt != "PNG":
            raise ImageError(f"{path}: metadata can only be stored in PNG files")
        info = PngInfo()
        for key, value in metadata.items():
            info.add_text(key, value)
        params["pnginfo"] = info
    if fmt == "JPEG":
        params["quality"] = 95
    try:
        with atomic_path(path) as tmp:
            img.save(tmp, format=fmt, **params)
    except OSError as e:
        raise ImageError(f"{path}: cannot write image ({e})") from None
    return path


#: Largest channel spread (of 255) a pixel of a gray photo may show: JPEG chroma noise on a gray scan.
GRAY_SPREAD = 6
#: Share of pixels that must lie within :data:`GRAY_SPREAD` for a photo to count as gray.
GRAY_SHARE = 0.99


def looks_gray(image: Image.Image) -> bool:
    """Whether a photo is gray: a gray mode, or RGB whose channels agree (within JPEG noise) almost everywhere."""
    if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return True
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    spread = pixels.max(-1) - pixels.min(-1)
    return bool((spread <= GRAY_SPREAD).mean() >= GRAY_SHARE)


def match_channels(images: torch.Tensor, in_channels: int) -> torch.Tensor:
    """``(N×)C×H×W`` images with ``in_channels`` channels: RGB → luma, gray → repeated RGB.

    The luma is ITU-R 601, as Pillow's "L" conversion and a grayscale photograph have it.
    """
    channels = images.shape[-3]
    if channels == in_channels:
        return images
    if (channels, in_channels) == (3, 1):
        return rgb_to_grayscale(images)
    if (channels, in_channels) == (1, 3):
        return images.expand(*images.shape[:-3], 3, *images.shape[-2:])
    raise ValueError(f"cannot feed {channels}-channel images to a model of {in_channels} input channels")
