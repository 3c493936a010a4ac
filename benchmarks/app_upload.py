"""Seconds from a photo's upload to its map and colours in the app (issue 18's ≤ 2 s for 1000×872).

Builds the app as ``semvis serve`` does (bundled models, ``--runtime``), posts the same JPEG several
times through FastAPI's test client and prints each request's wall time; the first request of a
runtime includes its one-off ONNX export (cached after that), so the table reports it apart.
Interleaves the runtimes asked for, so both see the same machine load.

    python benchmarks/app_upload.py --runtimes torch,auto --repeats 3
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
import torch
from fastapi.testclient import TestClient
from PIL import Image

from semvis.app import create_app
from semvis.colorize.pipeline import load_colorization_models
from semvis.paths import data_root


def photo_bytes(width: int, height: int) -> bytes:
    """A Kodak photo scaled to ``width`` × ``height`` as JPEG, or a smooth random picture without the data."""
    kodak = sorted((data_root() / "color" / "kodak24").glob("*.png"))
    if kodak:
        image = Image.open(kodak[0]).convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    else:
        rng = np.random.default_rng(0)
        small = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default="torch,auto", help="comma-separated --runtime values")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", default="1000x872", help="photo width x height")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    width, height = (int(n) for n in args.size.split("x"))
    body = photo_bytes(width, height)
    clients = {}
    for runtime in args.runtimes.split(","):
        segmenter, labels, colorizer = load_colorization_models(runtime=runtime)
        clients[runtime] = TestClient(create_app(segmenter, labels, colorizer, work_size=176))
    first, warm = {}, {r: [] for r in clients}
    for repeat in range(args.repeats + 1):
        for runtime, client in clients.items():
            start = time.perf_counter()
            response = client.post("/api/images", content=body, headers={"content-type": "image/jpeg"})
            seconds = time.perf_counter() - start
            assert response.status_code == 201, response.text
            (warm[runtime].append(seconds) if repeat else first.__setitem__(runtime, seconds))
    print(f"upload of a {width}×{height} JPEG → map + colour, {args.threads} threads, work size 176")
    print("| runtime | first request (s) | median of the next (s) | all (s) |")
    print("|---|---|---|---|")
    for runtime in clients:
        times = ", ".join(f"{t:.2f}" for t in warm[runtime])
        print(f"| {runtime} | {first[runtime]:.2f} | {statistics.median(warm[runtime]):.2f} | {times} |")


if __name__ == "__main__":
    main()
