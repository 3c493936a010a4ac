"""Feature caches of frozen backbones: computed once, read back, complete or refused."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from semvis.errors import DataError, DeviceError
from semvis.train.cache import cache_features


def _images(n: int = 5) -> TensorDataset:
    return TensorDataset(torch.arange(n * 12, dtype=torch.float32).reshape(n, 3, 2, 2), torch.arange(n))


def _double(x: torch.Tensor) -> torch.Tensor:
    return 2 * x


def test_the_cache_holds_each_items_features_in_fp16_and_its_label(tmp_path) -> None:
    data = _images()
    split = cache_features(_double, data, tmp_path / "c.safetensors", label_dtype=torch.int16)
    assert split.features.dtype == torch.float16 and split.labels.dtype == torch.int16
    torch.testing.assert_close(split.features.float(), 2 * data.tensors[0])
    features, label = split[3]
    assert features.dtype == torch.float32 and label.dtype == torch.int64 and label.item() == 3


def test_a_finished_cache_is_read_back_not_recomputed(tmp_path) -> None:
    path = tmp_path / "c.safetensors"
    first = cache_features(_double, _images(), path)
    again = cache_features(lambda x: pytest.fail("recomputed"), _images(), path)
    assert torch.equal(again.features, first.features) and torch.equal(again.labels, first.labels)


def test_a_corrupt_cache_names_the_file_and_the_way_out(tmp_path) -> None:
    path = tmp_path / "c.safetensors"
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(DataError, match=r"c\.safetensors: unreadable feature cache.*delete it"):
        cache_features(_double, _images(), path)


def test_a_failed_run_leaves_no_cache_behind(tmp_path) -> None:
    def fails_on_the_third(x: torch.Tensor) -> torch.Tensor:
        if x[0, 0, 0, 0] >= 24:
            raise RuntimeError("interrupted")
        return x

    with pytest.raises(RuntimeError, match="interrupted"):
        cache_features(fails_on_the_third, _images(), tmp_path / "c.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_dataset_is_refused(tmp_path) -> None:
    empty = TensorDataset(torch.zeros(0, 3, 2, 2), torch.zeros(0))
    with pytest.raises(DataError, match="empty"):
        cache_features(_double, empty, tmp_path / "c.safetensors")


def test_images_go_to_the_device_given_and_an_absent_one_is_refused(tmp_path, monkeypatch) -> None:
    seen: list[torch.device] = []
    cache_features(lambda x: seen.append(x.device) or x, _images(2), tmp_path / "c.safetensors", device="cpu")
    assert seen == [torch.device("cpu")] * 2
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="cuda requested"):
        cache_features(lambda x: pytest.fail("computed"), _images(), tmp_path / "d.safetensors", device="cuda")
