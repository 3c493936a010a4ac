"""A persistent Hamming search index: append-only faiss segments plus an SQLite catalogue.

An index is a folder::

    catalog.sqlite        meta (format, bits, kind, fingerprint, version, items, attrs, …),
                          items (id, path, code, mtime, size, sha1, added),
                          segments (file, first_id, last_id, count): the manifest,
                          tombstones (id): removed items that a segment still holds
    seg.<version>.faiss   one immutable segment (:mod:`semvis.hashing.segments`) per manifest row

**Ids** are SQLite ``AUTOINCREMENT`` keys, never reused; faiss stores them as its labels.
Every commit that adds items writes one new segment with their codes, in id order; a segment
therefore covers a contiguous id range. To keep the segments few (O(log n)), the new segment
absorbs the newest existing ones while each holds at most twice as many codes as the merge so
far, so every code is rewritten O(log n) times in all, instead of the whole index per commit.
A merge rebuilds from the catalogue's live codes of the merged ranges, which drops their
tombstones. :meth:`HashIndex.compact` merges everything into one segment. **Removing** an item
deletes its row and records a tombstone: no file is written; a segment whose every id is a
tombstone is dropped. Each segment is of the index's kind: ``flat`` (exact), ``hnsw`` or
``ivf`` (approximate; IVF is trained on the segment's own codes, ``nlist = min(4·√n, n / 39)``).

**Codes** are stored in the catalogue too: the source of truth for merges and :meth:`HashIndex.check`.

**Commits.** Every change is one SQLite transaction, which is the commit point:
``BEGIN IMMEDIATE`` (one writer at a time) → edit rows → write the new segment atomically
(temporary file, fsync, rename, fsync of the folder) → update the manifest, tombstones and
``version`` → ``COMMIT`` → delete the files of merged or dropped segments. A process killed at
any moment leaves either the old version (a new segment file is an orphan, deleted by the next
writer) or the new one, both complete. Readers load segment files inside a read transaction, so
a writer cannot commit (and delete a file) while they read; every call re-checks ``version``,
reloads the manifest and loads only the segments it does not hold yet. Several processes (for
example the ranks of a distributed build) can add to one index: their commits take turns.

**Ties.** Results are ordered by (distance, id). Each segment is asked for its ``k`` nearest plus
as many as it holds tombstones, and the union is ranked by (distance, id). For a flat index the
k nearest are exactly the first k in that order (faiss scans a segment in id order and keeps the
lower position among equal distances); HNSW and IVF are approximate.
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

from semvis.errors import SemvisError
from semvis.hashing.codes import CODE_LENGTHS, HashCodes
from semvis.hashing.segments import (
    KINDS,
    Segment,
    build_faiss,
    faiss_code_size,
    faiss_contents,
    pad_codes,
    read_segment,
    require_faiss,
    write_segment,
)

FORMAT = 2
DB_NAME = "catalog.sqlite"
#: Rows per SQL ``IN (…)`` list.
SQL_CHUNK = 500
#: SQLite memory-map limit (address space, not memory).
MMAP_BYTES = 1 << 30
#: Seconds a writer waits for another one's commit (a large merge can take minutes).
BUSY_SECONDS = 600
#: A new segment absorbs the newest ones while each holds at most this many times its codes.
MERGE_RATIO = 2
_SEGMENT_FILE = re.compile(r"^\.?seg\.\d+\..*faiss$")

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
CREATE TABLE segments (
    file TEXT PRIMARY KEY,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    count INTEGER NOT NULL
);
CREATE TABLE tombstones (id INTEGER PRIMARY KEY);
"""


@dataclass(frozen=True)
class FileInfo:
    """What the catalogue records about an indexed file (``sha1`` is empty unless asked for)."""

    mtime: float
    size: int
    sha1: str = ""

    @classmethod
    def of(cls, path: str | Path, content_hash: bool = False) -> FileInfo:
        """The file's mtime and size from one ``stat``; its content is read only for ``content_hash``."""
        path = Path(path)
        try:
            stat = path.stat()
            if not content_hash:
                return cls(stat.st_mtime, stat.st_size)
            with open(path, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha1")
        except OSError as exc:
            raise SemvisError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return cls(stat.st_mtime, stat.st_size, digest.hexdigest())

    def unchanged(self, current: FileInfo) -> bool:
        """Whether ``current`` (a new :meth:`of` of the file) describes what this record indexed:
        the same content hash and size when ``current`` has a hash, else the same mtime and size."""
        if current.sha1:
            return (self.sha1, self.size) == (current.sha1, current.size)
        return (self.mtime, self.size) == (current.mtime, current.size)


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
    segments: int
    tombstones: int
    faiss_bytes: int
    db_bytes: int
    attrs: dict[str, str]

    @property
    def bytes_per_item(self) -> float:
        return (self.faiss_bytes + self.db_bytes) / self.items if self.items else float("nan")


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
        self._segments: list[Segment] = []
        self._tombstones = np.zeros(0, np.int64)
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
                "items": 0,
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
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_SECONDS, isolation_level=None)
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
            return int(self._meta["items"])

    def paths(self) -> list[str]:
        """Every indexed path, by id."""
        with self._reading():
            return [row[0] for row in self._conn.execute("SELECT path FROM items ORDER BY id")]

    def file_infos(self, paths: Sequence[str | Path]) -> dict[str, FileInfo]:
        """What the catalogue recorded about those of ``paths`` that are indexed."""
        with self._reading():
            rows = self._rows_in(
                "SELECT path, mtime, size, sha1 FROM items WHERE path IN ({})", [str(p) for p in paths]
            )
        return {path: FileInfo(mtime, size, sha1) for path, mtime, size, sha1 in rows}

    # -- changes -----------------------------------------------------------------------

    def add(
        self, paths: Sequence[str | Path], codes: HashCodes, metadata: Sequence[FileInfo] | None = None
    ) -> list[int]:
        """Add (or replace, for paths already indexed) items as one commit; returns their new ids.

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

        def change() -> tuple[np.ndarray, np.ndarray]:
            self._delete([i for i, _ in self._rows_in("SELECT id, path FROM items WHERE path IN ({})", keys)])
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
            self._set_meta(items=int(self._meta["items"]) + len(keys))
            return np.asarray(ids, np.int64), codes.packed

        self._commit(change)
        return ids

    def remove(self, paths: Sequence[str | Path]) -> int:
        """Remove the items of ``paths`` (unknown paths are ignored); returns how many were removed."""
        keys = [str(p) for p in paths]
        removed: list[int] = []

        def change() -> tuple[np.ndarray, np.ndarray]:
            removed.extend(i for i, _ in self._rows_in("SELECT id, path FROM items WHERE path IN ({})", keys))
            self._delete(removed)
            return np.zeros(0, np.int64), np.zeros((0, self.bits // 8), np.uint8)

        if keys:
            self._commit(change)
        return len(removed)

    def compact(self) -> None:
        """Merge every segment into one of the index's kind, dropping all tombstones."""
        self._commit(lambda: (np.zeros(0, np.int64), np.zeros((0, self.bits // 8), np.uint8)), merge_all=True)

    def _delete(self, ids: list[int]) -> None:
        """Delete rows and record their ids as tombstones (their segments still hold them)."""
        self._conn.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])
        self._conn.executemany("INSERT INTO tombstones VALUES (?)", [(i,) for i in ids])
        self._set_meta(items=int(self._meta["items"]) - len(ids))

    def _commit(self, change: Callable[[], tuple[np.ndarray, np.ndarray]], merge_all: bool = False) -> None:
        """Run ``change`` (row edits; returns the new items' ids and codes) in a write transaction
        and commit it as the next version with at most one new segment (module docstring)."""
        new_file: Path | None = None
        with self._db_errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._refresh()
                version = self.version + 1
                self._remove_orphans()
                ids, codes = change()
                kept = [s for s in self._segments if self._live(s) > 0]  # all-tombstone segments go
                merged = kept if merge_all else self._newest_to_merge(kept, len(ids))
                kept = kept[: len(kept) - len(merged)]
                new = self._merge(merged, ids, codes, f"seg.{version}.faiss")
                if new is not None:
                    new_file = self.root / new.file
                    write_segment(new.index, new_file)
                    _fsync_dir(self.root)
                    kept.append(new)
                self._write_manifest(kept)
                self._set_meta(version=version)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if new_file is not None:
                    new_file.unlink(missing_ok=True)
                self._version = None
                self._refresh()
                raise
        gone = {s.file for s in self._segments} - {s.file for s in kept}
        self._segments, self._version = kept, None  # the next call reloads the manifest, not the files
        for name in gone:
            (self.root / name).unlink(missing_ok=True)

    def _newest_to_merge(self, segments: list[Segment], adding: int) -> list[Segment]:
        """The newest segments that the new one absorbs: each at most MERGE_RATIO × the merge so far."""
        total, merged = adding, 0
        while merged < len(segments) and segments[-1 - merged].count <= MERGE_RATIO * total:
            total += segments[-1 - merged].count
            merged += 1
        return segments[len(segments) - merged :]

    def _merge(self, merged: list[Segment], ids: np.ndarray, codes: np.ndarray, file: str) -> Segment | None:
        """One segment over the live codes of ``merged`` and the new ``ids``/``codes``; None when empty."""
        if merged:
            first, last = merged[0].first_id, merged[-1].last_id
            rows = self._conn.execute(
                "SELECT id, code FROM items WHERE id BETWEEN ? AND ? ORDER BY id", (first, last)
            ).fetchall()
            self._conn.execute("DELETE FROM tombstones WHERE id BETWEEN ? AND ?", (first, last))
            old_ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            old = np.frombuffer(b"".join(r[1] for r in rows), np.uint8).reshape(len(rows), self.bits // 8)
            ids, codes = np.concatenate([old_ids, ids]), np.concatenate([old, codes])
        if not len(ids):
            return None
        index = build_faiss(self.kind, 8 * faiss_code_size(self.bits), pad_codes(codes, self.bits), ids)
        return Segment(file, int(ids[0]), int(ids[-1]), len(ids), index)

    def _write_manifest(self, segments: list[Segment]) -> None:
        """Make ``segments`` the manifest; tombstones of segments no longer in it go too."""
        self._conn.execute("DELETE FROM segments")
        self._conn.executemany(
            "INSERT INTO segments VALUES (?, ?, ?, ?)", [(s.file, s.first_id, s.last_id, s.count) for s in segments]
        )
        self._conn.execute(
            "DELETE FROM tombstones WHERE NOT EXISTS "
            "(SELECT 1 FROM segments WHERE tombstones.id BETWEEN first_id AND last_id)"
        )

    def _remove_orphans(self) -> None:
        """Delete segment files (and temporaries) that no manifest names: left by killed writers."""
        listed = {row[0] for row in self._conn.execute("SELECT file FROM segments")}
        for entry in self.root.iterdir():
            if _SEGMENT_FILE.match(entry.name) and entry.name not in listed:
                entry.unlink(missing_ok=True)

    def _live(self, segment: Segment) -> int:
        """Codes of ``segment`` that are not tombstones (within the write transaction)."""
        (dead,) = self._conn.execute(
            "SELECT count(*) FROM tombstones WHERE id BETWEEN ? AND ?", (segment.first_id, segment.last_id)
        ).fetchone()
        return segment.count - dead

    # -- search ------------------------------------------------------------------------

    @overload
    def search(
        self, codes: HashCodes, k: int = 10, *, nprobe: int | None = None, ef_search: int | None = None
    ) -> list[list[SearchHit]]: ...

    @overload
    def search(
        self, codes: np.ndarray, k: int = 10, *, nprobe: int | None = None, ef_search: int | None = None
    ) -> list[SearchHit] | list[list[SearchHit]]: ...

    def search(
        self, codes: HashCodes | np.ndarray, k: int = 10, *, nprobe: int | None = None, ef_search: int | None = None
    ) -> list[SearchHit] | list[list[SearchHit]]:
        """The ``k`` nearest items by Hamming distance, ordered by (distance, id).

        ``codes``: :class:`HashCodes` (fingerprint checked) or packed ``uint8`` codes, one
        ``[bits / 8]`` (→ one list of hits) or ``[n, bits / 8]`` (→ a list per query).
        ``nprobe`` (IVF: inverted lists visited) and ``ef_search`` (HNSW: candidate list size)
        override the attributes of the same names for this call; more is slower and nearer exact.
        """
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        for name, value in (("nprobe", nprobe), ("ef_search", ef_search)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
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
            distances, labels = self._nearest(
                pad_codes(packed, self.bits), k, nprobe or self.nprobe, ef_search or self.ef_search
            )
            found = np.unique(labels[labels >= 0]).tolist()
            paths = dict(self._rows_in("SELECT id, path FROM items WHERE id IN ({})", found))
        results = [
            [SearchHit(paths[i], dist, i) for dist, i in zip(d.tolist(), ids.tolist()) if i >= 0]
            for d, ids in zip(distances, labels)
        ]
        return results[0] if single else results

    def _nearest(self, queries: np.ndarray, k: int, nprobe: int, ef_search: int) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, ids)`` of the live ``k`` nearest over all segments, by (distance, id); id -1 pads."""
        found_d, found_i = [np.zeros((len(queries), 0), np.int32)], [np.zeros((len(queries), 0), np.int64)]
        for segment in self._segments:
            dead = np.searchsorted(self._tombstones, [segment.first_id, segment.last_id + 1]) @ [-1, 1]
            d, i = segment.search(queries, min(segment.count, k + int(dead)), nprobe, ef_search)
            found_d.append(d)
            found_i.append(i)
        distances, ids = np.concatenate(found_d, axis=1).astype(np.int64), np.concatenate(found_i, axis=1)
        dead = (ids < 0) | np.isin(ids, self._tombstones)
        last = np.int64(np.iinfo(np.int64).max)  # dead entries sort after every live one
        order = np.lexsort((np.where(dead, last, ids), np.where(dead, last, distances)), axis=1)[:, :k]
        distances, ids = np.take_along_axis(distances, order, 1), np.take_along_axis(ids, order, 1)
        ids[np.take_along_axis(dead, order, 1)] = -1
        return distances, ids

    # -- inspection --------------------------------------------------------------------

    def stats(self) -> IndexStats:
        with self._reading():
            return IndexStats(
                path=self.root,
                kind=self.kind,
                bits=self.bits,
                items=int(self._meta["items"]),
                version=self.version,
                fingerprint=self.fingerprint,
                created=float(self._meta["created"]),
                segments=len(self._segments),
                tombstones=len(self._tombstones),
                faiss_bytes=sum((self.root / s.file).stat().st_size for s in self._segments),
                db_bytes=self.db_path.stat().st_size,
                attrs=self.attrs,
            )

    def check(self) -> None:
        """Verify that the live codes of the segments are exactly the catalogue's; SemvisError otherwise."""
        with self._reading():
            rows = self._conn.execute("SELECT id, code FROM items ORDER BY id").fetchall()
            ids = np.array([r[0] for r in rows], np.int64)
            codes = np.frombuffer(b"".join(r[1] for r in rows), np.uint8).reshape(len(rows), self.bits // 8)
            held_ids, held = [np.zeros(0, np.int64)], [np.zeros((0, faiss_code_size(self.bits)), np.uint8)]
            for segment in self._segments:
                seg_ids, seg_codes = faiss_contents(segment.index)
                live = ~np.isin(seg_ids, self._tombstones)
                held_ids.append(seg_ids[live])
                held.append(seg_codes[live])
        all_ids, all_codes = np.concatenate(held_ids), np.concatenate(held)
        order = np.argsort(all_ids, kind="stable")
        all_ids, all_codes = all_ids[order], all_codes[order]
        where = f"the segments of {self.root} and {self.db_path}"
        if not np.array_equal(ids, all_ids):
            raise SemvisError(
                f"{where} disagree: {len(all_ids)} live ids in segments, {len(ids)} items in the catalogue"
            )
        if not np.array_equal(pad_codes(codes, self.bits), all_codes):
            bad = ids[(pad_codes(codes, self.bits) != all_codes).any(axis=1)]
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
        """(Re)load meta, manifest and tombstones when another version was committed; needs a transaction.

        Segments already loaded are kept; only new ones are read."""
        try:
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError as exc:
            raise SemvisError(f"{self.db_path}: not a semvis hash index ({exc})") from None
        missing = {"format", "bits", "kind", "fingerprint", "version", "items", "attrs"} - set(meta)
        if meta.get("format") == "1":
            raise SemvisError(
                f"{self.db_path}: an index of format 1 (one faiss file); rebuild it with semvis index build"
            )
        if missing or meta["format"] != str(FORMAT):
            raise SemvisError(
                f"{self.db_path}: not a semvis hash index (format {meta.get('format')}, missing {missing})"
            )
        if self._version == int(meta["version"]):
            return
        self._meta = meta
        loaded = {s.file: s.index for s in self._segments}
        bits = int(meta["bits"])
        self._segments = [
            Segment(file, first, last, count, loaded[file] if file in loaded else read_segment(self.root / file, bits))
            for file, first, last, count in self._conn.execute(
                "SELECT file, first_id, last_id, count FROM segments ORDER BY first_id"
            )
        ]
        for segment in self._segments:
            if segment.index.ntotal != segment.count:
                raise SemvisError(
                    f"{self.root / segment.file}: holds {segment.index.ntotal} codes, "
                    f"but {self.db_path} lists {segment.count}"
                )
        tombstones = self._conn.execute("SELECT id FROM tombstones ORDER BY id").fetchall()
        self._tombstones = np.array([t[0] for t in tombstones], np.int64)
        if sum(s.count for s in self._segments) - len(self._tombstones) != int(meta["items"]):
            raise SemvisError(f"{self.db_path}: the manifest, tombstones and item count disagree")
        self._version = int(meta["version"])
