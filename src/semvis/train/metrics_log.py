"""Per-epoch metrics: ``metrics.csv`` always, TensorBoard scalars when it is installed."""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import Any


def _tensorboard_writer(log_dir: Path) -> Any:
    """A ``SummaryWriter`` for ``log_dir``, or ``None`` without the tensorboard package."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(log_dir))


class MetricsLog:
    """Appends one row per epoch to ``out_dir/metrics.csv`` (columns fixed by the first row).

    ``keep_epochs`` is the number of epochs already done by a resumed run: rows past
    it (written after the checkpoint an interrupted run resumes from) are dropped,
    and a fresh run (``keep_epochs=0``) starts a new file. A disabled log (non-zero
    ranks) writes nothing.
    """

    def __init__(self, out_dir: Path, keep_epochs: int, enabled: bool = True) -> None:
        self.path = out_dir / "metrics.csv"
        self.enabled = enabled
        self._fields: list[str] | None = None
        self._tensorboard = None
        if enabled:
            out_dir.mkdir(parents=True, exist_ok=True)
            self._fields = self._keep_rows(keep_epochs)
            self._tensorboard = _tensorboard_writer(out_dir / "tensorboard")

    def _keep_rows(self, keep_epochs: int) -> list[str] | None:
        """Rewrite the CSV with rows up to ``keep_epochs``; return its header, if any remains."""
        if not self.path.exists() or keep_epochs == 0:
            self.path.unlink(missing_ok=True)
            return None
        with self.path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            rows = [row for row in reader if int(row["epoch"]) <= keep_epochs]
        with self.path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fields)
            writer.writeheader()
            writer.writerows(rows)
        return fields

    def write(self, row: dict[str, float]) -> None:
        """Append ``row`` (must contain ``epoch``) to the CSV and TensorBoard."""
        if not self.enabled:
            return
        new_file = self._fields is None
        self._fields = self._fields or list(row)
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, self._fields)
            if new_file:
                writer.writeheader()
            writer.writerow(row)
        if self._tensorboard is not None:
            for name, value in row.items():
                if name != "epoch":
                    self._tensorboard.add_scalar(name, value, global_step=int(row["epoch"]))

    def close(self) -> None:
        """Flush and close TensorBoard's writer."""
        if self._tensorboard is not None:
            self._tensorboard.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
