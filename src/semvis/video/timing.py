"""Measured cost of a :func:`~semvis.video.inference.run_video` pass: r and the speedup, timed.

Zhu et al. 2017 predict the speedup over per-frame N from the cost ratio r of a non-key frame
to a key frame (eq. 7, :func:`~semvis.video.complexity.speedup`). :class:`RunTiming` takes the
ratio from the clock instead of from FLOP counts: r = mean seconds of a non-key frame / mean
seconds of a key frame, with l = frames / key frames (Algorithm 1's interval when the frame count
is a multiple of it, the mean interval of an adaptive schedule).

Eq. 7 with that r and l equals the key frames' mean time over the mean time of all frames, for
any run (l = F/K and r = t_nonkey/t_key give l / (1 + (l − 1) r) = t_key / t_mean). It is an
*estimate* of the speedup over per-frame N, which assumes a key frame costs what a per-frame run
costs; it cannot be checked against itself. The measured speedup needs a second, per-frame run
(``segment_video(..., measure_baseline=True)``, ``benchmarks/video.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

from semvis.video.complexity import speedup


@dataclass(frozen=True)
class RunTiming:
    """Seconds per frame of one pass and which frames were key frames."""

    seconds: tuple[float, ...]
    key: tuple[bool, ...]

    @classmethod
    def of(cls, seconds: Sequence[float], key: Sequence[bool]) -> RunTiming:
        if len(seconds) != len(key):
            raise ValueError(f"{len(seconds)} times for {len(key)} frames")
        if not any(key):
            raise ValueError("a run starts with a key frame; none was given")
        return cls(tuple(seconds), tuple(key))

    @property
    def frames(self) -> int:
        return len(self.seconds)

    @property
    def key_frames(self) -> list[int]:
        """Indices of the key frames."""
        return [i for i, is_key in enumerate(self.key) if is_key]

    @property
    def mean_seconds(self) -> float:
        return fmean(self.seconds)

    @property
    def key_seconds(self) -> float:
        """Mean seconds of a key frame (N_feat + N_task)."""
        return fmean(s for s, is_key in zip(self.seconds, self.key) if is_key)

    @property
    def nonkey_seconds(self) -> float | None:
        """Mean seconds of a non-key frame (flow + W + N_task); ``None`` when every frame was a key frame."""
        times = [s for s, is_key in zip(self.seconds, self.key) if not is_key]
        return fmean(times) if times else None

    @property
    def ratio(self) -> float | None:
        """r measured: non-key over key frame time (``None`` without non-key frames)."""
        nonkey = self.nonkey_seconds
        return None if nonkey is None else nonkey / self.key_seconds

    @property
    def interval(self) -> float:
        """l: frames per key frame."""
        return self.frames / len(self.key_frames)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds)

    def speedup_over(self, baseline: RunTiming) -> float:
        """The measured speedup: ``baseline``'s seconds (e.g. N on every frame of the same clip) over this run's."""
        if baseline.frames != self.frames:
            raise ValueError(f"a baseline of {baseline.frames} frames for a run of {self.frames}")
        return baseline.total_seconds / self.total_seconds

    @property
    def predicted_speedup(self) -> float:
        """Eq. 7 with the measured r and l (= mean key-frame time over mean frame time): an estimate."""
        return speedup(self.interval, self.ratio or 0.0)

    def report(self) -> dict[str, object]:
        """The numbers as a JSON-ready dict (the ``semvis video`` report's timing fields)."""
        return {
            "frames": self.frames,
            "key_frames": self.key_frames,
            "seconds_per_frame": [round(s, 6) for s in self.seconds],
            "total_seconds": self.total_seconds,
            "mean_fps": 1 / self.mean_seconds,
            "key_mean_seconds": self.key_seconds,
            "nonkey_mean_seconds": self.nonkey_seconds,
            "interval": self.interval,
            "r_measured": self.ratio,
            "speedup_eq7_measured_r": self.predicted_speedup,
        }
