"""Embedding cache: reruns encode nothing; keys separate models, roles, languages and texts."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from lareqa_fixture import write_dataset

from mlirbench._io.cache import CACHES, cache_dir, clear
from mlirbench.adapters.random_encoder import RandomEncoder
from mlirbench.cli import main
from mlirbench.retrieval.embedding_cache import CachedEncoder, embeddings_root


class Counting(RandomEncoder):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.calls = 0

    def encode(self, texts, *, role, lang):
        self.calls += 1
        return super().encode(texts, role=role, lang=lang)


def test_hits_misses_and_keys(tmp_path: Path) -> None:
    inner = Counting(dim=8)
    enc = CachedEncoder(inner, root=tmp_path)
    a = enc.encode(["x", "y"], role="query", lang="en")
    b = enc.encode(["x", "y"], role="query", lang="en")
    assert np.array_equal(a, b) and inner.calls == 1 and (enc.hits, enc.misses) == (1, 1)
    enc.encode(["x", "y"], role="passage", lang="en")  # role is part of the key
    enc.encode(["x", "y"], role="query", lang="de")  # so is the language
    enc.encode(["x", "z"], role="query", lang="en")  # and the texts
    assert inner.calls == 4
    other = CachedEncoder(Counting(dim=8, seed=1), root=tmp_path)  # different metadata, new key
    other.encode(["x", "y"], role="query", lang="en")
    assert other.misses == 1


def test_corrupt_entry_is_recomputed(tmp_path: Path) -> None:
    inner = Counting(dim=8)
    enc = CachedEncoder(inner, root=tmp_path)
    good = enc.encode(["x"], role="query", lang="en")
    (entry,) = list(tmp_path.rglob("*.npy"))
    entry.write_bytes(b"garbage")
    again = enc.encode(["x"], role="query", lang="en")
    assert np.array_equal(good, again) and inner.calls == 2


def test_rerun_encodes_nothing_and_clear(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLIRBENCH_CACHE", str(tmp_path / "cache"))  # not shared with other tests
    data = write_dataset(tmp_path / "data", ["de", "en", "es", "zh"])
    args = ["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(data), "--langs", "de,en,es,zh",
            "-o", str(tmp_path / "res"), "--quiet"]
    main(args)
    path = tmp_path / "res" / "random" / "mlqa-r.de-en-es-zh.json"
    first = json.loads(path.read_text())
    assert first["provenance"]["embedding_cache"]["misses"] == 8
    main([*args[:-3], "-o", str(tmp_path / "res2"), "--quiet"])  # a new record: evaluated, nothing encoded
    second = json.loads((tmp_path / "res2" / "random" / path.name).read_text())
    assert second["provenance"]["embedding_cache"] == dict(first["provenance"]["embedding_cache"], hits=8, misses=0)
    assert second["views"] == first["views"]
    entries = sorted((embeddings_root() / "random").rglob("*.npy"))
    for entry in entries:  # --no-cache writes every entry anew (never reads one)
        entry.write_bytes(b"damaged")
    main(args + ["--no-cache"])
    assert json.loads(path.read_text())["provenance"]["embedding_cache"]["misses"] == 8
    assert all(entry.read_bytes() != b"damaged" for entry in entries)
    assert json.loads(path.read_text())["views"] == first["views"]
    assert clear(model="random")["embeddings"] == 8 and not (embeddings_root() / "random").exists()


def test_cache_info_and_clear_cover_every_cache_but_the_data(tmp_path: Path, monkeypatch, capsys) -> None:
    from test_cli import invoke
    monkeypatch.setenv("MLIRBENCH_CACHE", str(tmp_path / "cache"))
    for kind in (*CACHES, "data"):
        (cache_dir(kind) if kind != "data" else tmp_path / "cache" / "data").mkdir(parents=True)
        ((cache_dir(kind) if kind != "data" else tmp_path / "cache" / "data") / "entry").write_bytes(b"x" * 10)
    code, out, _ = invoke(["cache", "info"], capsys)
    assert code == 0 and all(f"  {kind} " in out for kind in ("embeddings", "bm25-indexes", "shards", "models"))
    assert invoke(["cache", "clear", "--kind", "shards"], capsys)[:2] == (0, "removed 1 shards files\n")
    assert not cache_dir("shards").exists() and cache_dir("bm25-indexes").exists()
    code, out, _ = invoke(["cache", "clear"], capsys)
    assert code == 0 and "1 bm25-indexes files" in out and "1 models files" in out
    assert not any(cache_dir(kind).exists() for kind in CACHES) and (tmp_path / "cache" / "data" / "entry").is_file()
