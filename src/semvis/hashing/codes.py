"""Binary hash codes: eq. 2 of the semantic-hashing paper, packing and Hamming distance.

The latent layer gives ``r ∈ (0, 1)^bits``; eq. 2 binarizes it as ``H = sgn(r − 0.5)``.
``sgn(0)`` is undefined in the paper; here **r == 0.5 gives +1** (``H = +1 ⇔ r ≥ 0.5``).

Packed layout (the one faiss ``IndexBinary*`` indexes take): ``uint8 [n, bits / 8]``;
bit ``i`` of a code is bit ``i % 8`` (least significant first) of byte ``i // 8`` and is 1
for ``H = +1``. This is the order of ``faiss.real_to_binary`` and of
``np.packbits(..., bitorder="little")``; faiss's ``real_to_binary(r − 0.5)`` sets a bit only
for ``r > 0.5``, so it differs from eq. 2 as read here exactly at ``r == 0.5``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Code lengths of the paper's experiments (and of Lin et al. 2015).
CODE_LENGTHS = (16, 32, 48, 64, 128)

_POPCOUNT_LUT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(a: np.ndarray) -> np.ndarray:
    """Set bits per element of an unsigned integer array (``np.bitwise_count`` where numpy has it)."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(a)
    if a.dtype != np.uint8:
        a = a.view(np.uint8).reshape(*a.shape, -1)
        return _POPCOUNT_LUT[a].sum(-1, dtype=np.uint8)
    return _POPCOUNT_LUT[a]


def binarize(r: np.ndarray) -> np.ndarray:
    """Eq. 2: ``H = sgn(r − 0.5)`` as int8 ±1, with ``r == 0.5 → +1``.

    ``r`` is any array-like (a CPU tensor without grad works too).
    """
    return np.where(np.asarray(r) >= 0.5, 1, -1).astype(np.int8)


def pack_codes(codes: np.ndarray) -> np.ndarray:
    """Pack ±1 codes (or 0/1 / bool bits) of shape ``[n, bits]`` into ``uint8 [n, bits / 8]``."""
    h = np.asarray(codes)
    if h.ndim != 2:
        raise ValueError(f"expected codes of shape [n, bits], got {h.shape}")
    if h.shape[1] % 8:
        raise ValueError(f"code length must be a multiple of 8, got {h.shape[1]}")
    if h.dtype != np.bool_:
        values = set(np.unique(h).tolist())
        if not values <= {-1, 1} and not values <= {0, 1}:
            raise ValueError(f"codes must be ±1 or 0/1, found values {sorted(values)[:5]}")
    return np.packbits(h > 0, axis=1, bitorder="little")


def unpack_codes(packed: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Inverse of :func:`pack_codes`: int8 ±1 codes ``[n, bits]`` (default: all packed bits)."""
    p = _as_packed(packed)
    bits_out = np.unpackbits(p, axis=1, count=bits, bitorder="little")
    return (bits_out.astype(np.int8) * 2 - 1).astype(np.int8)


def hamming_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between packed codes: ``[n, B] × [m, B] → int32 [n, m]``.

    A single code (shape ``[B]``) on either side drops that axis.
    """
    pa, pb = np.asarray(a), np.asarray(b)
    if pa.shape[-1] != pb.shape[-1]:
        raise ValueError(f"codes of different lengths: {pa.shape[-1]} and {pb.shape[-1]} bytes")
    xa, xb = _as_packed(pa), _as_packed(pb)
    out = np.empty((len(xa), len(xb)), dtype=np.int32)
    rows = max(1, (1 << 24) // max(1, xb.size))  # bound the temporary XOR array to ~16 MB
    for start in range(0, len(xa), rows):
        xor = xa[start : start + rows, None, :] ^ xb[None, :, :]
        out[start : start + rows] = popcount(xor).sum(-1, dtype=np.int32)
    if pb.ndim == 1:
        out = out[:, 0]
    return out[0] if pa.ndim == 1 else out


def _as_packed(codes: np.ndarray) -> np.ndarray:
    p = np.asarray(codes)
    if p.dtype != np.uint8:
        raise ValueError(f"packed codes must be uint8, got {p.dtype}")
    if p.ndim == 1:
        p = p[None]
    if p.ndim != 2:
        raise ValueError(f"packed codes must have shape [n, bytes], got {p.shape}")
    return p


@dataclass(frozen=True)
class HashCodes:
    """Packed codes with their length and the fingerprint of the model that produced them."""

    packed: np.ndarray
    bits: int
    fingerprint: str

    def __post_init__(self) -> None:
        p = _as_packed(self.packed)
        if p.shape[1] * 8 != self.bits:
            raise ValueError(f"{self.bits}-bit codes take {self.bits // 8} bytes, got {p.shape[1]}")
        object.__setattr__(self, "packed", np.ascontiguousarray(p))

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, index: slice | Sequence[int] | np.ndarray) -> HashCodes:
        return HashCodes(self.packed[index], self.bits, self.fingerprint)

    @classmethod
    def concat(cls, parts: Sequence[HashCodes]) -> HashCodes:
        """Join codes of one model, in order."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        if any(p.bits != first.bits or p.fingerprint != first.fingerprint for p in parts):
            raise ValueError("cannot concatenate codes of different models or lengths")
        return cls(np.concatenate([p.packed for p in parts]), first.bits, first.fingerprint)
