"""Neural style transfer (Gatys et al. 2015) on VGG-19 with the real ImageNet weights.

``stylize(content, styles, StyleConfig(...))`` minimises eq. 7 with L-BFGS (from the photograph by default);
``reconstruct`` and ``style_grid`` reproduce Fig. 1 and Fig. 3. See ``docs/style.md``.
"""

from semvis.style.color import combine_luminance, luminance, match_color_histogram, match_luminance_stats
from semvis.style.grid import LAYER_SETS, RATIOS, reconstruct, style_grid, style_grid_results
from semvis.style.losses import (
    blend_grams,
    content_loss,
    feature_matrix,
    gram_matrix,
    layer_style_loss,
    style_loss,
    total_loss,
    total_variation,
    weights_from_ratio,
)
from semvis.style.masks import load_region_masks, masked_layer_style_loss, resize_mask_to
from semvis.style.memory import MemoryEstimate, available_memory, estimate_memory
from semvis.style.synthesis import (
    CONTENT_LAYERS,
    STYLE_LAYERS,
    LossRecord,
    StyleConfig,
    StyleConfigError,
    StyleResult,
    gram_loss,
    load_vgg,
    parse_layers,
    stylize,
)

__all__ = [
    "CONTENT_LAYERS",
    "LAYER_SETS",
    "RATIOS",
    "STYLE_LAYERS",
    "LossRecord",
    "MemoryEstimate",
    "StyleConfig",
    "StyleConfigError",
    "StyleResult",
    "available_memory",
    "blend_grams",
    "combine_luminance",
    "content_loss",
    "estimate_memory",
    "feature_matrix",
    "gram_loss",
    "gram_matrix",
    "layer_style_loss",
    "load_region_masks",
    "load_vgg",
    "luminance",
    "masked_layer_style_loss",
    "match_color_histogram",
    "match_luminance_stats",
    "parse_layers",
    "reconstruct",
    "resize_mask_to",
    "stylize",
    "style_grid",
    "style_grid_results",
    "style_loss",
    "total_loss",
    "total_variation",
    "weights_from_ratio",
]
