import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semvis.data import FrameFolder, VideoReader, VideoWriter, load_image, open_frames
from semvis.data.video import check_video_output, even_size, is_video
from semvis.errors import DataError, ImageError

W, H = 64, 48
needs_av = pytest.mark.skipif(
    importlib.util.find_spec("av") is None, reason="PyAV not installed (pip install 'semvis[video]')"
)


def synthetic_frame(i: int) -> np.ndarray:
    """A horizontal gradient whose brightness rises with ``i``, plus a moving white bar."""
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:] = np.linspace(0, 120, W, dtype=np.uint8)[None, :, None]
    frame[..., 1] += np.uint8(10 * i)
    frame[:, 4 * i : 4 * i + 8] = 255
    return frame


def write_clip(path: Path, n: int = 12, fps: float = 24) -> Path:
    with VideoWriter(path, fps, (W, H)) as writer:
        for i in range(n):
            writer.write(synthetic_frame(i))
    return path


@needs_av
def test_write_then_read_back(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mp4")
    assert os.listdir(tmp_path) == ["clip.mp4"]
    reader = open_frames(path)
    assert isinstance(reader, VideoReader)
    assert reader.fps == 24 and reader.frame_count == 12 and reader.size == (W, H)
    for _ in range(2):  # every iteration starts again from the first frame
        frames = list(reader)
        assert len(frames) == 12
        for i, frame in enumerate(frames):
            assert frame.dtype == np.uint8 and frame.shape == (H, W, 3)
            assert np.abs(frame.astype(int) - synthetic_frame(i)).mean() < 4
    tensor = next(reader.tensors())
    expected = torch.from_numpy(synthetic_frame(0)).permute(2, 0, 1).float() / 255
    assert tensor.shape == (1, 3, H, W) and (tensor[0] - expected).abs().mean() < 4 / 255


@needs_av
def test_writer_falls_back_to_mpeg4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import av

    monkeypatch.setattr(av, "codecs_available", av.codecs_available - {"libx264"})
    path = write_clip(tmp_path / "clip.mp4", n=4)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
    frames = list(VideoReader(path))
    assert len(frames) == 4 and np.abs(frames[3].astype(int) - synthetic_frame(3)).mean() < 4


@needs_av
def test_writer_accepts_tensors(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "t.mp4", 10, (W, H)) as writer:
        writer.write(torch.full((1, 3, H, W), 0.5))
    (frame,) = VideoReader(tmp_path / "t.mp4")
    assert abs(frame.mean() - 128) < 3


@needs_av
def test_writer_removes_partial_output_on_error(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous result")
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(path, 24, (W, H)) as writer:
            writer.write(synthetic_frame(0))
            assert len(os.listdir(tmp_path)) == 2  # the partial temporary file
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == ["out.mp4"] and path.read_bytes() == b"previous result"


@needs_av
def test_writer_refuses_frames_of_another_size(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"out\.mp4: frame 1 is 32x48, expected 64x48"):
        with VideoWriter(tmp_path / "out.mp4", 24, (W, H)) as writer:
            writer.write(synthetic_frame(0))
            writer.write(synthetic_frame(1)[:, :32])
    assert os.listdir(tmp_path) == []


@needs_av
def test_writer_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"odd\.mp4: frame size must be positive and even, got 63x48"):
        VideoWriter(tmp_path / "odd.mp4", 24, (63, 48))
    with pytest.raises(DataError, match=r"empty\.mp4: no frames were written"):
        with VideoWriter(tmp_path / "empty.mp4", 24, (W, H)):
            pass
    with pytest.raises(DataError, match=r"x\.nope: cannot create video"):
        VideoWriter(tmp_path / "x.nope", 24, (W, H))
    with pytest.raises(DataError, match=r"slow\.mp4: fps must be positive, got 0"):
        VideoWriter(tmp_path / "slow.mp4", 0, (W, H))
    writer = VideoWriter(tmp_path / "aborted.mp4", 24, (W, H))
    writer.write(synthetic_frame(0))
    writer.abort()
    with pytest.raises(DataError, match=r"aborted\.mp4: the writer was aborted"):
        writer.close()
    assert os.listdir(tmp_path) == []


@needs_av
def test_unreadable_videos_are_refused_with_their_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.mp4: video file not found"):
        open_frames(tmp_path / "missing.mp4")

    (tmp_path / "notes.mp4").write_text("not a video at all\n")
    with pytest.raises(DataError, match=r"notes\.mp4: not a readable video"):
        open_frames(tmp_path / "notes.mp4")

    data = write_clip(tmp_path / "clip.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.mp4: not a readable video"):
        open_frames(tmp_path / "cut.mp4")


@needs_av
def test_video_whose_frame_size_changes_is_refused(tmp_path: Path) -> None:
    parts = []
    for size in ((W, H), (32, 32)):
        with VideoWriter(tmp_path / "part.ts", 24, size) as writer:
            for _ in range(3):
                writer.write(np.full((size[1], size[0], 3), 100, np.uint8))
        parts.append((tmp_path / "part.ts").read_bytes())
    (tmp_path / "joined.ts").write_bytes(b"".join(parts))  # MPEG-TS streams concatenate
    reader = VideoReader(tmp_path / "joined.ts")
    assert reader.size == (W, H)
    with pytest.raises(DataError, match=r"joined\.ts: frame \d+ is 32x32, expected 64x48"):
        list(reader)


@needs_av
def test_video_without_frames_is_refused(tmp_path: Path) -> None:
    import av

    path = tmp_path / "empty.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        container.start_encoding()
    with pytest.raises(DataError, match=r"empty\.avi: video has no frames"):
        VideoReader(path)


def test_frame_folder_reads_in_numeric_order(tmp_path: Path) -> None:
    for number, value in ((10, 30), (2, 20), (1, 10)):
        Image.new("RGB", (W, H), (value, value, value)).save(tmp_path / f"{number}.png")
    (tmp_path / "readme.txt").write_text("ignored")
    reader = open_frames(tmp_path, fps=12)
    assert isinstance(reader, FrameFolder)
    assert (reader.fps, reader.frame_count, reader.size) == (12, 3, (W, H))
    assert [int(frame[0, 0, 0]) for frame in reader] == [10, 20, 30]


def test_frame_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    with pytest.raises(DataError, match=r"frames: frame folder holds no images"):
        FrameFolder(tmp_path / "frames")
    for i, size in enumerate([(W, H), (W, H), (W, H + 2)]):
        Image.new("RGB", size).save(tmp_path / "frames" / f"{i:05d}.jpg")
    with pytest.raises(DataError, match=r"00002\.jpg: frame 2 is 64x50, expected 64x48"):
        list(open_frames(tmp_path / "frames"))
    (tmp_path / "frames" / "00001.jpg").write_bytes(b"garbage")
    with pytest.raises(ImageError, match=r"00001\.jpg: not an image"):
        list(open_frames(tmp_path / "frames"))


def test_data_package_imports_without_pyav(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "0.png")
    (tmp_path / "clip.mp4").write_bytes(b"x")
    code = f"""
import sys
sys.modules["av"] = None  # makes `import av` fail
from semvis.data import open_frames
from semvis.errors import DataError
assert open_frames({str(tmp_path)!r}).frame_count == 1
try:
    open_frames({str(tmp_path / "clip.mp4")!r})
except DataError as e:
    print(e)
"""
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": str(src)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "clip.mp4: video files need PyAV (pip install 'semvis[video]')" in result.stdout


@needs_av
@pytest.mark.data
def test_real_davis_sequence(davis: Path, tmp_path: Path) -> None:
    frames_dir = davis / "blackswan" / "frames"
    reader = open_frames(frames_dir, fps=24)
    assert reader.frame_count == 50 and reader.size == (854, 480)
    first = next(iter(reader))
    assert np.array_equal(first, np.array(load_image(frames_dir / "00000.jpg")))

    path = tmp_path / "blackswan.mp4"
    with VideoWriter(path, reader.fps, reader.size) as writer:
        originals = []
        for frame, _ in zip(reader, range(8)):
            writer.write(frame)
            originals.append(frame)
    decoded = list(open_frames(path))
    assert len(decoded) == 8
    for original, frame in zip(originals, decoded):
        mse = np.mean((original.astype(float) - frame.astype(float)) ** 2)
        assert 10 * np.log10(255**2 / mse) > 30  # PSNR in dB


def test_video_outputs_are_named_by_suffix(tmp_path: Path) -> None:
    assert check_video_output(str(tmp_path / "a.MP4")) == tmp_path / "a.MP4"
    with pytest.raises(DataError, match=r"a\.gif: a video's output must end in one of \.mp4, \.mov"):
        check_video_output(tmp_path / "a.gif")
    assert is_video(tmp_path / "clip.webm") and is_video(tmp_path) and not is_video(tmp_path / "photo.jpg")
    assert even_size((63, 48)) == (62, 48) and even_size((64, 1)) == (64, 0)


@needs_av
def test_a_cropping_writer_drops_the_odd_row_and_column(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "odd.mp4", 24, (W - 1, H - 1), crop=True) as writer:
        assert writer.size == (W - 2, H - 2) and writer.frame_size == (W - 1, H - 1)
        writer.write(synthetic_frame(0)[1:, 1:])
        with pytest.raises(DataError, match=r"frame 1 is 64x48, expected 63x47"):
            writer.write(synthetic_frame(1))
        writer.write(synthetic_frame(2)[1:, 1:])
    reader = VideoReader(tmp_path / "odd.mp4")
    assert reader.size == (W - 2, H - 2) and len(list(reader)) == 2
