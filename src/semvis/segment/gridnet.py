"""GridNet (Fourure et al. 2017, "Residual Conv-Deconv Grid Network for Semantic Segmentation").

A grid of feature maps ``X[r][c]``: row ``r`` is a stream at 1/2^r of the input resolution
with ``depths[r]`` channels (16, 32, 64, 128, 256 for the 5 rows); columns are computation
steps. Consecutive columns of a row are joined by a residual unit (BN-ReLU-conv-BN-ReLU-conv
plus the identity). In the first half of the columns each row also receives its upper
neighbour through a sub-sampling unit (BN-ReLU-conv stride 2-BN-ReLU-conv); in the second
half it receives its lower neighbour through an up-sampling unit (BN-ReLU-transposed conv
stride 2-BN-ReLU-conv)::

    column 0:        X[0][0] = stem(x),             X[r][0] = down(X[r-1][0])
    down column c:   X[0][c] = res(X[0][c-1]),      X[r][c] = res(X[r][c-1]) + down(X[r-1][c])
    up column c:     X[R-1][c] = res(X[R-1][c-1]),  X[r][c] = res(X[r][c-1]) + up(X[r+1][c])
    output:          head(X[0][C-1])   (BN-ReLU-conv to class logits)

Every convolution is 3×3 with padding 1 and stride 1 except the stride-2 sampling ones.

Any input size works, with no padding or cropping: a stride-2 convolution gives
``ceil(n / 2)`` and each transposed convolution is asked for the exact size of the row it
feeds (``output_size``), so 45×60 maps back to 45×60.

*Total dropout* (the paper's regulariser for using every stream) drops a residual unit
entirely — identity included — so the grid must carry the information through other
streams. Here each lateral unit is kept or dropped per sample with probability
``total_dropout`` during training, and kept units are scaled by ``1 / (1 - p)`` so that
training and evaluation see the same expected sums (inverted dropout).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: Channels of rows 0…4 (the paper's 5-row grid).
ROW_DEPTHS = (16, 32, 64, 128, 256)
#: Columns of the paper's grid: 3 sub-sampling then 3 up-sampling.
COLUMNS = 6


def _pre_activation(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.ReLU()]


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    # every conv here feeds a BN, directly or through the next unit, so a bias would be redundant
    return nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)


class ResidualUnit(nn.Module):
    """Lateral unit along a row: ``x + conv(ReLU(BN(conv(ReLU(BN(x))))))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_pre_activation(channels),
            _conv3x3(channels, channels),
            *_pre_activation(channels),
            _conv3x3(channels, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DownUnit(nn.Sequential):
    """Sub-sampling unit from row ``r`` to ``r + 1``: BN-ReLU-conv stride 2-BN-ReLU-conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            *_pre_activation(in_channels),
            _conv3x3(in_channels, out_channels, stride=2),
            *_pre_activation(out_channels),
            _conv3x3(out_channels, out_channels),
        )


class UpUnit(nn.Module):
    """Up-sampling unit from row ``r + 1`` to ``r``: BN-ReLU-transposed conv stride 2-BN-ReLU-conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pre = nn.Sequential(*_pre_activation(in_channels))
        self.deconv = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.post = nn.Sequential(*_pre_activation(out_channels), _conv3x3(out_channels, out_channels))

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """Upsample ``x`` to exactly ``size`` (the row above may have an odd side)."""
        return self.post(self.deconv(self.pre(x), output_size=list(size)))


class GridNet(nn.Module):
    """The 5-row × 6-column GridNet of Fourure et al. 2017 (see the module docstring).

    Args:
        num_classes: output channels (logits; softmax belongs to the loss).
        in_channels: 1 for grayscale input (the colorization setting), 3 for RGB; pixels in [0, 1].
        depths: channels of each row, top (full resolution) first.
        columns: even number of columns; the first half sub-samples, the second up-samples.
        total_dropout: probability of dropping a lateral residual unit (identity included)
            per sample during training; 0 disables it.
    """

    #: Model-file kind (:func:`semvis.weights.save_model`).
    kind = "gridnet"

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        depths: Sequence[int] = ROW_DEPTHS,
        columns: int = COLUMNS,
        total_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        depths = tuple(depths)
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"num_classes and in_channels must be positive, got {num_classes}, {in_channels}")
        if len(depths) < 2 or any(d < 1 for d in depths):
            raise ValueError(f"depths needs two or more positive row widths, got {depths}")
        if columns < 2 or columns % 2:
            raise ValueError(f"columns must be even and at least 2, got {columns}")
        if not 0.0 <= total_dropout < 1.0:
            raise ValueError(f"total_dropout must be in [0, 1), got {total_dropout}")
        half = columns // 2
        self.stem = _conv3x3(in_channels, depths[0])
        # lateral[c - 1][r] joins X[r][c - 1] to X[r][c]
        self.lateral = nn.ModuleList(nn.ModuleList(ResidualUnit(d) for d in depths) for _ in range(columns - 1))
        # down[c][r] feeds row r + 1 from row r in column c; up[c - half][r] feeds row r from row r + 1
        pairs = list(zip(depths[:-1], depths[1:]))
        self.down = nn.ModuleList(nn.ModuleList(DownUnit(a, b) for a, b in pairs) for _ in range(half))
        self.up = nn.ModuleList(nn.ModuleList(UpUnit(b, a) for a, b in pairs) for _ in range(half))
        self.head = nn.Sequential(*_pre_activation(depths[0]), nn.Conv2d(depths[0], num_classes, 3, padding=1))
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.depths = depths
        self.columns = columns
        self.total_dropout = total_dropout
        self.config = {
            "num_classes": num_classes,
            "in_channels": in_channels,
            "depths": list(depths),
            "columns": columns,
            "total_dropout": total_dropout,
        }

    def _drop(self, y: torch.Tensor) -> torch.Tensor:
        """Total dropout of one lateral unit's output, per sample (identity when evaluating)."""
        p = self.total_dropout
        if not self.training or p == 0.0:
            return y
        keep = torch.rand(y.shape[0], 1, 1, 1, device=y.device) >= p
        return y * keep.to(y.dtype) / (1.0 - p)

    def _laterals(self, column: int, streams: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self._drop(unit(x)) for unit, x in zip(self.lateral[column - 1], streams)]

    @staticmethod
    def _down_column(units: nn.ModuleList, laterals: list[torch.Tensor | None]) -> list[torch.Tensor]:
        out = [laterals[0]]
        for unit, lateral in zip(units, laterals[1:]):
            y = unit(out[-1])
            out.append(y if lateral is None else y + lateral)
        return out

    @staticmethod
    def _up_column(units: nn.ModuleList, laterals: list[torch.Tensor]) -> list[torch.Tensor]:
        out = [laterals[-1]]
        for unit, lateral in zip(reversed(units), reversed(laterals[:-1])):
            out.append(lateral + unit(out[-1], lateral.shape[-2:]))
        return out[::-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``N × num_classes × H × W`` for an ``N × in_channels × H × W`` batch."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected an N×{self.in_channels}×H×W batch, got shape {tuple(x.shape)}")
        half = self.columns // 2
        first: list[torch.Tensor | None] = [self.stem(x)] + [None] * (len(self.depths) - 1)
        streams = self._down_column(self.down[0], first)
        for c in range(1, self.columns):
            laterals = self._laterals(c, streams)
            if c < half:
                streams = self._down_column(self.down[c], laterals)
            else:
                streams = self._up_column(self.up[c - half], laterals)
        return self.head(streams[0])
