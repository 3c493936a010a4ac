"""Size and speed of the colorization U-Net on this machine (CPU, or CUDA when present).

Prints one table and writes it to ``benchmarks/results/colorize.md``: parameters, the fp16
safetensors file size, GFLOPs of one forward pass at 352×352 (``torch.utils.flop_counter``:
one multiply-add = 2 FLOPs), the best forward time at batch 1 in inference mode, and the time
of one Adam training step (forward, backward, update) at ``--train-batch`` 352×352 crops.

Usage: ``python benchmarks/colorize.py [--widths 32 16] [--train-batch 16] [--repeats 3] [--threads N]``
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from semvis.colorize import SemanticColorizer, huber_ab_loss, save_colorizer

SIZE = 352


def best_seconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def batch(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    luma = torch.rand(n, 1, SIZE, SIZE, generator=g) * 2 - 1
    labels = torch.randint(0, 12, (n, SIZE, SIZE), generator=g)
    ab = torch.rand(n, 2, SIZE, SIZE, generator=g) - 0.5
    return luma.to(device), labels.to(device), ab.to(device)


def measure(width: int, train_batch: int, repeats: int, device: torch.device) -> list[str]:
    model = SemanticColorizer(width=width).to(device)
    params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as tmp:
        size_mb = save_colorizer(model, Path(tmp) / "c.safetensors").stat().st_size / 1e6
    luma, labels, _ = batch(1, device)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(luma, labels)
    model.eval()

    def forward() -> None:
        with torch.inference_mode():
            model(luma, labels)

    forward_s = best_seconds(forward, repeats, device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999))
    train = batch(train_batch, device)

    def step() -> None:
        loss = huber_ab_loss(model(train[0], train[1]), train[2])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step_s = best_seconds(step, max(1, repeats - 2), device)
    return [
        str(width),
        f"{params:,}",
        f"{size_mb:.1f} MB",
        f"{counter.get_total_flops() / 1e9:.1f}",
        f"{forward_s * 1000:.0f}",
        f"{step_s:.1f} (batch {train_batch})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 16])
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"{platform.machine()}, {args.threads} threads"
    header = [
        f"Device: {where}; torch {torch.__version__}. Input {SIZE}×{SIZE}, 11 classes; best of {args.repeats} "
        "(training: of max(1, repeats − 2)) after a warm-up.",
        "",
        "| width | parameters | fp16 file | GFLOPs (forward) | forward ms (batch 1) | train step s |",
        "|---|---|---|---|---|---|",
    ]
    rows = ["| " + " | ".join(measure(w, args.train_batch, args.repeats, device)) + " |" for w in args.widths]
    table = "\n".join(header + rows) + "\n"
    print(table)
    out = Path(__file__).parent / "results" / "colorize.md"
    out.write_text(table)


if __name__ == "__main__":
    main()
