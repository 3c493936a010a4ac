"""Where semvis finds the shared datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from semvis import paths


def test_data_root_prefers_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMVIS_DATA", str(tmp_path / "elsewhere"))
    assert paths.data_root() == tmp_path / "elsewhere"


def test_data_root_finds_the_checkout_sibling_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "clone"
    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.delenv("SEMVIS_DATA", raising=False)
    monkeypatch.setattr(paths, "_source_checkout", lambda: repo)
    monkeypatch.chdir(tmp_path)
    assert paths.data_root() == tmp_path / "shared" / "data"


def test_data_root_falls_back_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.delenv("SEMVIS_DATA", raising=False)
    monkeypatch.setattr(paths, "_source_checkout", lambda: tmp_path / "nowhere" / "repo")
    monkeypatch.chdir(tmp_path / "work")
    assert paths.data_root() == (tmp_path / "shared" / "data").resolve()


def test_data_root_names_the_checkout_default_when_nothing_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEMVIS_DATA", raising=False)
    monkeypatch.setattr(paths, "_source_checkout", lambda: tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    assert paths.data_root() == tmp_path / "shared" / "data"
