"""Where mlirbench's files are (its source checkout, its caches), and whether the user asked for no network."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from platformdirs import user_cache_dir

from mlirbench._io.paths import check_writable

# The checkout holding harness/, adapters/, tasks/ and regression/ (an editable install runs from it).
REPO_ROOT = Path(__file__).resolve().parents[2]


# Every cache of computed results, as folders under the cache root (`mlirbench cache info / clear`);
# "data" (pinned downloads, checked by content) and "locks" are not caches of results.
CACHES = {
    "embeddings": "embeddings of texts, per model",
    "bm25-indexes": "Lucene indexes, per language and content",
    "shards": "encoded corpus shards of top-k runs, per model",
    "models": "model folders converted from other formats",
}
_REFRESH: ContextVar[bool] = ContextVar("mlirbench_refresh", default=False)


def cache_root() -> Path:
    """Root of mlirbench's caches ($MLIRBENCH_CACHE or the platform's user cache folder); one that
    cannot be a writable folder is a one-line error at its first use."""
    root = os.environ.get("MLIRBENCH_CACHE")
    return check_writable(Path(root), folder=True, what="MLIRBENCH_CACHE") if root else Path(user_cache_dir("mlirbench"))


def cache_dir(kind: str) -> Path:
    """The folder of one of ``CACHES``."""
    if kind not in CACHES:
        raise KeyError(f"unknown cache {kind!r}")
    return cache_root() / kind


@contextmanager
def refreshed(on: bool = True) -> Iterator[None]:
    """While on (``--no-cache``), every cache (embeddings, shards, BM25 indexes) is rebuilt, never reused:
    the one switch they all consult through ``refreshing``."""
    token = _REFRESH.set(on)
    try:
        yield
    finally:
        _REFRESH.reset(token)


def refreshing() -> bool:
    return _REFRESH.get()


def safe_name(name: str) -> str:
    """A model name as a folder name (the per-model folders of the embedding and shard caches)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _targets(kinds: Iterable[str], model: str | None) -> list[tuple[str, Path]]:
    """(kind, folder) to inspect or clear: every cache, or a model's folder in the per-model ones."""
    out = []
    for kind in kinds:
        folder = cache_dir(kind)
        if model is None:
            out.append((kind, folder))
        elif kind in ("embeddings", "shards"):
            out.append((kind, folder / safe_name(model)))
    return out


def usage(kinds: Iterable[str] = CACHES, model: str | None = None) -> list[tuple[str, Path, int, int]]:
    """(kind, folder, files, bytes) of each cache."""
    out = []
    for kind, folder in _targets(kinds, model):
        files = [f for f in folder.rglob("*") if f.is_file()] if folder.is_dir() else []
        out.append((kind, folder, len(files), sum(f.stat().st_size for f in files)))
    return out


def clear(kinds: Iterable[str] = CACHES, model: str | None = None) -> dict[str, int]:
    """Delete caches (with ``model``: that model's embeddings and shards only); files removed per kind."""
    removed = {}
    for kind, folder, files, _ in usage(kinds, model):
        if folder.exists():
            shutil.rmtree(folder)
        removed[kind] = files
    return removed


def offline() -> bool:
    """True when the user asked for no network access (ours or Hugging Face's switch)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes")
               for v in ("MLIRBENCH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
