"""Index segments: immutable faiss binary indexes over packed codes, written once, read many times.

A segment holds the codes of a contiguous range of ids, added in id order; :class:`HashIndex`
(:mod:`semvis.hashing.index`) keeps a manifest of them and searches them all. faiss gets the codes
zero-padded to 4, 8, 16, 32 or 64 bytes, the code sizes it has specialised Hamming kernels for
(48-bit codes search more than 3× faster as 8 bytes); zero padding leaves every distance unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import faiss
except ImportError:  # the `search` extra; the CLI must still start without it
    faiss = None

from semvis.atomic import atomic_path
from semvis.errors import SemvisError

KINDS = ("flat", "hnsw", "ivf")
#: Code sizes (bytes) with specialised faiss Hamming kernels.
FAISS_CODE_SIZES = (4, 8, 16, 32, 64)
HNSW_M = 32


def require_faiss() -> None:
    if faiss is None:
        raise SemvisError("the search index needs faiss: pip install 'semvis[search]' (faiss-cpu)")


def faiss_code_size(bits: int) -> int:
    """Bytes per code inside faiss: ``bits / 8`` rounded up to a specialised kernel size."""
    return next(size for size in FAISS_CODE_SIZES if size * 8 >= bits)


def pad_codes(packed: np.ndarray, bits: int) -> np.ndarray:
    """Zero-pad packed codes to :func:`faiss_code_size` bytes (distances are unchanged)."""
    size = faiss_code_size(bits)
    if packed.shape[1] == size:
        return np.ascontiguousarray(packed)
    out = np.zeros((len(packed), size), np.uint8)
    out[:, : packed.shape[1]] = packed
    return out


def ivf_lists(n: int) -> int:
    """Inverted lists for ``n`` codes: about 4·√n, with at least 39 training codes per list."""
    return max(1, min(round(4 * n**0.5), n // 39))


def build_faiss(kind: str, dim: int, codes: np.ndarray, ids: np.ndarray) -> faiss.IndexBinary:
    """A faiss binary index of ``kind`` over ``codes`` (``uint8 [n, dim / 8]``) labelled ``ids``."""
    if kind == "ivf":
        nlist = ivf_lists(len(codes))
        index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(dim), dim, nlist)
        if nlist == 1:  # one list: nothing to learn (and faiss would warn about too few points)
            index.quantizer.add(np.zeros((1, dim // 8), np.uint8))
            index.is_trained = True
        else:
            index.train(codes)
    else:
        inner = faiss.IndexBinaryFlat(dim) if kind == "flat" else faiss.IndexBinaryHNSW(dim, HNSW_M)
        index = faiss.IndexBinaryIDMap2(inner)
    index.add_with_ids(codes, ids)
    return index


def faiss_contents(index: faiss.IndexBinary) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, codes)`` held by an index of :func:`build_faiss`, sorted by id."""
    if isinstance(index, faiss.IndexBinaryIVF):
        lists, size = index.invlists, index.code_size
        ids, codes = [np.zeros(0, np.int64)], [np.zeros((0, size), np.uint8)]
        for i in range(index.nlist):
            if n := lists.list_size(i):
                ids.append(faiss.rev_swig_ptr(lists.get_ids(i), n).copy())
                codes.append(faiss.rev_swig_ptr(lists.get_codes(i), n * size).copy().reshape(n, size))
        all_ids, all_codes = np.concatenate(ids), np.concatenate(codes)
    else:
        all_ids = faiss.vector_to_array(index.id_map)
        all_codes = index.index.reconstruct_n(0, index.ntotal).reshape(index.ntotal, -1)
    order = np.argsort(all_ids, kind="stable")
    return all_ids[order], all_codes[order]


@dataclass
class Segment:
    """One manifest entry and its loaded faiss index: ``count`` codes with ids in ``[first_id, last_id]``."""

    file: str
    first_id: int
    last_id: int
    count: int
    index: faiss.IndexBinary

    def search(self, queries: np.ndarray, k: int, nprobe: int, ef_search: int) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, ids)`` of the ``k`` nearest codes to padded ``queries`` (id -1 where fewer)."""
        if isinstance(self.index, faiss.IndexBinaryIVF):
            self.index.nprobe = min(nprobe, self.index.nlist)
        elif isinstance(inner := faiss.downcast_IndexBinary(self.index.index), faiss.IndexBinaryHNSW):
            inner.hnsw.efSearch = max(ef_search, k)
        return self.index.search(queries, k)


def write_segment(index: faiss.IndexBinary, path: Path) -> None:
    """Write ``index`` to ``path`` atomically (temporary file, fsync, rename)."""
    with atomic_path(path) as tmp:
        faiss.write_index_binary(index, str(tmp))


def read_segment(path: Path, bits: int) -> faiss.IndexBinary:
    """The faiss index in ``path``; a missing, corrupt or foreign file raises one line naming it."""
    if not path.is_file():
        raise SemvisError(f"{path}: index segment listed in the manifest is missing")
    try:
        index = faiss.read_index_binary(str(path))
    except RuntimeError:  # faiss's message is a C++ signature and a source line: no help to a user
        raise SemvisError(f"{path}: corrupt index segment (faiss cannot read it)") from None
    if index.d != 8 * faiss_code_size(bits):
        raise SemvisError(f"{path}: holds {index.d}-bit codes, not the index's {bits} bits")
    return index
