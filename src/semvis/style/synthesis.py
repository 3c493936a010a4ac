"""Image synthesis of Gatys, Ecker & Bethge 2015: find the image whose VGG-19 responses minimise
eq. 7, ``α L_content + β L_style``, with L-BFGS — by default from the photograph, not the paper's
white noise (``init="noise"``): it reaches a given eq. 7 in far fewer steps and leaves no pixel
noise in the result (docs/style.md, "The saved image").

The image is optimised in semvis' RGB [0, 1] space; the backbone applies the Caffe
convention (BGR, 0–255, minus the mean pixel) inside, so the losses are the paper's, but a
unit step of the optimiser is 255 Caffe grey levels (this sets Adam's learning rate). The image
is kept in [0, 1] while it is optimised (``project``, :func:`project_`, :func:`hold_bounds_`), so
the loss reported is the loss of the image saved. A "step" is one evaluation of eq. 7 and its
gradient (one forward and backward pass), for both optimisers.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from semvis.backbones import Backbone, create_backbone
from semvis.data.images import MIN_SIDE, check_sides, load_tensor, save_image
from semvis.device import DeviceSpec, model_device, resolve_device
from semvis.errors import SemvisError
from semvis.progress import ProgressCallback, report
from semvis.style.color import combine_luminance, luminance, match_color_histogram, match_luminance_stats
from semvis.style.losses import blend_grams, content_loss, gram_matrix, total_loss, total_variation
from semvis.style.masks import masked_layer_style_loss, resize_mask_to
from semvis.style.memory import check_memory, estimate_memory, vgg19_stages

#: The paper's layers: content at relu4_2, style at relu1_1 … relu5_1 with w_l = 1/5 (eq. 5).
CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_SIZE = 512
#: Adam's step in [0, 1] image units (≈ 13 grey levels); the best of 0.02–0.2 measured, see docs/style.md.
ADAM_LR = 0.05
OPTIMIZERS = ("lbfgs", "adam")
LINE_SEARCHES = ("strong_wolfe", "none")
PRESERVE_COLOR = ("luminance", "histogram")
POOLINGS = ("avg", "max")

log = logging.getLogger(__name__)

ImageInput = torch.Tensor | str | os.PathLike[str]
LayerSpec = str | Sequence[str] | Mapping[str, float]


class StyleConfigError(SemvisError, ValueError):
    """A setting that cannot work: an unknown layer, a size below 16 px, a negative weight…"""


def parse_layers(spec: LayerSpec) -> dict[str, float]:
    """Layer weights from ``"relu1_1:0.2,relu2_1"``, a list of names or a mapping.

    A layer given without a weight gets ``1 / number of layers`` (eq. 5's ``w_l = 1/5`` for five).
    """
    if isinstance(spec, Mapping):
        items: list[tuple[str, float | None]] = [(str(k), float(v)) for k, v in spec.items()]
    else:
        items = []
        for part in spec.split(",") if isinstance(spec, str) else spec:
            name, sep, weight = part.strip().partition(":")
            if not name:
                continue
            try:
                items.append((name.strip(), float(weight) if sep else None))
            except ValueError:
                raise StyleConfigError(f"layer weight {weight!r} of {name} is not a number") from None
    valid = list(vgg19_stages())
    unknown = [name for name, _ in items if name not in valid]
    if unknown:
        raise StyleConfigError(f"unknown VGG-19 layer(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    if any(w is not None and (w < 0 or not math.isfinite(w)) for _, w in items):
        raise StyleConfigError(f"layer weights must be finite and non-negative, got {spec!r}")
    return {name: 1 / len(items) if w is None else w for name, w in items}


def fit_size(size: Sequence[int], side: int) -> tuple[int, int]:
    """``(H, W)`` scaled so that the longer side is ``side``, keeping the aspect ratio."""
    scale = side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


@dataclass
class StyleConfig:
    """Every setting of a synthesis; the defaults are the paper's (§2 and Methods) except the start
    (``init="content"``) and the projection (``project=True``), see docs/style.md."""

    ratio: float = 1e-3  #: α/β of eq. 7 (1e-3; 1e-4 in Fig. 2 E,F); ignored when style_weight is set
    content_weight: float = 1.0  #: α
    style_weight: float | None = None  #: β; None: α / ratio
    tv_weight: float = 0.0  #: squared total variation (not in the paper)
    content_layers: dict[str, float] = field(default_factory=lambda: parse_layers(CONTENT_LAYERS))
    style_layers: dict[str, float] = field(default_factory=lambda: parse_layers(STYLE_LAYERS))
    style_blend: tuple[float, ...] | None = None  #: one weight per style image; None: equal
    style_scale: float = 1.0  #: style images' longer side relative to the output's
    size: int | None = None  #: output's longer side; default max(scales) or 512
    pixels: int | None = None  #: output's pixel count instead of size
    scales: tuple[int, ...] = ()  #: longer sides of coarse stages, optimised first (coarse-to-fine)
    init: str = "content"  #: "content", "noise" (the paper's white noise) or an image path
    optimizer: str = "lbfgs"
    steps: int = 500  #: evaluations of eq. 7, over all stages
    lr: float | None = None  #: None: 1 for L-BFGS, ADAM_LR for Adam
    lbfgs_history: int = 100
    line_search: str = "strong_wolfe"  #: L-BFGS only; "none": one evaluation per iteration, can diverge
    project: bool = True  #: keep the image in [0, 1] during the optimisation (:func:`project_`)
    max_seconds: float | None = None  #: stop when this many seconds have passed since the call
    seed: int = 0
    preserve_color: str | None = None  #: None, "luminance" or "histogram"
    snapshot_every: int = 0
    snapshot_dir: Path | None = None
    pooling: str = "avg"
    weights: str | None = None  #: a VGG-19 weight name or file; None: the registry's default

    def __post_init__(self) -> None:
        self.content_layers = parse_layers(self.content_layers)
        self.style_layers = parse_layers(self.style_layers)
        self.scales = tuple(int(s) for s in self.scales)
        self.style_blend = None if self.style_blend is None else tuple(float(b) for b in self.style_blend)
        self.snapshot_dir = None if self.snapshot_dir is None else Path(self.snapshot_dir)
        for problem in self._problems():
            raise StyleConfigError(problem)

    def _problems(self) -> list[str]:
        checks = [
            (self.content_layers or self.style_layers, "give at least one content or style layer"),
            (self.ratio > 0, f"the content/style ratio must be positive, got {self.ratio}"),
            (self.content_weight >= 0 and (self.style_weight or 0) >= 0, "content and style weights must be ≥ 0"),
            (self.tv_weight >= 0, f"tv_weight must be ≥ 0, got {self.tv_weight}"),
            (self.size is None or self.pixels is None, "give the output size as size or pixels, not both"),
            (self.size is None or self.size >= MIN_SIDE, f"size must be at least {MIN_SIDE} px, got {self.size}"),
            (self.pixels is None or self.pixels >= MIN_SIDE**2, f"pixels must be ≥ {MIN_SIDE**2}, got {self.pixels}"),
            (all(s >= MIN_SIDE for s in self.scales), f"scales must be at least {MIN_SIDE} px, got {self.scales}"),
            (list(self.scales) == sorted(set(self.scales)), f"scales must increase, got {self.scales}"),
            (self.style_scale > 0, f"style_scale must be positive, got {self.style_scale}"),
            (self.steps >= 1, f"steps must be at least 1, got {self.steps}"),
            (
                self.max_seconds is None or self.max_seconds > 0,
                f"max_seconds must be positive, got {self.max_seconds}",
            ),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"),
            (self.lr is None or self.lr > 0, f"lr must be positive, got {self.lr}"),
            (self.lbfgs_history >= 1, f"lbfgs_history must be ≥ 1, got {self.lbfgs_history}"),
            (
                self.line_search in LINE_SEARCHES,
                f"line_search must be one of {LINE_SEARCHES}, got {self.line_search!r}",
            ),
            (self.preserve_color in (None, *PRESERVE_COLOR), f"preserve_color must be one of {PRESERVE_COLOR}"),
            (self.snapshot_every >= 0, f"snapshot_every must be ≥ 0, got {self.snapshot_every}"),
            (self.pooling in POOLINGS, f"pooling must be one of {POOLINGS}, got {self.pooling!r}"),
            (
                self.style_blend is None or (min(self.style_blend, default=-1) >= 0 and sum(self.style_blend) > 0),
                f"style_blend must be non-negative weights, not all zero, got {self.style_blend}",
            ),
        ]
        return [message for ok, message in checks if not ok]

    @property
    def alpha(self) -> float:
        return self.content_weight

    @property
    def beta(self) -> float:
        return self.content_weight / self.ratio if self.style_weight is None else self.style_weight

    @property
    def layers(self) -> list[str]:
        """Content and style layers, each once."""
        return list(dict.fromkeys([*self.content_layers, *self.style_layers]))

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (1.0 if self.optimizer == "lbfgs" else ADAM_LR)

    def output_size(self, content_size: Sequence[int]) -> tuple[int, int]:
        """``(H, W)`` of the result for a content image of ``content_size``."""
        if self.pixels is not None:
            h, w = content_size
            scale = math.sqrt(self.pixels / (h * w))
            return max(1, round(h * scale)), max(1, round(w * scale))
        return fit_size(content_size, self.size or max(self.scales, default=DEFAULT_SIZE))

    def stage_sizes(self, content_size: Sequence[int]) -> list[tuple[int, int]]:
        """``(H, W)`` of each coarse-to-fine stage; the last is the output size."""
        final = self.output_size(content_size)
        if any(s > max(final) for s in self.scales):
            raise StyleConfigError(f"scales {self.scales} exceed the output's longer side {max(final)} px")
        sizes = [fit_size(final, s) for s in self.scales if s < max(final)] + [final]
        for h, w in sizes:
            check_sides((w, h), "the image would be", StyleConfigError)
        return sizes

    def stage_steps(self, stages: int) -> list[int]:
        """The step budget split over stages, each coarser stage getting twice the next finer one's."""
        if stages > self.steps:
            raise StyleConfigError(f"{self.steps} steps cannot cover {stages} scales (at least one each)")
        shares = [2.0 ** (stages - 1 - i) for i in range(stages)]
        steps = [max(1, math.floor(self.steps * s / sum(shares))) for s in shares]
        steps[-1] += self.steps - sum(steps)
        return steps

    def to_dict(self) -> dict[str, object]:
        """JSON-ready settings (stored in the PNG metadata of results)."""
        data = asdict(self)
        data["snapshot_dir"] = None if self.snapshot_dir is None else str(self.snapshot_dir)
        data.update(alpha=self.alpha, beta=self.beta)
        return data


@dataclass(frozen=True)
class LossRecord:
    """The terms of eq. 7 at one evaluation: ``step`` counts over all stages from 1, ``seconds``
    since :func:`stylize` was called (loading and targets included)."""

    step: int
    stage: int
    seconds: float
    total: float
    content: float
    style: float
    tv: float


@dataclass
class StyleResult:
    image: torch.Tensor  #: 1×3×H×W, in [0, 1] unless project=False (then clamped only when saved)
    history: list[LossRecord]
    seconds: float
    config: StyleConfig
    sizes: list[tuple[int, int]]  #: (H, W) of each stage


@dataclass
class Targets:
    """What one stage matches: ``P^l`` (eq. 1) and ``A^l`` (eq. 4), plus region masks per layer."""

    content: dict[str, torch.Tensor]
    grams: list[dict[str, torch.Tensor]]  #: one blended set, or one per mask region
    masks: dict[str, torch.Tensor] | None = None


@dataclass
class LossTerms:
    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor


def load_vgg(config: StyleConfig) -> Backbone:
    """VGG-19 with the configured weights and pooling, cut after the deepest layer in use; frozen, channels-last."""
    extractor = create_backbone(
        "vgg19", pretrained=config.weights or True, pooling=config.pooling, features=config.layers
    )
    return extractor.backbone.eval().requires_grad_(False).to(memory_format=torch.channels_last)


def resize(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear (antialiased) resize of a ``B × C × H × W`` image to ``size = (H, W)``."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)


def _features(vgg: Backbone, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    return vgg.forward_features(image.contiguous(memory_format=torch.channels_last), layers)


def style_sizes(styles: Sequence[torch.Tensor], config: StyleConfig, size: Sequence[int]) -> list[tuple[int, int]]:
    """``(H, W)`` of each style image for an output of ``size``: longer side ``style_scale × max(size)``.

    A style image so thin that a side would fall under 16 px is a :class:`StyleConfigError`.
    """
    side = max(1, round(config.style_scale * max(size)))
    fitted = [fit_size(style.shape[-2:], side) for style in styles]
    for h, w in fitted:
        check_sides((w, h), "a style image would be", StyleConfigError)
    return fitted


def compute_targets(
    vgg: Backbone,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    config: StyleConfig,
    masks: torch.Tensor | None = None,
) -> Targets:
    """``P^l`` of ``content`` and the style Grams ``A^l`` for an image of ``content``'s size.

    Each image goes through VGG once. ``A^l`` is the style image's Gram matrix rescaled by
    ``M_l / M_l(style)`` so that eq. 4 compares sums over the same number of positions when the
    sizes differ (with masks: by the region's area). Several styles without masks are blended.
    """
    style_layers = list(config.style_layers)
    with torch.inference_mode():
        feats = _features(vgg, content, config.layers)
        per_position = []
        for style, size in zip(styles, style_sizes(styles, config, content.shape[-2:])):
            style_feats = _features(vgg, resize(style, size), style_layers)
            per_position.append({name: gram_matrix(f) / f[0, 0].numel() for name, f in style_feats.items()})
    content_targets = {name: feats[name] for name in config.content_layers}
    if not per_position:
        return Targets(content_targets, [{}])
    if masks is None:
        blended = blend_grams(per_position, config.style_blend or (1.0,) * len(styles))
        return Targets(content_targets, [{name: g * feats[name][0, 0].numel() for name, g in blended.items()}])
    layer_masks = {name: resize_mask_to(masks, feats[name]) for name in style_layers}
    grams = [{name: g[name] * layer_masks[name][r].sum() for name in style_layers} for r, g in enumerate(per_position)]
    return Targets(content_targets, grams, layer_masks)


class _GramLoss(torch.autograd.Function):
    """Eq. 4 forward; eq. 6 backward as one matmul that keeps the features' memory layout."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        f = features.flatten(2)
        diff = torch.bmm(f, f.transpose(1, 2)) - target
        ctx.save_for_backward(features, diff)
        ctx.norm = (f.shape[1] * f.shape[2]) ** 2  # N² M²
        return diff.pow(2).sum() / (4 * ctx.norm)

    @staticmethod
    @once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        features, diff = ctx.saved_tensors
        d = (diff + diff.transpose(1, 2)) * (grad / (2 * ctx.norm))  # (G − A) / (N² M²), symmetrised
        g = torch.bmm(features.flatten(2).transpose(1, 2), d.expand(features.shape[0], -1, -1))
        return g.transpose(1, 2).reshape(features.shape), None


def gram_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """:func:`~semvis.style.losses.layer_style_loss` (eq. 4) with the same gradient (eq. 6), faster.

    Autograd of ``‖F Fᵀ − A‖²`` costs two matmuls and an add per layer, and returns a gradient in
    a different memory layout than the channels-last features; eq. 6 needs one matmul. This makes
    a 512 px step about 14% faster.
    """
    return _GramLoss.apply(features, target_gram)


def objective(vgg: Backbone, image: torch.Tensor, targets: Targets, config: StyleConfig) -> LossTerms:
    """Eq. 7 of ``image`` (plus ``tv_weight`` × squared TV): content Σ_l w_l eq. 1, style eq. 5."""
    feats = _features(vgg, image, config.layers)
    zero = image.new_zeros(())
    content = sum(
        (w * content_loss(feats[name], targets.content[name]) for name, w in config.content_layers.items()), zero
    )
    if not config.style_layers:
        style = zero
    elif targets.masks is None:
        style = sum(
            (w * gram_loss(feats[name], targets.grams[0][name]) for name, w in config.style_layers.items()), zero
        )
    else:
        style = sum(
            (
                w * masked_layer_style_loss(feats[name], targets.masks[name], [g[name] for g in targets.grams])
                for name, w in config.style_layers.items()
            ),
            zero,
        )
    tv = total_variation(image) if config.tv_weight else zero
    return LossTerms(total_loss(content, style, config.alpha, config.beta) + config.tv_weight * tv, content, style, tv)


Recorder = Callable[[torch.Tensor, LossTerms], None]
SnapshotHook = Callable[[int, torch.Tensor], None]


def optimise(
    vgg: Backbone,
    init: torch.Tensor,
    targets: Targets,
    config: StyleConfig,
    steps: int,
    record: Recorder,
    *,
    extra_loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
    deadline: float | None = None,
) -> torch.Tensor:
    """Minimise eq. 7 from ``init`` for exactly ``steps`` evaluations; ``record`` sees each image and its terms.

    L-BFGS runs as one ``torch.optim.LBFGS.step`` that is cut off when the budget is spent (a line
    search may evaluate several times per iteration). ``extra_loss(image)``, if given, is added to the
    total (and so to what ``record`` sees), e.g. the temporal term of video style transfer.
    ``deadline`` (a ``time.perf_counter()`` value) ends it earlier, after at least one evaluation.
    Returns the evaluated image with the lowest total; stops early if the loss becomes non-finite.
    """
    x = init.detach().clone().requires_grad_(True)
    best = _Best(x.detach().clone())

    def closure() -> torch.Tensor:
        late = deadline is not None and best.evaluations and time.perf_counter() >= deadline
        if best.evaluations == steps or late or not math.isfinite(best.last):
            raise _Stop
        if config.project:
            project_(x)
        optimizer.zero_grad(set_to_none=True)
        terms = objective(vgg, x, targets, config)
        if extra_loss is not None:
            terms = replace(terms, total=terms.total + extra_loss(x))
        terms.total.backward()
        if config.project:
            hold_bounds_(x)
        record(x.detach(), terms)
        best.update(x, terms.total.item())
        return terms.total.detach()

    if config.optimizer == "lbfgs":
        optimizer: torch.optim.Optimizer = torch.optim.LBFGS(
            [x],
            lr=config.learning_rate,
            max_iter=steps,
            max_eval=2 * steps,
            history_size=config.lbfgs_history,
            line_search_fn=None if config.line_search == "none" else config.line_search,
        )
    else:
        optimizer = torch.optim.Adam([x], lr=config.learning_rate)
    with contextlib.suppress(_Stop):
        for _ in range(1 if config.optimizer == "lbfgs" else steps):
            optimizer.step(closure)
    if not math.isfinite(best.last):
        log.warning("eq. 7 became %s after %d steps; keeping the best image", best.last, best.evaluations)
    return best.image.clamp(0, 1) if config.project else best.image


def project_(image: torch.Tensor) -> None:
    """Clamp ``image`` to the valid range [0, 1] in place, outside autograd.

    Run before every evaluation, so that each step L-BFGS takes is projected back (its curvature
    pairs then see the projected move); the image scored and saved is the one optimised, instead
    of an unconstrained one that saving clamps (which doubled eq. 7 of the saved file, see docs).
    """
    with torch.no_grad():
        image.clamp_(0, 1)


def hold_bounds_(image: torch.Tensor) -> None:
    """Zero the gradient of pixels at 0 or 1 that descent would push out of range (projected gradient).

    With only :func:`project_`, L-BFGS keeps stepping such pixels outwards and every step is cut
    back; without those components its direction and curvature pairs live in the free pixels. On
    two tuning pairs (256 px, 120 steps) eq. 7 came out 1–2 % lower than clamping alone, and fewer
    values sat at 0 or 255 (5 % vs 12 %).
    """
    with torch.no_grad():
        grad = image.grad
        grad[((image <= 0) & (grad > 0)) | ((image >= 1) & (grad < 0))] = 0


class _Stop(Exception):
    """Raised inside the closure to end the optimiser once the step budget is spent."""


class _Best:
    """The evaluated image with the lowest loss so far."""

    def __init__(self, image: torch.Tensor) -> None:
        self.image, self.loss, self.last, self.evaluations = image, math.inf, 0.0, 0

    def update(self, x: torch.Tensor, loss: float) -> None:
        self.evaluations, self.last = self.evaluations + 1, loss
        if loss < self.loss:
            self.loss = loss
            self.image.copy_(x.detach())


def as_image(image: ImageInput) -> torch.Tensor:
    """A path (loaded, any size) or a 3×H×W / 1×3×H×W tensor in [0, 1] as a 1×3×H×W float tensor."""
    if not isinstance(image, torch.Tensor):
        return load_tensor(image)
    if image.dim() == 3:
        image = image[None]
    if image.dim() != 4 or image.shape[:2] != (1, 3):
        raise StyleConfigError(f"expected a 1×3×H×W RGB image tensor, got shape {tuple(image.shape)}")
    return image.float()


def _gray(y: torch.Tensor) -> torch.Tensor:
    return y.repeat(1, 3, 1, 1)


def prepare_colors(
    content: torch.Tensor, styles: Sequence[torch.Tensor], mode: str | None
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The images synthesis works on: Gatys et al. 2016 method 1 recolours each style to the
    photograph's colour statistics; method 2 uses luminance only (style Y matched in mean and std)."""
    if mode == "histogram":
        return content, [match_color_histogram(s, content) for s in styles]
    if mode == "luminance":
        y = luminance(content)
        return _gray(y), [_gray(match_luminance_stats(luminance(s), y)) for s in styles]
    return content, list(styles)


def _check_inputs(styles: Sequence[torch.Tensor], config: StyleConfig, masks: torch.Tensor | None) -> None:
    if config.style_layers and not styles:
        raise StyleConfigError("style layers are set but no style image was given")
    if config.style_blend is not None and len(config.style_blend) != len(styles):
        raise StyleConfigError(f"{len(styles)} style images but {len(config.style_blend)} blend weights")
    if masks is not None:
        if masks.dim() != 3 or masks.shape[0] != len(styles):
            raise StyleConfigError(f"need one R×H×W mask per style: {len(styles)} styles, masks {tuple(masks.shape)}")
        if config.style_blend is not None:
            raise StyleConfigError("style_blend does not apply with region masks (one style per region)")


class _Monitor:
    """Records each evaluation, reports progress and writes snapshots."""

    def __init__(
        self,
        config: StyleConfig,
        total: int,
        progress: ProgressCallback | None,
        on_snapshot: SnapshotHook | None,
        start: float,
    ) -> None:
        self.config, self.total, self.progress = config, total, progress
        self.on_snapshot, self.start = on_snapshot, start
        self.history: list[LossRecord] = []
        self.stage = 0
        self.size = ""  #: the stage's W×H, shown in the status
        self.finish: Callable[[torch.Tensor], torch.Tensor] = lambda x: x

    def __call__(self, image: torch.Tensor, terms: LossTerms) -> None:
        values = [t.item() for t in (terms.total, terms.content, terms.style, terms.tv)]
        record = LossRecord(len(self.history) + 1, self.stage, time.perf_counter() - self.start, *values)
        self.history.append(record)
        status = (
            f"{self.size} total {record.total:.3e}  content {record.content:.3e}  "
            f"style {record.style:.3e}  tv {record.tv:.3e}"
        )
        report(self.progress, "stylize", record.step, self.total, status)
        every = self.config.snapshot_every
        if every and record.step % every == 0:
            snapshot = self.finish(image).cpu()
            if self.config.snapshot_dir is not None:
                save_image(snapshot, self.config.snapshot_dir / f"step_{record.step:05d}.png")
            if self.on_snapshot is not None:
                self.on_snapshot(record.step, snapshot)


def _finisher(content: torch.Tensor, size: Sequence[int], mode: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The stage's image → a result: method 2 puts the photograph's I, Q back under the synthesised Y."""
    if mode != "luminance":
        return lambda x: x
    content_rgb = resize(content, size)
    return lambda x: combine_luminance(luminance(x), content_rgb)


def synthesis_device(vgg: Backbone | None, device: DeviceSpec | None) -> torch.device:
    """Where a synthesis runs: ``resolve_device(device)``; ``None``: where ``vgg`` is (a new VGG: the CPU)."""
    if device is not None:
        return resolve_device(device)
    return torch.device("cpu") if vgg is None else model_device(vgg)


def stylize(
    content: ImageInput,
    styles: Sequence[ImageInput],
    config: StyleConfig | None = None,
    masks: torch.Tensor | None = None,
    progress: ProgressCallback | None = None,
    *,
    vgg: Backbone | None = None,
    on_snapshot: SnapshotHook | None = None,
    device: DeviceSpec | None = None,
) -> StyleResult:
    """Render ``content`` in the style of ``styles`` (Gatys et al. 2015, eq. 7).

    Images are paths or RGB tensors in [0, 1]. ``masks`` (``R × H × W``, any resolution) give
    one style per region. Stages run coarse to fine: each starts from the previous result,
    upsampled, and computes its targets once. ``vgg`` reuses a network from :func:`load_vgg`
    (it must reach the deepest layer in use). The synthesis runs on :func:`synthesis_device`
    (``vgg`` is moved there) and the result comes back on the CPU; ``progress`` gets one update
    per step. ``config.max_seconds`` ends every stage still running at that time after one evaluation
    (the result is then the best image of the last stage). Sizes whose memory estimate exceeds
    that device's free memory are refused with a
    :class:`SemvisError` before anything large is allocated.
    """
    config = config or StyleConfig()
    start = time.perf_counter()
    content = as_image(content)
    styles = [as_image(s) for s in styles]
    _check_inputs(styles, config, masks)
    sizes = config.stage_sizes(content.shape[-2:])
    style_sizes(styles, config, sizes[0])  # the coarsest stage shrinks the styles most: refused before any work
    fitted = style_sizes(styles, config, sizes[-1])
    estimate = estimate_memory(sizes[-1], config.layers, config.optimizer, config.lbfgs_history, fitted)
    device = synthesis_device(vgg, device)
    check_memory(estimate, sizes[-1], device)
    vgg = (vgg or load_vgg(config)).to(device)
    work_content, work_styles = prepare_colors(content, styles, config.preserve_color)
    work_content, work_styles = work_content.to(device), [s.to(device) for s in work_styles]
    content, masks = content.to(device), None if masks is None else masks.to(device)
    steps = config.stage_steps(len(sizes))
    monitor = _Monitor(config, sum(steps), progress, on_snapshot, start)
    image = initial_image(config, work_content, sizes[0])
    deadline = None if config.max_seconds is None else start + config.max_seconds
    for stage, (size, n) in enumerate(zip(sizes, steps)):
        monitor.stage, monitor.size = stage, f"{size[1]}×{size[0]}"
        monitor.finish = _finisher(content, size, config.preserve_color)
        targets = compute_targets(vgg, resize(work_content, size), work_styles, config, masks)
        image = optimise(
            vgg, upsample(image, work_content, size, config), targets, config, n, monitor, deadline=deadline
        )
    return StyleResult(monitor.finish(image).cpu(), monitor.history, time.perf_counter() - start, config, sizes)


def upsample(image: torch.Tensor, content: torch.Tensor, size: Sequence[int], config: StyleConfig) -> torch.Tensor:
    """A coarse stage's result as the start at ``size``.

    From the photograph (``init="content"``) only the change the coarse stage made is upsampled and
    added to the photograph at ``size``: upsampling the whole image would blur away the photograph's
    fine detail, which the finer stage then has to rebuild. On two tuning pairs (128 → 256 px, 40
    coarse steps) this start gave a 1–7 % lower eq. 7 than the plain upsampled one after 30 and 60
    fine steps. Other starts are upsampled as they are (bilinear, antialiased).
    """
    if tuple(image.shape[-2:]) == tuple(size) or config.init != "content":
        return resize(image, size)
    change = image - resize(content, image.shape[-2:])
    return (resize(content, size) + resize(change, size)).clamp(0, 1)


def initial_image(config: StyleConfig, content: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """The first stage's start on ``content``'s device: uniform white noise in [0, 1] (seeded on the CPU,
    so every device starts from the same noise), the content, or an image file."""
    if config.init == "noise":
        noise = torch.rand((1, 3, *size), generator=torch.Generator().manual_seed(config.seed))
        return noise.to(content.device)
    image = content if config.init == "content" else load_tensor(config.init).to(content.device)
    return resize(image, size)
