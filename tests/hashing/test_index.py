import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from semvis.errors import SemvisError
from semvis.hashing import FileInfo, HashCodes, HashIndex, hamming_distance

MODEL = "sha256:model-a"
NO_FILE = FileInfo(0.0, 0)


def random_codes(n: int, seed: int, model: str = MODEL, values: int = 256) -> HashCodes:
    rng = np.random.default_rng(seed)
    return HashCodes(rng.integers(0, values, (n, 6), dtype=np.uint8), 48, model)


def names(prefix: str, n: int) -> list[str]:
    return [f"/img/{prefix}/{i}.jpg" for i in range(n)]


def add(index: HashIndex, paths: list[str], codes: HashCodes) -> list[int]:
    return index.add(paths, codes, [NO_FILE] * len(paths))


def new_index(tmp_path: Path, kind: str = "flat", n: int = 0, seed: int = 0) -> tuple[HashIndex, list[str], HashCodes]:
    index = HashIndex.create(tmp_path / f"idx-{kind}", 48, MODEL, kind)
    paths, codes = names("a", n), random_codes(n, seed)
    if n:
        add(index, paths, codes)
    return index, paths, codes


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_add_search_remove_round_trip(tmp_path: Path, kind: str) -> None:
    index, paths, codes = new_index(tmp_path, kind, n=300)
    assert len(index) == 300 and index.paths() == paths
    hits = index.search(codes, k=3)
    assert [h[0].path for h in hits] == paths and all(h[0].distance == 0 for h in hits)
    assert index.search(codes.packed[7], k=1) == [(paths[7], 0, 8)]  # ids start at 1
    assert index.remove(paths[:100] + ["/not/indexed.jpg"]) == 100
    assert len(index) == 200 and index.paths() == paths[100:]
    for hit in index.search(codes[:100], k=5):
        assert all(h.path not in paths[:100] for h in hit)
    assert [h[0].path for h in index.search(codes[100:], k=1)] == paths[100:]
    index.check()
    index.compact()
    assert index.stats().segments == 1 and index.stats().tombstones == 0
    assert [h[0].path for h in index.search(codes[100:], k=1)] == paths[100:]
    index.check()
    index.close()


def brute_force(index: HashIndex, queries: HashCodes, k: int) -> list[list[tuple[int, int]]]:
    """(distance, id) of the k nearest live items, from the catalogue's codes."""
    rows = index._conn.execute("SELECT id, code FROM items ORDER BY id").fetchall()
    ids = np.array([r[0] for r in rows])
    codes = np.frombuffer(b"".join(r[1] for r in rows), np.uint8).reshape(len(rows), 6)
    distances = hamming_distance(queries.packed, codes)
    return [[(int(row[i]), int(ids[i])) for i in np.lexsort((ids, row))[:k]] for row in distances]


def test_segments_merge_geometrically_removals_write_no_file_and_compact(tmp_path: Path) -> None:
    index = HashIndex.create(tmp_path / "idx", 48, MODEL)
    rng = np.random.default_rng(0)
    counts = []
    for b in range(60):
        add(index, names(f"b{b}", 10), random_codes(10, b, values=4))  # few distinct distances: ties
        counts.append(index.stats().segments)
        if b % 3 == 2:
            files = sorted(index.root.iterdir())
            gone = [f"/img/b{c}/{j}.jpg" for c, j in rng.integers(0, [b + 1, 10], (4, 2))]
            index.remove(gone)
            assert sorted(index.root.iterdir()) == files  # a tombstone each, no segment rewritten
    assert max(counts) <= 8 and index.stats().tombstones > 0  # O(log n) segments for 600 items
    add(index, names("b3", 2), random_codes(2, 99, values=4))  # replaces two items: new ids
    queries = random_codes(8, 100, values=4)
    expected = brute_force(index, queries, 40)
    assert [[(h.distance, h.id) for h in hits] for hits in index.search(queries, k=40)] == expected
    index.check()
    index.compact()
    stats = index.stats()
    assert (stats.segments, stats.tombstones, stats.items) == (1, 0, len(index))
    assert len([p for p in index.root.iterdir() if p.suffix == ".faiss"]) == 1
    assert [[(h.distance, h.id) for h in hits] for hits in index.search(queries, k=40)] == expected
    index.check()


def test_removing_everything_leaves_an_empty_index(tmp_path: Path) -> None:
    index, paths, codes = new_index(tmp_path, n=4)
    assert add(index, [], codes[:0]) == []
    assert index.remove(paths) == 4
    assert index.search(codes, k=2) == [[]] * 4
    assert sorted(p.name for p in index.root.iterdir()) == ["catalog.sqlite"]
    index.close()
    with HashIndex.open(tmp_path / "idx-flat") as again:
        assert len(again) == 0
        assert add(again, paths[:1], codes[:1]) == [5]
        again.check()


def test_ids_are_stable_and_never_reused(tmp_path: Path) -> None:
    index, paths, codes = new_index(tmp_path, n=5)
    index.remove([paths[4]])
    assert add(index, names("b", 2), random_codes(2, 1)) == [6, 7]
    # adding a path again replaces its entry, under a new id
    assert add(index, [paths[0]], random_codes(1, 2)) == [8]
    assert len(index) == 6 and index.paths()[-1] == paths[0]
    index.check()


def test_ties_are_ordered_by_id_and_exact_for_flat(tmp_path: Path) -> None:
    codes = random_codes(400, 3, values=4)  # bytes 0..3: few distinct distances, many ties
    index = HashIndex.create(tmp_path / "idx", 48, MODEL)
    add(index, names("t", 400), codes)
    queries = random_codes(6, 4, values=4)
    distances = hamming_distance(queries.packed, codes.packed)
    results = index.search(queries, k=25)
    for row, hits in zip(distances, results):
        order = np.lexsort((np.arange(len(row)), row))[:25]  # (distance, id) ascending
        assert [(h.distance, h.id) for h in hits] == [(int(row[i]), int(i) + 1) for i in order]
    index.close()
    with HashIndex.open(tmp_path / "idx") as again:
        assert again.search(queries, k=25) == results


def test_reopen_after_close(tmp_path: Path) -> None:
    index, paths, codes = new_index(tmp_path, n=20)
    before = index.search(codes[:3], k=4)
    version = index.version
    index.close()
    with HashIndex.open(tmp_path / "idx-flat") as again:
        assert len(again) == 20 and again.version == version and again.fingerprint == MODEL
        assert again.search(codes[:3], k=4) == before
        stats = again.stats()
    assert stats.items == 20 and stats.kind == "flat" and stats.bits == 48
    assert stats.faiss_bytes > 20 * 8 and stats.db_bytes > 0


def test_a_second_handle_sees_the_other_ones_commits(tmp_path: Path) -> None:
    index, paths, codes = new_index(tmp_path, n=10)
    with HashIndex.open(tmp_path / "idx-flat") as other:
        add(index, names("b", 5), random_codes(5, 9))
        index.remove(paths[:2])
        assert len(other) == 13
        add(other, names("c", 1), random_codes(1, 10))
        assert len(index) == 14
    index.check()


def test_codes_of_another_model_are_refused(tmp_path: Path) -> None:
    index, _, _ = new_index(tmp_path, n=3)
    foreign = random_codes(2, 5, model="sha256:model-b")
    with pytest.raises(SemvisError, match="model sha256:model-b.*model sha256:model-a"):
        add(index, names("b", 2), foreign)
    with pytest.raises(SemvisError, match="model-b"):
        index.search(foreign)
    with pytest.raises(SemvisError, match="32-bit"):
        add(index, ["/x.jpg"], HashCodes(np.zeros((1, 4), np.uint8), 32, MODEL))
    with pytest.raises(TypeError, match="HashCodes"):
        index.add(["/x.jpg"], np.zeros((1, 6), np.uint8))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="twice"):
        add(index, ["/x.jpg", "/x.jpg"], random_codes(2, 6))
    assert len(index) == 3


def test_create_validates(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(SemvisError, match="already exists"):
        HashIndex.create(tmp_path / "taken", 48, MODEL)
    with pytest.raises(ValueError, match="bits"):
        HashIndex.create(tmp_path / "i", 40, MODEL)
    with pytest.raises(ValueError, match="kind"):
        HashIndex.create(tmp_path / "i", 48, MODEL, kind="lsh")
    (tmp_path / "empty").mkdir()
    assert len(HashIndex.create(tmp_path / "empty", 48, MODEL)) == 0


def test_default_metadata_describes_the_file(tmp_path: Path) -> None:
    image = tmp_path / "x.jpg"
    image.write_bytes(b"abc")
    index = HashIndex.create(tmp_path / "idx", 48, MODEL)
    index.add([str(image)], random_codes(1, 0))
    assert index.file_infos([str(image), "/elsewhere.jpg"]) == {str(image): FileInfo(image.stat().st_mtime, 3)}
    hashed = FileInfo.of(image, content_hash=True)
    assert hashed.sha1 == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert FileInfo(0.0, 3, hashed.sha1).unchanged(hashed) and not FileInfo(0.0, 3).unchanged(hashed)
    assert not FileInfo(0.0, 3).unchanged(FileInfo.of(image))
    with pytest.raises(SemvisError, match="missing.jpg"):
        index.add([str(tmp_path / "missing.jpg")], random_codes(1, 0))


def test_searching_an_empty_index(tmp_path: Path) -> None:
    index = HashIndex.create(tmp_path / "idx", 48, MODEL)
    assert index.search(np.zeros(6, np.uint8)) == []
    assert index.search(random_codes(2, 0)) == [[], []]
    with pytest.raises(ValueError, match="6 bytes"):
        index.search(np.zeros(8, np.uint8))


def test_corrupt_or_missing_files_are_named(tmp_path: Path) -> None:
    index, _, _ = new_index(tmp_path, n=10)
    root = index.root
    faiss_file = root / f"seg.{index.version}.faiss"
    index.close()
    with pytest.raises(SemvisError, match="not a hash index"):
        HashIndex.open(tmp_path / "nowhere")

    good = faiss_file.read_bytes()
    faiss_file.write_bytes(good[: len(good) // 2])
    with pytest.raises(SemvisError) as corrupt:
        HashIndex.open(root)
    assert str(corrupt.value) == f"{faiss_file}: corrupt index segment (faiss cannot read it)"
    faiss_file.unlink()
    with pytest.raises(SemvisError, match=f"{faiss_file}: index segment listed in the manifest is missing"):
        HashIndex.open(root)
    faiss_file.write_bytes(good)

    db = root / "catalog.sqlite"
    good_db = db.read_bytes()
    db.write_bytes(b"garbage" * 1000)
    with pytest.raises(SemvisError, match=f"{db}: cannot use the index catalogue"):
        HashIndex.open(root)
    db.write_bytes(good_db)
    with HashIndex.open(root) as index:
        index._conn.execute("UPDATE meta SET value = '1' WHERE key = 'format'")
    with pytest.raises(SemvisError, match=f"{db}: an index of format 1 .*; rebuild it with semvis index build"):
        HashIndex.open(root)
    db.write_bytes(good_db)
    with HashIndex.open(root) as index:
        index._conn.execute("UPDATE meta SET value = '99' WHERE key = 'format'")
    with pytest.raises(SemvisError, match=f"{db}: not a semvis hash index"):
        HashIndex.open(root)


def test_a_failed_commit_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index, paths, codes = new_index(tmp_path, n=10)
    files = sorted(p.name for p in index.root.iterdir())

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(HashIndex, "_write_manifest", fail)  # after the new segment file is written
    with pytest.raises(OSError, match="disk full"):
        add(index, names("b", 5), random_codes(5, 1))
    with pytest.raises(OSError, match="disk full"):
        index.remove(paths[:3])
    assert len(index) == 10 and index.paths() == paths
    assert sorted(p.name for p in index.root.iterdir()) == files
    index.check()


def test_files_left_by_a_killed_writer_are_cleaned_up(tmp_path: Path) -> None:
    index, _, _ = new_index(tmp_path, n=3)
    (index.root / f"seg.{index.version + 1}.faiss").write_bytes(b"half")
    (index.root / f".seg.{index.version + 1}.0123abcd.tmp.faiss").write_bytes(b"half")
    add(index, names("b", 1), random_codes(1, 1))  # 3 > 2 × 1: a segment of its own
    assert sorted(p.name for p in index.root.iterdir()) == ["catalog.sqlite", "seg.1.faiss", "seg.2.faiss"]


WRITER = """
import pathlib, sys
import numpy as np
from semvis.hashing import FileInfo, HashCodes, HashIndex

root, marker, tag = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
index = HashIndex.open(root)
rng = np.random.default_rng(abs(hash(tag)) % 1000)
info = [FileInfo(0.0, 0, "0" * 40)] * {batch}
marker.touch()
for b in range(100_000):
    paths = [f"/img/{{tag}}/{{b}}/{{j}}.jpg" for j in range({batch})]
    index.add(paths, HashCodes(rng.integers(0, 256, ({batch}, 6), dtype=np.uint8), 48, "{model}"), info)
    index.remove([paths[0]])
"""
BATCH = 20


def writer_states(start: set[str], tag: str, steps: int) -> list[set[str]]:
    """The states the writer commits: after each add, then after each remove."""
    states, current = [set(start)], set(start)
    for b in range(steps):
        paths = [f"/img/{tag}/{b}/{j}.jpg" for j in range(BATCH)]
        current = current | set(paths)
        states.append(current)
        current = current - {paths[0]}
        states.append(current)
    return states


def test_sigkill_during_writes_leaves_a_complete_version(tmp_path: Path) -> None:
    index, paths, _ = new_index(tmp_path, n=200)
    index.close()
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(batch=BATCH, model=MODEL))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    rng = np.random.default_rng(7)
    state = set(paths)
    for rep in range(3):
        marker = tmp_path / f"started-{rep}"
        child = subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "idx-flat"), str(marker), f"r{rep}"], env=env
        )
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the writer exited early"
            assert time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait()
        with HashIndex.open(tmp_path / "idx-flat") as index:
            index.check()  # faiss and catalogue agree on every id and code
            now = set(index.paths())
            assert len(now) == len(index)
            steps = len(now) // (BATCH - 1) + 2
            assert now in writer_states(state, f"r{rep}", steps), "not a state the writer committed"
            state = now
            add(index, names(f"after-{rep}", 1), random_codes(1, rep))  # still writable
            state |= set(names(f"after-{rep}", 1))
    assert len(state) > 200 + 3


@pytest.mark.parametrize(("kind", "knob", "low", "high"), [("ivf", "nprobe", 1, 76), ("hnsw", "ef_search", 10, 2000)])
def test_nprobe_and_ef_search_trade_speed_for_recall(tmp_path: Path, kind: str, knob: str, low: int, high: int) -> None:
    index, _, _ = new_index(tmp_path, kind, n=3000)  # IVF: 76 lists
    queries = random_codes(30, 1)
    exact = [[d for d, _ in hits] for hits in brute_force(index, queries, 10)]

    def found(value: int) -> list[list[int]]:
        return [[h.distance for h in hits] for hits in index.search(queries, 10, **{knob: value})]

    def misses(value: int) -> int:
        return sum(len(set(a) ^ set(b)) for a, b in zip(found(value), exact))

    assert misses(high) < misses(low)
    if kind == "ivf":  # every list visited: exact
        assert found(high) == exact
    with pytest.raises(ValueError, match=f"{knob} must be positive"):
        index.search(queries, 10, **{knob: 0})
