"""Showcase: a bundled photo painted in the style of van Gogh's *Starry Night* (Gatys et al. 2015)."""

from __future__ import annotations

from pathlib import Path

from semvis.assets import sample_path
from semvis.data import load_image, save_image, tensor_to_image
from semvis.device import DeviceSpec
from semvis.style import StyleConfig, stylize
from semvis.viz import labelled_grid

TITLE = "Neural style transfer"
#: Coarse to fine, 80 steps at 128 px then 40 at 256 px: about 30 s on two idle CPU cores.
CONFIG = StyleConfig(scales=(128, 256), steps=120)
#: How the title names the starting image.
START = {"content": "the photograph", "noise": "white noise"}


def run(out_dir: Path, device: DeviceSpec | None = None) -> list[Path]:
    content, painting = sample_path("chelsea"), sample_path("starry_night")
    result = stylize(content, [painting], CONFIG, device=device)
    image = tensor_to_image(result.image)
    panel = labelled_grid(
        [[load_image(content), load_image(painting), image]],
        image.size,
        col_labels=["photograph", "painting (van Gogh, 1889)", f"result: eq. 7, alpha/beta = {CONFIG.ratio:g}"],
        title=f"Gatys et al. 2015 from {START[CONFIG.init]}, L-BFGS, {len(result.history)} steps, "
        f"{result.seconds:.0f} s",
    )
    target = out_dir / "style_transfer.png"
    save_image(panel, target, {"semvis": "demo style"})
    return [target]
