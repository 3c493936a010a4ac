"""The classes a label map holds: names, display colours and the ignored label value."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Any

#: The label value losses, scores and padding skip unless a dataset names another.
DEFAULT_IGNORE_INDEX = 255


@dataclass(frozen=True)
class LabelSpec:
    """The classes a segmenter predicts: names, display colours and the ignored label value."""

    classes: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...] = ()
    ignore_index: int = DEFAULT_IGNORE_INDEX

    def to_dict(self) -> dict[str, object]:
        return {
            "classes": list(self.classes),
            "colors": [list(c) for c in self.colors],
            "ignore_index": self.ignore_index,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelSpec:
        """The inverse of :meth:`to_dict` (as stored in a model file's header)."""
        colors = tuple((int(r), int(g), int(b)) for r, g, b in data.get("colors", ()))
        return cls(tuple(str(c) for c in data["classes"]), colors, int(data.get("ignore_index", DEFAULT_IGNORE_INDEX)))

    @property
    def palette(self) -> list[tuple[int, int, int]]:
        """The colours, or evenly spread hues (golden-ratio steps) when none were given."""
        if self.colors:
            return list(self.colors)
        hues = ((0.618034 * i) % 1.0 for i in range(len(self.classes)))
        return [tuple(round(255 * c) for c in colorsys.hsv_to_rgb(h, 0.65, 0.95)) for h in hues]
