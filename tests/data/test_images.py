import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.data import image_to_tensor, load_image, load_label, load_tensor, looks_gray, save_image, tensor_to_image
from semvis.errors import ImageError


def png_declaring_size(path: Path, width: int, height: int) -> Path:
    """A valid 1×1 PNG whose header claims ``width``×``height`` (CRC fixed up)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.write_bytes(bytes(data))
    return path


def pixels(img: Image.Image) -> list:
    """Pixel values in raster order: ints for one band, tuples for RGB."""
    arr = np.array(img)
    return [tuple(p) for p in arr.reshape(-1, 3).tolist()] if arr.ndim == 3 else arr.ravel().tolist()


# --- conversions -------------------------------------------------------------------------


def test_exif_orientation_6_rotates_clockwise(tmp_path: Path) -> None:
    img = Image.new("RGB", (64, 32), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 32, 32))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)

    out = load_image(path)
    assert out.size == (32, 64)
    top, bottom = out.getpixel((16, 8)), out.getpixel((16, 56))
    assert top[0] > 200 and top[2] < 60  # the left half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize(("suffix", "dtype", "mode"), [(".png", np.uint16, "I;16"), (".tif", np.int32, "I")])
def test_16bit_gray_is_scaled_not_clipped(tmp_path: Path, suffix: str, dtype: type, mode: str) -> None:
    path = tmp_path / f"deep{suffix}"
    Image.fromarray(np.array([[0, 257 * 128, 65535, 1000]], dtype=dtype)).save(path)
    assert Image.open(path).mode == mode

    assert np.array(load_image(path, "L")).tolist() == [[0, 128, 255, 4]]
    assert np.array(load_image(path))[0, 2].tolist() == [255, 255, 255]


def test_palette_transparency_composites_onto_white(tmp_path: Path) -> None:
    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 255, 0])
    pal.putpixel((1, 0), 1)
    path = tmp_path / "pal.png"
    pal.save(path, transparency=1)
    assert Image.open(path).mode == "P"

    assert pixels(load_image(path)) == [(255, 0, 0), (255, 255, 255)]
    assert pixels(load_image(path, "L")) == [76, 255]


def test_rgba_and_la_composite_onto_white(tmp_path: Path) -> None:
    Image.new("RGBA", (1, 1), (255, 0, 0, 128)).save(tmp_path / "rgba.png")
    r, g, b = load_image(tmp_path / "rgba.png").getpixel((0, 0))
    assert r == 255 and abs(g - 127) <= 1 and abs(b - 127) <= 1

    la = Image.new("LA", (2, 1), (0, 0))
    la.putpixel((1, 0), (0, 255))
    la.save(tmp_path / "la.png")
    assert pixels(load_image(tmp_path / "la.png", "L")) == [255, 0]


def test_cmyk_converts_to_rgb(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (3, 1), (0, 0, 0, 0))
    cmyk.putpixel((1, 0), (0, 255, 255, 0))
    cmyk.putpixel((2, 0), (0, 0, 0, 255))
    cmyk.save(tmp_path / "cmyk.tif")
    assert pixels(load_image(tmp_path / "cmyk.tif")) == [(255, 255, 255), (255, 0, 0), (0, 0, 0)]


def test_gray_to_rgb_and_bad_mode(tmp_path: Path) -> None:
    Image.new("L", (2, 2), 77).save(tmp_path / "g.png")
    img = load_image(tmp_path / "g.png")
    assert img.mode == "RGB" and img.getpixel((1, 1)) == (77, 77, 77)
    with pytest.raises(ValueError, match="mode"):
        load_image(tmp_path / "g.png", mode="CMYK")  # type: ignore[arg-type]


def test_load_label_keeps_palette_indices(tmp_path: Path) -> None:
    label = Image.fromarray(np.array([[0, 3], [11, 7]], np.uint8), "P")
    label.putpalette([0, 0, 0] * 256)
    label.save(tmp_path / "label.png")
    assert load_label(tmp_path / "label.png").tolist() == [[0, 3], [11, 7]]
    Image.new("RGB", (2, 2)).save(tmp_path / "rgb.png")
    with pytest.raises(ImageError, match=r"rgb\.png: .*mode L or P"):
        load_label(tmp_path / "rgb.png")


# --- refusals ----------------------------------------------------------------------------


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "JPEG")
    path = tmp_path / "photo.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match=r"photo\.jpg: truncated or corrupt image data \(.*truncated"):
        load_image(path)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "file not found"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), "file is empty"),
        (lambda p: p.write_text("just some text\n"), "not an image"),
    ],
    ids=["missing", "directory", "empty", "text"],
)
def test_bad_files_are_refused_with_their_name(tmp_path: Path, setup, message: str) -> None:
    path = tmp_path / "thing.png"
    setup(path)
    with pytest.raises(ImageError, match=rf"thing\.png: {message}"):
        load_image(path)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(("width", "height"), [(12_000, 10_000), (20_000, 20_000)], ids=["over-limit", "pillow-bomb"])
def test_huge_declared_size_is_refused_before_decoding(tmp_path: Path, width: int, height: int) -> None:
    # Only one pixel of data exists, so decoding would fail as "corrupt", not "too large".
    path = png_declaring_size(tmp_path / "huge.png", width, height)
    with pytest.raises(ImageError, match=r"huge\.png: image is too large"):
        load_image(path)


def test_max_pixels_limit(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "small.png")
    with pytest.raises(ImageError, match=r"8x8 = 64 pixels, limit 63"):
        load_image(tmp_path / "small.png", max_pixels=63)
    assert load_image(tmp_path / "small.png", max_pixels=64).size == (8, 8)


# --- tensors -----------------------------------------------------------------------------


def test_tensor_round_trip_and_clamping() -> None:
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    t = image_to_tensor(Image.fromarray(arr))
    assert t.dtype == torch.float32 and t.shape == (3, 2, 3)
    assert t[1, 0, 2].item() == pytest.approx(arr[0, 2, 1] / 255)
    assert np.array_equal(np.array(tensor_to_image(t.unsqueeze(0))), arr)

    gray = tensor_to_image(torch.tensor([[[-0.5, 0.5, 2.0]]]))
    assert gray.mode == "L" and pixels(gray) == [0, 128, 255]
    with pytest.raises(ValueError, match="shape"):
        tensor_to_image(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="mode"):
        image_to_tensor(Image.new("RGBA", (1, 1)))


def test_load_tensor_resizes_keeping_aspect(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (40, 20), (10, 200, 30)).save(path)
    assert load_tensor(path).shape == (1, 3, 20, 40)
    small = load_tensor(path, size=10)
    assert small.shape == (1, 3, 10, 20)
    assert torch.allclose(small[0, :, 5, 10] * 255, torch.tensor([10.0, 200.0, 30.0]), atol=1)
    assert load_tensor(path, max_side=20).shape == (1, 3, 10, 20)
    assert load_tensor(path, max_side=100).shape == (1, 3, 20, 40)  # never enlarges
    with pytest.raises(ValueError):
        load_tensor(path, size=10, max_side=10)


# --- saving ------------------------------------------------------------------------------


def test_save_tensor_with_metadata_round_trips(tmp_path: Path) -> None:
    t = torch.rand(3, 5, 7)
    path = save_image(t, tmp_path / "new" / "dir" / "out.png", metadata={"model": "xception", "seed": "3"})
    with Image.open(path) as img:
        assert img.text == {"model": "xception", "seed": "3"}
    assert torch.allclose(image_to_tensor(load_image(path)), t, atol=0.5 / 255 + 1e-6)
    assert os.listdir(path.parent) == ["out.png"]


def test_save_jpeg_from_suffix(tmp_path: Path) -> None:
    save_image(Image.new("RGB", (16, 16), (200, 100, 50)), tmp_path / "x.JPG")
    with Image.open(tmp_path / "x.JPG") as img:
        assert img.format == "JPEG"
    with pytest.raises(ImageError, match=r"x\.jpg: metadata can only be stored in PNG"):
        save_image(Image.new("RGB", (1, 1)), tmp_path / "x.jpg", metadata={"a": "b"})
    with pytest.raises(ImageError, match=r"x\.nope: cannot tell an image format"):
        save_image(Image.new("RGB", (1, 1)), tmp_path / "x.nope")


def test_save_is_atomic_when_the_encoder_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.png"
    save_image(Image.new("RGB", (4, 4), (1, 2, 3)), path)
    before = path.read_bytes()

    def failing_encoder(im: Image.Image, fp: io.BufferedWriter, filename: str) -> None:
        fp.write(b"\x89PNG\r\n\x1a\n partial")
        raise OSError("disk full")

    Image.init()
    monkeypatch.setitem(Image.SAVE, "PNG", failing_encoder)
    with pytest.raises(ImageError, match=r"out\.png: cannot write image \(disk full\)"):
        save_image(Image.new("RGB", (4, 4), (9, 9, 9)), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.png"]


def test_looks_gray_by_mode_and_by_channel_agreement() -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    assert looks_gray(Image.fromarray(gray))  # mode L
    rgb_gray = np.repeat(gray[..., None], 3, -1).astype(np.int16)
    noisy = np.clip(rgb_gray + rng.integers(-2, 3, rgb_gray.shape), 0, 255).astype(np.uint8)
    assert looks_gray(Image.fromarray(noisy))  # a gray JPEG's chroma noise
    tinted = noisy.copy()
    tinted[:10, :, 0] = 255  # a quarter of the picture is red
    assert not looks_gray(Image.fromarray(tinted))
    assert not looks_gray(Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)))
