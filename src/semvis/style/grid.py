"""Fig. 1 and Fig. 3 of Gatys et al. 2015.

Fig. 1: reconstructions from white noise that keep only what one layer's responses say about
a photograph (content), or only the Gram matrices of a set of layers (style: a texture).
Fig. 3: style transfer for a grid of content/style ratios α/β (columns) and of style layer
sets (rows). The paper names layers ``conv1_1`` … ``conv5_1`` but uses their rectified
responses (§2: "the feature responses … after the non-linearity"), which are semvis'
``relu1_1`` … ``relu5_1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from PIL import Image

from semvis.backbones import Backbone
from semvis.data.images import tensor_to_image
from semvis.device import DeviceSpec
from semvis.progress import ProgressCallback, tracked
from semvis.style.synthesis import (
    STYLE_LAYERS,
    ImageInput,
    StyleConfig,
    StyleConfigError,
    StyleResult,
    as_image,
    load_vgg,
    stylize,
)
from semvis.viz import labelled_grid

#: Fig. 3's rows: style from relu1_1, relu1_1 + relu2_1, … relu1_1 … relu5_1.
LAYER_SETS = tuple(STYLE_LAYERS[: i + 1] for i in range(len(STYLE_LAYERS)))
#: Fig. 3's columns: α/β.
RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)
GRID_TITLE = "Gatys et al. 2015, Fig. 3: style layers (rows) by content/style ratio alpha/beta (columns)"


def reconstruct(
    image: ImageInput,
    content_layer: str | None = None,
    style_layers: Sequence[str] | None = None,
    config: StyleConfig | None = None,
    progress: ProgressCallback | None = None,
    vgg: Backbone | None = None,
    device: DeviceSpec | None = None,
) -> StyleResult:
    """Fig. 1: synthesise from ``config.init`` (white noise unless an image path) an image matching
    ``image`` at one content layer (eq. 1 only) or in the Gram matrices of ``style_layers`` (eq. 5 only).
    ``device`` as for :func:`~semvis.style.synthesis.stylize`."""
    if (content_layer is None) == (style_layers is None):
        raise StyleConfigError("give either a content layer or style layers to reconstruct from")
    base = config or StyleConfig()
    if base.init == "content":  # the photograph would already be the answer: Fig. 1 starts from noise
        base = replace(base, init="noise")
    if content_layer is not None:
        cfg = replace(base, content_layers=[content_layer], style_layers={})
        return stylize(image, [], cfg, None, progress, vgg=vgg, device=device)
    cfg = replace(base, content_layers={}, style_layers=list(style_layers))
    return stylize(image, [image], cfg, None, progress, vgg=vgg, device=device)


def layer_set_label(layers: Sequence[str]) -> str:
    """``relu1_1``, ``relu1_1 + relu2_1``, ``relu1_1 … relu3_1``."""
    if len(layers) <= 2:
        return " + ".join(layers)
    return f"{layers[0]} … {layers[-1]}"


def style_grid_results(
    content: ImageInput,
    style: ImageInput,
    ratios: Sequence[float] = RATIOS,
    layer_sets: Sequence[Sequence[str]] = LAYER_SETS,
    config: StyleConfig | None = None,
    progress: ProgressCallback | None = None,
    device: DeviceSpec | None = None,
) -> list[list[StyleResult]]:
    """Fig. 3's syntheses, ``[row = layer set][column = ratio]``, sharing one network and the loaded images.

    ``progress`` counts cells; ``device`` as for :func:`~semvis.style.synthesis.stylize`."""
    base = replace(config or StyleConfig(), style_weight=None)  # β = α / ratio in every column
    every_layer = [name for layers in layer_sets for name in layers]
    vgg = load_vgg(replace(base, style_layers=every_layer))
    content, style = as_image(content), as_image(style)
    cells = [(layers, ratio) for layers in layer_sets for ratio in ratios]
    results = [
        stylize(content, [style], replace(base, style_layers=list(layers), ratio=ratio), vgg=vgg, device=device)
        for layers, ratio in tracked(cells, "style grid", progress)
    ]
    return [results[i : i + len(ratios)] for i in range(0, len(results), len(ratios))]


def style_grid(
    content: ImageInput,
    style: ImageInput,
    ratios: Sequence[float] = RATIOS,
    layer_sets: Sequence[Sequence[str]] = LAYER_SETS,
    size: int = 128,
    steps: int = 100,
    config: StyleConfig | None = None,
    progress: ProgressCallback | None = None,
    device: DeviceSpec | None = None,
) -> Image.Image:
    """Fig. 3 as a labelled contact sheet: rows are style layer sets, columns α/β."""
    base = replace(config or StyleConfig(), size=size, pixels=None, scales=(), steps=steps)
    if not ratios or not layer_sets:
        raise StyleConfigError("the grid needs at least one ratio and one layer set")
    rows = style_grid_results(content, style, ratios, layer_sets, base, progress, device)
    cells = [[tensor_to_image(result.image) for result in row] for row in rows]
    return labelled_grid(
        cells,
        cells[0][0].size,
        row_labels=[layer_set_label(layers) for layers in layer_sets],
        col_labels=[f"alpha/beta = {ratio:g}" for ratio in ratios],  # the bundled font has no Greek
        title=GRID_TITLE,
    )
