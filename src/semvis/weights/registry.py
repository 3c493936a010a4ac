"""The catalogue of known weight files (timm's ``default_cfgs`` / torchvision's ``Weights``).

Each network family registers its entries in its own module, beside the model. A
:class:`WeightEntry` states where a file comes from (URL, installed package), how to check
it (sha256, or the hash its publisher gives when no sha256 is published), its licence, its
format (hence converter and input convention), the evaluation transform and categories its
published metrics were measured with, the first convolution and classifier module names,
parameter count and those metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from semvis.errors import WeightsError
from semvis.weights.formats import FORMATS, WeightFormat
from semvis.weights.spec import EvalTransform, InputSpec


@dataclass(frozen=True)
class WeightEntry:
    """One weight file semvis knows how to find, verify and convert.

    ``sha256`` is the full digest when we could compute it; ``sha256_prefix`` is the
    leading digits that the publisher embeds in the file name (torchvision's
    convention) when the full digest is not published; ``md5`` is the digest Keras
    publishes. Verification uses the strongest one available.

    ``classifier``: the modules whose weights the file holds for classification
    (``()`` for a headless, "notop" file, which cannot classify). ``categories`` names
    the class list (``"imagenet-1k"``: :func:`semvis.assets.imagenet_classes`).
    """

    name: str
    arch: str
    filename: str
    format: str
    license: str
    description: str
    url: str | None = None
    package: str | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    md5: str | None = None
    size: int | None = None
    num_classes: int | None = None
    categories: str | None = None
    first_conv: str = ""
    classifier: tuple[str, ...] = ()
    transform: EvalTransform = field(default_factory=EvalTransform)
    num_params: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"{self.name}: unknown format {self.format!r}")
        if bool(self.classifier) != bool(self.num_classes):
            raise ValueError(f"{self.name}: classifier modules and num_classes go together")

    @property
    def weight_format(self) -> WeightFormat:
        return FORMATS[self.format]

    @property
    def input_spec(self) -> InputSpec:
        return self.weight_format.input_spec


_ENTRIES: dict[str, WeightEntry] = {}
_DEFAULTS: dict[str, str] = {}


def register_weights(entry: WeightEntry, default: bool = False) -> WeightEntry:
    """Add ``entry``; the first entry of an architecture is its default unless another says ``default``.

    A name registered twice raises.
    """
    if entry.name in _ENTRIES:
        raise ValueError(f"weights {entry.name!r} are already registered")
    _ENTRIES[entry.name] = entry
    if default or entry.arch not in _DEFAULTS:
        _DEFAULTS[entry.arch] = entry.name
    return entry


def list_weights(arch: str | None = None) -> list[WeightEntry]:
    return [e for e in _ENTRIES.values() if arch is None or e.arch == arch]


def get_weights(name: str) -> WeightEntry:
    if name not in _ENTRIES:
        known = ", ".join(sorted(_ENTRIES)) or "none yet (families register theirs when semvis.backbones is imported)"
        raise WeightsError(f"unknown weights {name!r}; known: {known}")
    return _ENTRIES[name]


def default_weights(arch: str) -> WeightEntry:
    if arch not in _DEFAULTS:
        raise WeightsError(f"no pretrained weights are registered for {arch!r}")
    return _ENTRIES[_DEFAULTS[arch]]
