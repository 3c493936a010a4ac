"""Timing helpers shared by the benchmark scripts (imported as ``timing``: scripts run from this folder)."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import torch
from torch.utils.flop_counter import FlopCounterMode


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_flops_per_s(repeats: int, sizes: tuple[int, ...] = (1024, 2048, 3072)) -> float:
    """The best fp32 FLOP/s of square matmuls: this machine's practical peak, the reference of a run."""
    rates = []
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        rates.append(2 * n**3 / best_seconds(partial(torch.mm, a, b), repeats))
    return max(rates)


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` in inference mode (``torch.utils.flop_counter``; a multiply-add is 2)."""
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        fn()
    return counter.get_total_flops()
