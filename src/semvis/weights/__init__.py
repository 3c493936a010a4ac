"""Weights: where each file comes from, how to verify and convert it, and semvis' own model files.

A leaf of the package: it imports no model. Network families register their weight entries and
formats here (``register_weights``, ``register_format``); capabilities register their model kinds
(``register_model``).
"""

from semvis.weights.fetch import (
    available_offline,
    cached_path,
    download_progress,
    file_digests,
    import_file,
    package_path,
    resolve,
    verify,
    weights_at_hand,
)
from semvis.weights.formats import FORMATS, StateDict, WeightFormat, format_for_file, register_format, sniff, torch_load
from semvis.weights.load import LoadReport, load_entry_state, load_state, read_state
from semvis.weights.modelfile import (
    LoadedModel,
    ModelHeader,
    SharedWeights,
    load_model,
    model_kinds,
    read_header,
    register_legacy_header,
    register_model,
    save_model,
)
from semvis.weights.registry import WeightEntry, default_weights, get_weights, list_weights, register_weights
from semvis.weights.spec import (
    CAFFE_BGR,
    IMAGENET_MEAN,
    IMAGENET_STD,
    KERAS_TF,
    TORCHVISION_RGB,
    EvalTransform,
    InputSpec,
)

__all__ = [
    "CAFFE_BGR",
    "FORMATS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KERAS_TF",
    "TORCHVISION_RGB",
    "EvalTransform",
    "InputSpec",
    "LoadReport",
    "LoadedModel",
    "ModelHeader",
    "SharedWeights",
    "StateDict",
    "WeightEntry",
    "WeightFormat",
    "available_offline",
    "cached_path",
    "default_weights",
    "download_progress",
    "file_digests",
    "format_for_file",
    "get_weights",
    "import_file",
    "list_weights",
    "load_entry_state",
    "load_model",
    "load_state",
    "model_kinds",
    "package_path",
    "read_header",
    "read_state",
    "register_format",
    "register_legacy_header",
    "register_model",
    "register_weights",
    "resolve",
    "save_model",
    "sniff",
    "torch_load",
    "verify",
    "weights_at_hand",
]
