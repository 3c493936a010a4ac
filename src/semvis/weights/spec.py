"""What a weight file expects of its input: pixel convention and evaluation transform.

These are facts about *weights*, not about architectures: the same VGG-19 takes Caffe BGR
pixels with one file and torchvision's normalised RGB with another. Every semvis model takes
RGB in [0, 1]; the :class:`InputSpec` of its weights is applied inside the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """How the weights expect pixels: ``x' = (reorder(x * scale) - mean) / std``.

    ``mean`` and ``std`` are in the scaled units and in ``channel_order``.
    """

    channel_order: str = "RGB"
    scale: float = 1.0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.channel_order not in {"RGB", "BGR"}:
            raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")

    def describe(self) -> str:
        mean = ", ".join(f"{m:g}" for m in self.mean)
        std = ", ".join(f"{s:g}" for s in self.std)
        rng = "0..1" if self.scale == 1 else f"0..{self.scale:g}"
        return f"{self.channel_order} {rng}, mean ({mean}), std ({std})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        return cls(str(data["channel_order"]), float(data["scale"]), tuple(data["mean"]), tuple(data["std"]))


#: Caffe/Keras VGG convention (BGR, 0..255, minus the ImageNet mean pixel).
CAFFE_BGR = InputSpec("BGR", 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
#: torchvision convention.
TORCHVISION_RGB = InputSpec("RGB", 1.0, IMAGENET_MEAN, IMAGENET_STD)
#: Keras "tf" mode (Inception, Xception): RGB scaled to [-1, 1].
KERAS_TF = InputSpec("RGB", 1.0, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@dataclass(frozen=True)
class EvalTransform:
    """The evaluation preprocessing the published metrics were measured with (torchvision's ``transforms``).

    Resize the short side to ``size / crop_fraction`` with ``interpolation``, then crop
    ``size × size`` at the centre.
    """

    size: int = 224
    crop_fraction: float = 0.875
    interpolation: str = "bicubic"

    def __post_init__(self) -> None:
        if self.interpolation not in {"bilinear", "bicubic", "nearest"}:
            raise ValueError(f"interpolation must be bilinear, bicubic or nearest, got {self.interpolation!r}")
        if not 0 < self.crop_fraction <= 1:
            raise ValueError(f"crop_fraction must be in (0, 1], got {self.crop_fraction}")
