"""Weights registry: where each weight file comes from, how to verify and convert it."""

from semvis.weights.fetch import cached_path, file_digests, import_file, package_path, resolve, verify
from semvis.weights.formats import FORMATS, WeightFormat, format_for_file
from semvis.weights.load import load_pretrained, load_state, read_config_header, read_state, save_safetensors
from semvis.weights.registry import (
    WeightEntry,
    default_weights,
    get_weights,
    list_weights,
    register_weights,
)

__all__ = [
    "FORMATS",
    "WeightEntry",
    "WeightFormat",
    "cached_path",
    "default_weights",
    "file_digests",
    "format_for_file",
    "get_weights",
    "import_file",
    "list_weights",
    "load_pretrained",
    "load_state",
    "package_path",
    "read_config_header",
    "read_state",
    "register_weights",
    "resolve",
    "save_safetensors",
    "verify",
]
