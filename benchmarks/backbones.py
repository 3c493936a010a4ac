"""Backbone throughput on this CPU, against a matmul measured in the same run.

Prints one table and writes it to ``benchmarks/results/backbones.md``:
parameters, GFLOPs per image (``torch.utils.flop_counter``: one multiply-add = 2 FLOPs),
images/s at batch 1 and 8, and the achieved FLOP/s as a fraction of a large fp32
matmul's FLOP/s (the practical peak of this machine). Variants: eager, channels-last,
and inference-fused (BN folded into the preceding conv) + channels-last.

Usage: ``python benchmarks/backbones.py [--repeats 5] [--threads N]``
"""

from __future__ import annotations

import argparse
import platform
from functools import partial
from pathlib import Path

import torch
from timing import best_seconds, count_flops, matmul_flops_per_s

from semvis.backbones import create_backbone
from semvis.nn.fuse import fuse_conv_bn

MODELS = (("xception", 299, 1000), ("vgg19", 224, 1000))


def variants(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    return {
        "eager": model,
        "channels-last": model.to(memory_format=torch.channels_last),
        "fused BN + channels-last": fuse_conv_bn(model).to(memory_format=torch.channels_last),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_flops_per_s(args.repeats)
    rows = []
    for name, size, classes in MODELS:
        model = create_backbone(name, num_classes=classes).eval()
        params = sum(p.numel() for p in model.parameters())
        flops = count_flops(partial(model, torch.rand(1, 3, size, size)))
        for label, variant in variants(model).items():
            for batch in (1, 8):
                x = torch.rand(batch, 3, size, size).contiguous(
                    memory_format=torch.channels_last if "channels" in label else torch.contiguous_format
                )
                with torch.inference_mode():
                    seconds = best_seconds(partial(variant, x), args.repeats)
                rate = batch / seconds
                rows.append((name, size, label, batch, params, flops, rate, flops * rate / peak))
    header = "| model | input | variant | batch | params | GFLOPs/img | img/s | % of matmul FLOP/s |"
    lines = [
        f"CPU: {platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}; "
        f"best square fp32 matmul: {peak / 1e9:.1f} GFLOP/s (best of {args.repeats} runs, n = 1024/2048/3072)",
        "",
        header,
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, size, label, batch, params, flops, rate, frac in rows:
        lines.append(
            f"| {name} | {size} | {label} | {batch} | {params:,} | {flops / 1e9:.2f} | {rate:.2f} | {100 * frac:.0f}% |"
        )
    table = "\n".join(lines)
    print(table)
    out = Path(__file__).parent / "results" / "backbones.md"
    out.write_text(table + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
