"""Streaming video frames in and out.

Video files go through PyAV (the optional ``video`` extra, imported only when needed);
folders of numbered frames (DAVIS: ``frames/00000.jpg``...) through Pillow. Both readers
yield RGB uint8 H×W×3 arrays one at a time, so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import torch

from semvis.atomic import temp_sibling
from semvis.data.images import IMAGE_EXTENSIONS, image_to_tensor, load_image, tensor_to_image
from semvis.errors import DataError

if TYPE_CHECKING:
    import av

Size = tuple[int, int]
"""Frame size as (width, height)."""

#: Suffixes of the video files :class:`VideoWriter` is asked to write.
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
#: Frame rate of an output video when its input (a folder of frames) has none (DAVIS' rate).
DEFAULT_FPS = 24.0

# High quality: x264 CRF 18; MPEG-4 at fixed quantiser 2 (global_quality = 2 * FF_QP2LAMBDA).
_CODECS = (("libx264", {"crf": "18"}), ("mpeg4", {"flags": "+qscale", "global_quality": "236"}))


def _import_av(path: Path) -> ModuleType:
    try:
        import av
    except ImportError:
        raise DataError(f"{path}: video files need PyAV (pip install 'semvis[video]')") from None
    return av


def _check_frame(path: Path, index: int, frame: np.ndarray, size: Size) -> np.ndarray:
    """Return ``frame`` if it is ``size``; otherwise a DataError naming the frame index."""
    height, width = frame.shape[:2]
    if (width, height) != size:
        raise DataError(f"{path}: frame {index} is {width}x{height}, expected {size[0]}x{size[1]}")
    return frame


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a video file (by its suffix) or a folder of frames."""
    path = Path(path)
    return path.suffix.lower() in VIDEO_SUFFIXES or path.is_dir()


def check_video_output(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path when its suffix names a video (:data:`VIDEO_SUFFIXES`); a DataError otherwise."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise DataError(f"{path}: a video's output must end in one of {', '.join(VIDEO_SUFFIXES)}")
    return path


def even_size(size: Size) -> Size:
    """``(width, height)`` rounded down to even sides, as H.264 in yuv420p wants them."""
    width, height = size
    return width - width % 2, height - height % 2


def _natural_key(path: Path) -> list[str | int]:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


class FrameSource:
    """A stream of RGB uint8 H×W×3 frames with ``fps``, ``frame_count`` (None if unknown) and ``size``."""

    path: Path
    fps: float | None
    frame_count: int | None
    size: Size

    def __iter__(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def tensors(self) -> Iterator[torch.Tensor]:
        """The frames as float32 1×3×H×W tensors in [0, 1]."""
        for frame in self:
            yield image_to_tensor(frame).unsqueeze(0)


class VideoReader(FrameSource):
    """Frames of a video file, decoded with PyAV; each iteration starts from the first frame."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: video file not found")
        self._av = _import_av(self.path)
        with self._open() as container:
            stream = container.streams.video[0]
            self.fps = float(stream.average_rate) if stream.average_rate else None
            self.frame_count = stream.frames or None
            first = next(self._decode(container), None)
        if first is None:
            raise DataError(f"{self.path}: video has no frames")
        self.size = (first.shape[1], first.shape[0])

    def _open(self) -> av.container.InputContainer:
        try:
            container = self._av.open(str(self.path))
        except self._av.error.FFmpegError as e:
            raise DataError(f"{self.path}: not a readable video ({e.strerror or e})") from None
        if not container.streams.video:
            container.close()
            raise DataError(f"{self.path}: contains no video stream")
        return container

    def _decode(self, container: av.container.InputContainer) -> Iterator[np.ndarray]:
        index = 0
        try:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
                index += 1
        except self._av.error.FFmpegError as e:
            raise DataError(f"{self.path}: corrupt video data at frame {index} ({e})") from None

    def __iter__(self) -> Iterator[np.ndarray]:
        with self._open() as container:
            for index, frame in enumerate(self._decode(container)):
                yield _check_frame(self.path, index, frame, self.size)


class FrameFolder(FrameSource):
    """A folder of numbered frame images, read in natural order (``2.jpg`` before ``10.jpg``)."""

    def __init__(self, path: str | os.PathLike[str], fps: float | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataError(f"{self.path}: frame folder not found")
        files = (p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        self.files = sorted(files, key=_natural_key)
        if not self.files:
            raise DataError(f"{self.path}: frame folder holds no images")
        self.fps = fps
        self.frame_count = len(self.files)
        self.size = load_image(self.files[0]).size

    def __iter__(self) -> Iterator[np.ndarray]:
        for index, file in enumerate(self.files):
            yield _check_frame(file, index, np.array(load_image(file)), self.size)


def open_frames(path: str | os.PathLike[str], fps: float | None = None) -> FrameSource:
    """Open a video file or a folder of numbered frames (``fps`` applies to folders only)."""
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path, fps)
    return VideoReader(path)


class VideoWriter:
    """Write RGB frames to an H.264 video (MPEG-4 Part 2 when libx264 is missing), atomically.

    Frames go to a hidden temporary file beside ``path`` which replaces ``path`` on
    :meth:`close`; leaving the ``with`` block through an exception deletes it instead.
    Frames are ``size``; with ``crop`` an odd side is allowed and the video drops the last
    row or column of each frame (:func:`even_size`), otherwise the sides must be even.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, size: Size, crop: bool = False) -> None:
        self.path = Path(path)
        self._av = av_module = _import_av(self.path)
        self.frame_size = size
        width, height = even_size(size) if crop else size
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise DataError(f"{self.path}: frame size must be positive and even, got {width}x{height}")
        if not fps > 0:
            raise DataError(f"{self.path}: fps must be positive, got {fps}")
        self.size = (width, height)
        self.frames_written = 0
        self._finished = False
        codec, options = next((c, o) for c, o in _CODECS if c in av_module.codecs_available)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_sibling(self.path)
        self._container = None
        try:
            self._container = av_module.open(str(self._tmp), "w")
            self._stream = self._container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            self._stream.width, self._stream.height = width, height
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = options
            self._container.start_encoding()
        except (av_module.error.FFmpegError, ValueError) as e:
            self.abort()
            raise DataError(f"{self.path}: cannot create video ({e})") from None

    def write(self, frame: np.ndarray | torch.Tensor) -> None:
        """Append an RGB uint8 H×W×3 array or a 3×H×W / 1×3×H×W float tensor in [0, 1] of ``frame_size``."""
        if isinstance(frame, torch.Tensor):
            frame = np.array(tensor_to_image(frame).convert("RGB"))
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 H×W×3 frame, got {frame.dtype} {frame.shape}")
        _check_frame(self.path, self.frames_written, frame, self.frame_size)
        frame = frame[: self.size[1], : self.size[0]]
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        self._mux(video_frame)
        self.frames_written += 1

    def _mux(self, frame: av.VideoFrame | None) -> None:
        """Encode ``frame`` (None flushes the encoder) and mux the packets."""
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except self._av.error.FFmpegError as e:
            raise DataError(f"{self.path}: cannot encode frame {self.frames_written} ({e})") from None

    def close(self) -> Path:
        """Finish the file and move it into place; DataError if no frame was written."""
        if self._finished:
            return self.path
        if self._container is None:
            raise DataError(f"{self.path}: the writer was aborted, nothing to close")
        if not self.frames_written:
            self.abort()
            raise DataError(f"{self.path}: no frames were written")
        try:
            self._mux(None)
            self._container.close()
            self._container = None
            os.replace(self._tmp, self.path)
            self._finished = True
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Discard the partial output."""
        if self._container is not None:
            container, self._container = self._container, None
            with contextlib.suppress(Exception):
                container.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
