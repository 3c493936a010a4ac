"""Middlebury .flo reading and writing."""

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from semvis.errors import DataError
from semvis.flow.io import TAG, flow_to_tensor, read_flo, write_flo


def test_round_trip_and_layout(tmp_path: Path) -> None:
    flow = np.random.default_rng(0).normal(size=(3, 5, 2)).astype(np.float32)
    path = write_flo(tmp_path / "sub" / "f.flo", flow)
    data = path.read_bytes()
    assert struct.unpack("<fii", data[:12]) == (TAG, 5, 3)
    assert struct.unpack("<ff", data[12:20]) == tuple(flow[0, 0])  # row-major (u, v) pairs
    assert len(data) == 12 + 3 * 5 * 2 * 4
    back = read_flo(path)
    assert back.dtype == np.float32 and back.flags.writeable
    np.testing.assert_array_equal(back, flow)
    assert [p.name for p in path.parent.iterdir()] == ["f.flo"]  # no temporary left behind


def test_bad_tag_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.flo"
    path.write_bytes(struct.pack("<fii", 1.0, 1, 1) + bytes(8))
    with pytest.raises(DataError, match=r"bad\.flo.*not a Middlebury"):
        read_flo(path)


@pytest.mark.parametrize("cut", [4, 12, 12 + 8 * 6 - 1])
def test_truncated(tmp_path: Path, cut: int) -> None:
    path = write_flo(tmp_path / "t.flo", np.zeros((2, 3, 2), np.float32))
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(DataError, match=r"t\.flo.*truncated"):
        read_flo(path)


def test_other_read_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.flo.*cannot read"):
        read_flo(tmp_path / "missing.flo")
    path = tmp_path / "neg.flo"
    path.write_bytes(struct.pack("<fii", TAG, -1, 2))
    with pytest.raises(DataError, match="invalid flow size"):
        read_flo(path)
    path.write_bytes(struct.pack("<fii", TAG, 1, 1) + bytes(12))
    with pytest.raises(DataError, match="oversized"):
        read_flo(path)


def test_write_rejects_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="H×W×2"):
        write_flo(tmp_path / "x.flo", np.zeros((2, 3, 3)))
    assert not (tmp_path / "x.flo").exists()


def test_flow_to_tensor_layout() -> None:
    flow = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    t = flow_to_tensor(flow)
    assert t.shape == (1, 2, 2, 3) and t.dtype == torch.float32
    assert t[0, 0, 1, 2] == flow[1, 2, 0] and t[0, 1, 1, 2] == flow[1, 2, 1]
    assert flow_to_tensor(t) is t
    with pytest.raises(ValueError, match="H×W×2"):
        flow_to_tensor(np.zeros((2, 3)))


@pytest.mark.data
def test_read_sintel_ground_truth(sintel: Path) -> None:
    flow = read_flo(sintel / "easy" / "flow.flo")
    assert flow.shape == (436, 1024, 2)
    assert np.isfinite(flow).all() and 0 < np.abs(flow).max() < 1000
