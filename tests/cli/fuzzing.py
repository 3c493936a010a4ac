"""The fuzz corpus, shared by ``tests/cli/test_fuzz.py`` and ``tests/app/test_fuzz.py``: malformed and
unusual images, broken weight files and videos, written on demand, and :func:`refused` for commands."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from helpers import run_cli
from PIL import Image

#: Malformed image files and the words their refusal must contain.
BAD_FILES = {
    "empty.jpg": "file is empty",
    "truncated.jpg": "cannot be read",
    "truncated.png": "truncated or corrupt",
    "text.jpg": "not an image",
    "header-only.png": "truncated or corrupt",
    "bomb.png": "too large",  # 100,000 × 100,000 in a 70-byte header
    "big.png": "too large",  # over semvis' 100 M pixel limit, under Pillow's bomb limit
    "folder.jpg": "is a directory",
}
#: Images too small for the segmenter's pooling, which segment and colorize feed at their size.
TOO_SMALL = {"one.png": "1×1 px", "tall.png": "1×5000 px", "wide.png": "5000×3 px"}
#: Unusual but valid images: accepted and converted to RGB.
GOOD_IMAGES = ("sixteen.png", "cmyk.jpg", "palette.png", "palette-alpha.png", "la.png", "bilevel.png", "anim.gif")
SIZE = (40, 32)


def gradient(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    ramp = lambda t, n: t * 255 // max(n - 1, 1)  # noqa: E731
    return np.stack([ramp(x, width), ramp(y, height), np.full_like(x, 90)], -1).astype(np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width × height`` RGB pixels but holds almost no data."""
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def write_images(folder: Path) -> Path:
    """Every name of :data:`BAD_FILES`, :data:`TOO_SMALL` and :data:`GOOD_IMAGES` under ``folder``."""
    folder.mkdir(parents=True)
    photo = Image.fromarray(gradient(*SIZE))
    jpeg, png = encoded(photo, "JPEG"), encoded(photo, "PNG")
    raw = {
        "empty.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "text.jpg": b"hello, world\n",
        "header-only.png": png_header(*SIZE),
        "bomb.png": png_header(100_000, 100_000),
        "big.png": png_header(12_000, 9_000),
    }
    for name, data in raw.items():
        (folder / name).write_bytes(data)
    (folder / "folder.jpg").mkdir()
    for name, size in (("one.png", (1, 1)), ("tall.png", (1, 5000)), ("wide.png", (5000, 3))):
        Image.fromarray(gradient(*size)).save(folder / name)
    Image.fromarray(gradient(*SIZE)[..., 0].astype(np.uint16) * 257).save(folder / "sixteen.png")  # mode I;16
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE)
    palette.save(folder / "palette.png")
    palette.save(folder / "palette-alpha.png", transparency=0)
    photo.convert("LA").save(folder / "la.png")
    photo.convert("1").save(folder / "bilevel.png")
    photo.save(folder / "anim.gif", save_all=True, append_images=[Image.fromarray(255 - gradient(*SIZE))])
    return folder


def write_weights(folder: Path, real: Path) -> Path:
    """Broken weight files; ``real`` (a valid model file) gives the truncated one."""
    folder.mkdir(parents=True)
    data = real.read_bytes()
    raw = {
        "garbage.safetensors": np.random.default_rng(0).bytes(4096),
        "empty.safetensors": b"",
        "huge-header.safetensors": struct.pack("<Q", 2**60) + b"{}",
        "bad-json.safetensors": struct.pack("<Q", 10) + b"not json!!",
        "truncated.safetensors": data[: len(data) // 2],
        "text.pt": b"hello, world\n",
    }
    for name, blob in raw.items():
        (folder / name).write_bytes(blob)
    torch.save({"w": torch.zeros(2)}, folder / "pickle.pt")
    torch.save({"w": torch.zeros(2)}, folder / "zip.safetensors")
    safetensors.torch.save_file({"w": torch.zeros(2)}, folder / "headerless.safetensors")
    (folder / "folder.safetensors").mkdir()
    return folder


def write_videos(folder: Path) -> Path:
    """Broken videos, and frame folders with a corrupt frame or 2×2 frames."""
    av = pytest.importorskip("av", reason="videos need PyAV: pip install 'semvis[video]'")
    from semvis.data.video import VideoWriter

    folder.mkdir(parents=True)
    with av.open(str(folder / "no-frames.mp4"), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width = stream.height = 32
        container.start_encoding()
    with VideoWriter(folder / "good.mp4", 24, (32, 32)) as writer:
        for _ in range(3):
            writer.write(gradient(32, 32))
    data = (folder / "good.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (folder / "random.mp4").write_bytes(np.random.default_rng(2).bytes(8192))
    (folder / "text.mp4").write_text("not a video\n")
    (folder / "empty.mp4").write_bytes(b"")
    for name, side, broken in (("corrupt-frame", 32, True), ("tiny-frames", 2, False)):
        (folder / name).mkdir()
        Image.fromarray(gradient(side, side)).save(folder / name / "00000.png")
        frame = folder / name / "00001.png"
        frame.write_bytes(b"\x89PNG broken") if broken else Image.fromarray(gradient(side, side)).save(frame)
    return folder


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run ``semvis ARGV…``: it must exit 2 with one error line; returns that line."""
    code, out, err = run_cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and lines, (code, out, err)
    usage = lines[0].startswith("usage: semvis")  # argparse: usage lines, then the error line
    assert (usage or len(lines) == 1) and lines[-1].startswith(f"semvis {argv[0]}: error: "), err
    assert "Traceback" not in err + out
    return lines[-1]
