"""Key-frame colorization of a video with chroma carried along optical flow (``semvis.colorize.video``)."""

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from semvis.colorize import AB_SCALE, SemanticColorizer, colorize, rgb_to_lab
from semvis.colorize.video import clamp_flow, colorize_video, propagate_ab
from semvis.video.inference import DISFlow
from semvis.video.schedule import FixedInterval

SHIFT = 2  # px per frame


def texture(height: int = 64, width: int = 128, seed: int = 0) -> np.ndarray:
    """Smooth gray noise in [0, 1]: texture that DIS can follow."""
    noise = gaussian_filter(np.random.default_rng(seed).random((height, width)), 2.0)
    return (noise - noise.min()) / (noise.max() - noise.min())


def translated_clip(count: int, side: int = 64) -> list[torch.Tensor]:
    """``count`` gray frames (3 × side × side) of a window moving SHIFT px right per frame over the texture."""
    canvas = torch.from_numpy(texture(side, side + SHIFT * count)).float()
    return [canvas[:, SHIFT * i : SHIFT * i + side].expand(3, side, side).clone() for i in range(count)]


def no_labels(image: torch.Tensor) -> torch.Tensor:
    return torch.zeros(image.shape[-2:], dtype=torch.long)


class ChromaFromLuma(nn.Module):
    """A colorizer stand-in whose chroma follows the texture (ab = ±0.2 L′), counting its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.anchor = nn.Parameter(torch.zeros(()))  # for the device lookup

    def forward(self, luma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.cat([0.2 * luma, -0.2 * luma], dim=1) + self.anchor


def chroma(image: torch.Tensor) -> torch.Tensor:
    """a and b in Lab units."""
    return rgb_to_lab(image)[1:] * AB_SCALE


def test_without_motion_every_frame_gets_the_key_frames_colour() -> None:
    torch.manual_seed(0)
    model = SemanticColorizer(num_classes=11, width=4).eval()
    frame = torch.from_numpy(texture(48, 64)).float().expand(3, 48, 64)
    frames = list(colorize_video([frame] * 4, no_labels, model, FixedInterval(8), work_size=32))
    assert [f.key for f in frames] == [True, False, False, False]
    # the key frame is exactly what the photo pipeline gives; the others repeat its chroma
    assert torch.allclose(frames[0].image, colorize(frame, no_labels(frame), model, work_size=32))
    for later in frames[1:]:
        assert (later.image - frames[0].image).abs().max() < 1e-3


def test_a_translated_clip_gets_its_key_chroma_shifted_along() -> None:
    model = ChromaFromLuma()
    clip = translated_clip(4)
    frames = list(colorize_video(clip, no_labels, model, FixedInterval(8), work_size=64))
    assert model.calls == 1 and [f.key for f in frames] == [True, False, False, False]
    key_ab, last_ab = chroma(frames[0].image), chroma(frames[3].image)
    moved = SHIFT * 3
    inner = (slice(None), slice(8, -8), slice(8, -8 - moved))
    shifted_error = (last_ab[inner] - key_ab[:, 8:-8, 8 + moved : -8]).abs().mean()
    still_error = (last_ab[inner] - key_ab[inner]).abs().mean()
    assert shifted_error < 0.5 and still_error > 4 * shifted_error
    # and it matches the frame's own prediction, which this colorizer makes from the moved texture
    own = chroma(colorize(clip[3], no_labels(clip[3]), model, work_size=64))
    assert (last_ab[inner] - own[inner]).abs().mean() < 0.5


def test_propagate_ab_warps_by_the_flow_from_the_current_frame_to_the_key() -> None:
    key, current = (frame[None] for frame in translated_clip(2))
    key_ab = torch.stack([key[0, 0], 1 - key[0, 0]])[None]
    flow = DISFlow()(current, key).flow
    warped = propagate_ab(key_ab, flow)
    expected = key_ab[..., SHIFT:]  # current(x) = key(x + SHIFT)
    assert (warped[..., 8:-8, 8:-8] - expected[..., 8:-8, 8 : -8 + SHIFT]).abs().mean() < 0.01


def test_motion_out_of_the_frame_reads_the_border_not_gray() -> None:
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0] = 10.0  # every pixel looks 10 px right, past the last column
    assert torch.equal(clamp_flow(flow)[0, 0, 0], torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0]))
    ab = torch.arange(20.0).view(1, 1, 4, 5).expand(1, 2, 4, 5)
    assert torch.equal(propagate_ab(ab, flow)[0, 0, :, 0], ab[0, 0, :, -1])


def test_a_residual_schedule_starts_a_key_frame_at_a_scene_cut() -> None:
    from semvis.video.schedule import AdaptiveSchedule

    model = ChromaFromLuma()
    first, cut = translated_clip(2), [torch.from_numpy(texture(64, 64, seed=1)).float().expand(3, 64, 64)]
    schedule = AdaptiveSchedule(0.05, "residual", max_interval=8)
    frames = list(colorize_video(first + cut, no_labels, model, schedule, work_size=64))
    assert [f.key for f in frames] == [True, False, True] and model.calls == 2
