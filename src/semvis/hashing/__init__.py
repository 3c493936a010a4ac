"""Semantic deep hashing (issue 5): the network, binary codes, retrieval metrics and a persistent index."""

from semvis.hashing.codes import (
    CODE_LENGTHS,
    HashCodes,
    binarize,
    hamming_distance,
    pack_codes,
    unpack_codes,
)
from semvis.hashing.encode import ImageEncoder, encoder_for, square_crop, state_fingerprint
from semvis.hashing.index import FileInfo, HashIndex, IndexStats, SearchHit
from semvis.hashing.metrics import (
    PRCurve,
    average_precision_at_k,
    average_precisions,
    mean_average_precision,
    per_class_map,
    per_class_table,
    precision_at_k,
    precision_recall_curve,
    rank_by_hamming,
    relevance,
)
from semvis.hashing.model import (
    HashNetOutput,
    SemanticHashNet,
    load_hashnet,
    parameter_counts,
    save_hashnet,
)

__all__ = [
    "CODE_LENGTHS",
    "FileInfo",
    "HashCodes",
    "HashIndex",
    "HashNetOutput",
    "ImageEncoder",
    "IndexStats",
    "PRCurve",
    "SearchHit",
    "SemanticHashNet",
    "average_precision_at_k",
    "average_precisions",
    "binarize",
    "encoder_for",
    "hamming_distance",
    "load_hashnet",
    "mean_average_precision",
    "pack_codes",
    "parameter_counts",
    "per_class_map",
    "per_class_table",
    "precision_at_k",
    "precision_recall_curve",
    "rank_by_hamming",
    "relevance",
    "save_hashnet",
    "square_crop",
    "state_fingerprint",
    "unpack_codes",
]
