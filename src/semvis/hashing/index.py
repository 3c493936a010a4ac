"""A persistent Hamming search index: a faiss binary index plus an SQLite catalogue.

An index is a folder::

    catalog.sqlite           meta (format, bits, kind, fingerprint, version, faiss file, …)
                             and items (id, path, code, mtime, size, sha1, added)
    codes.<version>.faiss    the faiss index of that version (none while the index is empty)

**Ids** are SQLite ``AUTOINCREMENT`` keys, never reused; faiss stores them as its labels
(``IndexBinaryIDMap2`` around ``IndexBinaryFlat`` / ``IndexBinaryHNSW``;
``IndexBinaryIVF`` keeps ids itself). Removing works by ``remove_ids`` for flat and IVF;
``IndexBinaryHNSW`` cannot remove, so a removal rebuilds it from the codes in the catalogue.
An IVF index is (re)trained from all codes whenever it has grown fourfold since its last
training, with ``nlist = min(4·√n, n / 39)`` lists.

**Codes** are stored in the catalogue too (the source of truth for rebuilds and
:meth:`HashIndex.check`). faiss gets them zero-padded to 4, 8, 16, 32 or 64 bytes — the
code sizes it has specialised Hamming kernels for (48-bit codes search more than 3×
faster as 8 bytes); zero padding leaves every distance unchanged.

**Commits.** Every change is one SQLite transaction, which is the commit point:
``BEGIN IMMEDIATE`` (one writer at a time) → edit rows and the in-memory faiss index →
write ``codes.<version+1>.faiss`` atomically (temporary file, fsync, rename, fsync of the
folder) → set ``version`` and the file name in ``meta`` → ``COMMIT`` → delete the
previous faiss file. A process killed at any moment leaves either the old version (the
new faiss file is an orphan, deleted by the next commit) or the new one, both complete.
Readers load the faiss file inside a read transaction, so a writer cannot commit (and
delete that file) while they read it; every call re-checks ``version`` and reloads when
another process committed. Copying the catalogue per commit (as a manifest switching two
files would need) is avoided: SQLite's journal makes its own update atomic.

**Ties.** Results are ordered by (distance, id). For a flat index the k nearest are
exactly the first k in that order (faiss scans in id order and keeps the lower position
among equal distances); HNSW and IVF are approximate.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, overload

import numpy as np

try:
    import faiss
except ImportError:  # the `search` extra; the CLI must still start without it
    faiss = None

from semvis.atomic import atomic_path
from semvis.errors import SemvisError
from semvis.hashing.codes import CODE_LENGTHS, HashCodes

FORMAT = 1
DB_NAME = "catalog.sqlite"
KINDS = ("flat", "hnsw", "ivf")
#: Code sizes (bytes) with specialised faiss Hamming kernels.
FAISS_CODE_SIZES = (4, 8, 16, 32, 64)
HNSW_M = 32
#: Rows per SQL ``IN (…)`` list.
SQL_CHUNK = 500
#: SQLite memory-map limit (address space, not memory).
MMAP_BYTES = 1 << 30
_FAISS_FILE = re.compile(r"^\.?codes\.\d+\..*faiss$")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    code BLOB NOT NULL,
    mtime REAL NOT NULL,
    size INTEGER NOT NULL,
    sha1 TEXT NOT NULL,
    added REAL NOT NULL
);
"""


@dataclass(frozen=True)
class FileInfo:
    """What the catalogue records about an indexed file."""

    mtime: float
    size: int
    sha1: str

    @classmethod
    def of(cls, path: str | Path) -> FileInfo:
        path = Path(path)
        try:
            stat = path.stat()
            digest = hashlib.sha1(usedforsecurity=False)
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        except OSError as exc:
            raise SemvisError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return cls(stat.st_mtime, stat.st_size, digest.hexdigest())


class SearchHit(NamedTuple):
    path: str
    distance: int
    id: int


@dataclass(frozen=True)
class IndexStats:
    path: Path
    kind: str
    bits: int
    items: int
    version: int
    fingerprint: str
    created: float
    faiss_bytes: int
    db_bytes: int
    attrs: dict[str, str]

    @property
    def bytes_per_item(self) -> float:
        return (self.faiss_bytes + self.db_bytes) / self.items if self.items else float("nan")


def faiss_code_size(bits: int) -> int:
    """Bytes per code inside faiss: ``bits / 8`` rounded up to a specialised kernel size."""
    return next(size for size in FAISS_CODE_SIZES if size * 8 >= bits)


def ivf_lists(n: int) -> int:
    """Inverted lists for ``n`` codes: about 4·√n, with at least 39 training codes per list."""
    return max(1, min(round(4 * n**0.5), n // 39))


def require_faiss() -> None:
    if faiss is None:
        raise SemvisError("the search index needs faiss: pip install 'semvis[search]' (faiss-cpu)")


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class HashIndex:
    """Persistent Hamming search over packed codes, ids stable, every change atomic.

    Make one with :meth:`create`, reopen it with :meth:`open`; use as a context manager or
    call :meth:`close`. ``nprobe`` (IVF) and ``ef_search`` (HNSW) tune approximate search.
    """

    def __init__(self, root: Path, conn: sqlite3.Connection) -> None:
        self.root = root
        self.db_path = root / DB_NAME
        self._conn = conn
        self._meta: dict[str, str] = {}
        self._version: int | None = None
        self._faiss: faiss.IndexBinary | None = None
        self.nprobe = 16
        self.ef_search = 128

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        bits: int,
        fingerprint: str,
        kind: str = "flat",
        attrs: dict[str, str] | None = None,
    ) -> HashIndex:
        """Create an empty index folder at ``path`` (which must not exist, or be empty).

        ``fingerprint`` identifies the model whose codes the index accepts; ``attrs`` are
        free-form settings kept with it (the CLI keeps the encoder's input size there).
        """
        require_faiss()
        root = Path(path)
        if bits not in CODE_LENGTHS:
            raise ValueError(f"bits must be one of {CODE_LENGTHS}, got {bits}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise SemvisError(f"{root}: already exists (use `semvis index add` to extend an index)")
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = root.with_name(f".{root.name}.{secrets.token_hex(4)}.tmp")
        staging.mkdir()
        try:
            meta = {
                "format": FORMAT,
                "bits": bits,
                "kind": kind,
                "fingerprint": fingerprint,
                "created": time.time(),
                "attrs": json.dumps(attrs or {}),
                "version": 0,
                "faiss": "",
                "trained_on": 0,
            }
            conn = sqlite3.connect(staging / DB_NAME, isolation_level=None)
            conn.executescript(_SCHEMA)
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])
            conn.close()
            with open(staging / DB_NAME, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(staging, root)
            _fsync_dir(root.parent)
        finally:
            if staging.exists():
                for leftover in staging.iterdir():
                    leftover.unlink()
                staging.rmdir()
        return cls.open(root)

    @classmethod
    def open(cls, path: str | Path) -> HashIndex:
        """Open an existing index; a missing or corrupt one raises :class:`SemvisError` naming the file."""
        require_faiss()
        root = Path(path)
        db = root / DB_NAME
        if not db.is_file():
            raise SemvisError(f"{root}: not a hash index (no {DB_NAME} in it)")
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=rw", uri=True, timeout=30, isolation_level=None)
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")  # path lookups read pages without a syscall each
        index = cls(root, conn)
        try:
            with index._reading():
                pass
        except BaseException:
            conn.close()
            raise
        return index

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> HashIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- properties --------------------------------------------------------------------

    @property
    def bits(self) -> int:
        return int(self._meta["bits"])

    @property
    def kind(self) -> str:
        return self._meta["kind"]

    @property
    def fingerprint(self) -> str:
        return self._meta["fingerprint"]

    @property
    def version(self) -> int:
        return int(self._meta["version"])

    @property
    def attrs(self) -> dict[str, str]:
        return json.loads(self._meta["attrs"])

    def __len__(self) -> int:
        with self._reading():
            return self._ntotal()

    def paths(self) -> list[str]:
        """Every indexed path, by id."""
        with self._reading():
            return [row[0] for row in self._conn.execute("SELECT path FROM items ORDER BY id")]

    # -- changes -----------------------------------------------------------------------

    def add(
        self, paths: Sequence[str | Path], codes: HashCodes, metadata: Sequence[FileInfo] | None = None
    ) -> list[int]:
        """Add (or replace, for paths already indexed) items; returns their new ids.

        ``metadata`` defaults to :meth:`FileInfo.of` each path. Codes of another model
        (fingerprint) or length are refused.
        """
        self._check_codes(codes)
        keys = [str(p) for p in paths]
        if not keys and not len(codes):
            return []
        if len(keys) != len(codes):
            raise ValueError(f"{len(keys)} paths but {len(codes)} codes")
        if len(set(keys)) != len(keys):
            raise ValueError("the same path is given twice")
        infos = list(metadata) if metadata is not None else [FileInfo.of(p) for p in keys]
        if len(infos) != len(keys):
            raise ValueError(f"{len(keys)} paths but {len(infos)} metadata entries")
        ids: list[int] = []

        def change() -> bool:
            rebuild = self._delete([i for i, _ in self._rows_in("SELECT id, path FROM items WHERE path IN ({})", keys)])
            row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'items'").fetchone()
            start = (row[0] if row else 0) + 1
            ids.extend(range(start, start + len(keys)))
            now = time.time()
            self._conn.executemany(
                "INSERT INTO items (id, path, code, mtime, size, sha1, added) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (i, k, c.tobytes(), m.mtime, m.size, m.sha1, now)
                    for i, k, c, m in zip(ids, keys, codes.packed, infos)
                ],
            )
            total = self._ntotal() + len(keys)
            if rebuild or self._faiss is None or (self.kind == "ivf" and total > 4 * int(self._meta["trained_on"])):
                return True
            self._faiss.add_with_ids(self._pad(codes.packed), np.asarray(ids, np.int64))
            return False

        self._commit(change)
        return ids

    def remove(self, paths: Sequence[str | Path]) -> int:
        """Remove the items of ``paths`` (unknown paths are ignored); returns how many were removed."""
        keys = [str(p) for p in paths]
        removed: list[int] = []

        def change() -> bool:
            removed.extend(i for i, _ in self._rows_in("SELECT id, path FROM items WHERE path IN ({})", keys))
            return self._delete(removed)

        if keys:
            self._commit(change)
        return len(removed)

    def _delete(self, ids: list[int]) -> bool:
        """Delete rows and their faiss entries; True when faiss cannot remove (HNSW) and must be rebuilt."""
        if not ids:
            return False
        self._conn.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])
        if self.kind == "hnsw":
            return True
        assert self._faiss is not None
        self._faiss.remove_ids(np.asarray(ids, np.int64))
        return False

    def _commit(self, change: Callable[[], bool]) -> None:
        """Run ``change`` in a write transaction and commit it as the next version (module docstring)."""
        new_file: Path | None = None
        with self._db_errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._refresh()
                old = self._meta["faiss"]
                version = self.version + 1
                if change():
                    self._rebuild()
                self._remove_orphans(keep={old})
                name = ""
                if not self._ntotal():
                    self._faiss = None  # an empty index has no faiss file
                else:
                    name = f"codes.{version}.faiss"
                    new_file = self.root / name
                    with atomic_path(new_file) as tmp:
                        faiss.write_index_binary(self._faiss, str(tmp))
                    _fsync_dir(self.root)
                self._set_meta(version=version, faiss=name)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if new_file is not None:
                    new_file.unlink(missing_ok=True)
                self._version = None  # the in-memory faiss index may hold the failed change
                self._refresh()
                raise
        self._version = version
        if old:
            (self.root / old).unlink(missing_ok=True)

    def _rebuild(self) -> None:
        """Rebuild the faiss index from the catalogue's codes (within the write transaction)."""
        rows = self._conn.execute("SELECT id, code FROM items ORDER BY id").fetchall()
        if not rows:
            self._faiss = None
            return
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        codes = np.frombuffer(b"".join(r[1] for r in rows), np.uint8).reshape(len(rows), -1)
        self._faiss = build_faiss(self.kind, 8 * faiss_code_size(self.bits), self._pad(codes), ids)
        if self.kind == "ivf":
            self._set_meta(trained_on=len(rows))

    def _remove_orphans(self, keep: set[str]) -> None:
        """Delete faiss files (and temporaries) left by killed writers; we hold the write lock."""
        for entry in self.root.iterdir():
            if _FAISS_FILE.match(entry.name) and entry.name not in keep:
                entry.unlink(missing_ok=True)

    # -- search ------------------------------------------------------------------------

    @overload
    def search(self, codes: HashCodes, k: int = 10) -> list[list[SearchHit]]: ...

    @overload
    def search(self, codes: np.ndarray, k: int = 10) -> list[SearchHit] | list[list[SearchHit]]: ...

    def search(self, codes: HashCodes | np.ndarray, k: int = 10) -> list[SearchHit] | list[list[SearchHit]]:
        """The ``k`` nearest items by Hamming distance, ordered by (distance, id).

        ``codes``: :class:`HashCodes` (fingerprint checked) or packed ``uint8`` codes, one
        ``[bits / 8]`` (→ one list of hits) or ``[n, bits / 8]`` (→ a list per query).
        """
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        if isinstance(codes, HashCodes):
            self._check_codes(codes)
            packed, single = codes.packed, False
        else:
            packed, single = np.asarray(codes), np.ndim(codes) == 1
            if packed.dtype != np.uint8 or packed.shape[-1] != self.bits // 8 or packed.ndim not in (1, 2):
                raise ValueError(
                    f"expected packed uint8 codes of {self.bits // 8} bytes, got {packed.dtype} {packed.shape}"
                )
            packed = packed.reshape(-1, self.bits // 8)
        with self._reading():
            if self._faiss is None:
                results: list[list[SearchHit]] = [[] for _ in packed]
                return results[0] if single else results
            self._tune(k)
            distances, labels = self._faiss.search(self._pad(packed), k)
            found = np.unique(labels[labels >= 0]).tolist()
            paths = dict(self._rows_in("SELECT id, path FROM items WHERE id IN ({})", found))
        results = []
        for d, ids in zip(distances, labels):
            keep = ids >= 0
            order = np.lexsort((ids[keep], d[keep]))
            ranked = zip(d[keep][order].tolist(), ids[keep][order].tolist())
            results.append([SearchHit(paths[i], dist, i) for dist, i in ranked])
        return results[0] if single else results

    def _tune(self, k: int) -> None:
        if self.kind == "ivf":
            self._faiss.nprobe = min(self.nprobe, self._faiss.nlist)
        elif self.kind == "hnsw":
            faiss.downcast_IndexBinary(self._faiss.index).hnsw.efSearch = max(self.ef_search, k)

    # -- inspection --------------------------------------------------------------------

    def stats(self) -> IndexStats:
        with self._reading():
            faiss_file = self.root / self._meta["faiss"] if self._meta["faiss"] else None
            return IndexStats(
                path=self.root,
                kind=self.kind,
                bits=self.bits,
                items=self._ntotal(),
                version=self.version,
                fingerprint=self.fingerprint,
                created=float(self._meta["created"]),
                faiss_bytes=faiss_file.stat().st_size if faiss_file else 0,
                db_bytes=self.db_path.stat().st_size,
                attrs=self.attrs,
            )

    def check(self) -> None:
        """Verify that faiss holds exactly the catalogue's ids and codes; SemvisError otherwise."""
        with self._reading():
            rows = self._conn.execute("SELECT id, code FROM items ORDER BY id").fetchall()
            ids = np.array([r[0] for r in rows], np.int64)
            codes = np.frombuffer(b"".join(r[1] for r in rows), np.uint8).reshape(len(rows), self.bits // 8)
            if self._faiss is None:
                held_ids, held = np.zeros(0, np.int64), np.zeros((0, faiss_code_size(self.bits)), np.uint8)
            else:
                held_ids, held = faiss_contents(self._faiss)
        where = f"{self.root / self._meta['faiss']} and {self.db_path}"
        if not np.array_equal(ids, held_ids):
            raise SemvisError(f"{where} disagree: {len(held_ids)} ids in faiss, {len(ids)} items in the catalogue")
        if not np.array_equal(self._pad(codes), held):
            bad = ids[(self._pad(codes) != held).any(axis=1)]
            raise SemvisError(f"{where} disagree on the codes of {len(bad)} items (first ids: {bad[:5].tolist()})")

    # -- internals ---------------------------------------------------------------------

    def _check_codes(self, codes: HashCodes) -> None:
        if not isinstance(codes, HashCodes):
            raise TypeError(
                f"expected HashCodes (packed codes with their model fingerprint), got {type(codes).__name__}"
            )
        if codes.fingerprint != self.fingerprint:
            raise SemvisError(
                f"{self.root}: the codes come from model {codes.fingerprint}, "
                f"but this index holds codes of model {self.fingerprint}"
            )
        if codes.bits != self.bits:
            raise SemvisError(f"{self.root}: {codes.bits}-bit codes cannot join a {self.bits}-bit index")

    def _pad(self, packed: np.ndarray) -> np.ndarray:
        """Zero-pad codes to the faiss code size (distances are unchanged)."""
        size = faiss_code_size(self.bits)
        if packed.shape[1] == size:
            return np.ascontiguousarray(packed)
        out = np.zeros((len(packed), size), np.uint8)
        out[:, : packed.shape[1]] = packed
        return out

    def _ntotal(self) -> int:
        return 0 if self._faiss is None else int(self._faiss.ntotal)

    def _rows_in(self, sql: str, values: Sequence[object]) -> list[tuple]:
        """``sql`` with ``IN ({})`` filled, run over ``values`` in chunks."""
        rows: list[tuple] = []
        for start in range(0, len(values), SQL_CHUNK):
            chunk = list(values[start : start + SQL_CHUNK])
            rows += self._conn.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall()
        return rows

    def _set_meta(self, **values: object) -> None:
        self._conn.executemany("UPDATE meta SET value = ? WHERE key = ?", [(str(v), k) for k, v in values.items()])
        self._meta.update({k: str(v) for k, v in values.items()})

    @contextmanager
    def _db_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise SemvisError(f"{self.db_path}: cannot use the index catalogue ({exc})") from None

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """A read transaction on an up-to-date view: no commit can happen until it ends."""
        with self._db_errors():
            self._conn.execute("BEGIN")
            try:
                self._refresh()
                yield
            finally:
                self._conn.execute("COMMIT")

    def _refresh(self) -> None:
        """(Re)load meta and the faiss file when another version was committed; needs a transaction."""
        try:
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError as exc:
            raise SemvisError(f"{self.db_path}: not a semvis hash index ({exc})") from None
        missing = {"format", "bits", "kind", "fingerprint", "version", "faiss", "attrs"} - set(meta)
        if missing or meta["format"] != str(FORMAT):
            raise SemvisError(
                f"{self.db_path}: not a semvis hash index (format {meta.get('format')}, missing {missing})"
            )
        if self._version == int(meta["version"]):
            return
        self._meta = meta
        self._faiss = self._read_faiss(meta["faiss"]) if meta["faiss"] else None
        count = self._conn.execute("SELECT count(*) FROM items").fetchone()[0]
        if self._ntotal() != count:
            raise SemvisError(
                f"{self.root / meta['faiss']}: holds {self._ntotal()} codes but {self.db_path} lists {count} items"
            )
        self._version = int(meta["version"])

    def _read_faiss(self, name: str) -> faiss.IndexBinary:
        path = self.root / name
        if not path.is_file():
            raise SemvisError(f"{path}: faiss file named by {self.db_path} is missing")
        try:
            index = faiss.read_index_binary(str(path))
        except RuntimeError as exc:
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise SemvisError(f"{path}: corrupt faiss index ({detail})") from None
        if index.d != 8 * faiss_code_size(int(self._meta["bits"])):
            raise SemvisError(f"{path}: holds {index.d}-bit codes, not the index's {self._meta['bits']} bits")
        return index
