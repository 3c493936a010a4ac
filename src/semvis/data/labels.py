"""The classes a label map holds: names, display colours and the ignored label value."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from semvis.data.datasets import SegmentationDataset


@dataclass(frozen=True)
class LabelSpec:
    """The classes a segmenter predicts: names, display colours and the ignored label value."""

    classes: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...] = ()
    ignore_index: int = 255

    @classmethod
    def from_dataset(cls, dataset: SegmentationDataset) -> LabelSpec:
        return cls(tuple(dataset.classes), tuple(dataset.colors), dataset.ignore_index)

    @property
    def palette(self) -> list[tuple[int, int, int]]:
        """The colours, or evenly spread hues (golden-ratio steps) when none were given."""
        if self.colors:
            return list(self.colors)
        hues = ((0.618034 * i) % 1.0 for i in range(len(self.classes)))
        return [tuple(round(255 * c) for c in colorsys.hsv_to_rgb(h, 0.65, 0.95)) for h in hues]
