"""Showcase: what VGG-19 with the real ImageNet weights sees, block by block."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from semvis.assets import sample_path
from semvis.backbones import create_backbone
from semvis.data import image_to_tensor, load_image, save_image
from semvis.device import DeviceSpec, place
from semvis.viz import colormap, labelled_grid

TITLE = "VGG-19 feature maps"
#: The last rectified layer of each of the five blocks.
LAYERS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")


def strongest_channels(feature: torch.Tensor, k: int) -> list[int]:
    """Indices of the ``k`` channels with the largest mean activation (feature: C×H×W)."""
    return feature.mean(dim=(1, 2)).topk(k).indices.tolist()


def feature_panel(image_path: Path, k: int = 6, device: DeviceSpec | None = None) -> Image.Image:
    """A grid: one row per VGG block, the input then its ``k`` strongest channel maps (VGG on ``device``)."""
    model = create_backbone("vgg19", pretrained=True).eval()
    image = load_image(image_path)
    with torch.inference_mode():
        feats = model.forward_features(image_to_tensor(image)[None].to(place(model, device)), LAYERS)
    rows, labels = [], []
    for name in LAYERS:
        fmap = feats[name][0].cpu()
        info = model.feature_info[name]
        rows.append([image] + [colormap(fmap[c]) for c in strongest_channels(fmap, k)])
        labels.append(f"{name}\n{info.channels} ch, 1/{info.reduction}")
    w, h = image.size
    cell = (160, max(1, round(160 * h / w)))
    return labelled_grid(
        rows,
        cell,
        row_labels=labels,
        col_labels=["input"] + [f"#{i + 1} strongest" for i in range(k)],
        title=f"VGG-19 (ImageNet weights) sees {image_path.name}: strongest channels per block",
    )


def run(out_dir: Path, device: DeviceSpec | None = None) -> list[Path]:
    target = out_dir / "vgg19_features.png"
    save_image(feature_panel(sample_path("chelsea"), device=device), target, {"semvis": "demo features"})
    return [target]
