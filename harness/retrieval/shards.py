"""Sharded, resumable corpus encoding to memory-mapped ``.npy`` files.

Why shards: a 33M-passage corpus does not fit in memory as text or as embeddings (33M x 768
float16 is 50 GB), encoding it takes GPU-hours, and a run killed after hours must not start over.
The corpus order is cut into shards of ``shard_size`` docs; each shard is encoded into
``shard-NNNNN.npy`` (written through ``np.lib.format.open_memmap``, so memory holds one encode
batch, not the shard), its doc ids into ``shard-NNNNN.ids``, and then, last, a
``shard-NNNNN.json`` marker with the sha256 of both files. A shard counts as finished only when
its marker exists, names the same docs (sha256 of the ids read from the corpus now) and the
``.npy`` still has the recorded sha256; anything else is encoded again. Files are published by
rename after fsync (``atomic.py``), so a kill leaves no half-written shard that looks finished.

Peak memory: the texts of one shard (or of the shards in flight on Ray) plus one encode batch;
never the corpus. Shards live under ``$MLIRBENCH_CACHE/shards/<model>/<key>/`` where the key
hashes the model identity (as the embedding cache), the corpus fingerprint, the language, the
shard size and the dtype: a rerun of the same model on the same corpus reuses them.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from mlirbench._io.atomic import atomic_path, sweep_orphans, write_json
from mlirbench._io.cache import cache_dir, refreshing, safe_name
from mlirbench._io.hashing import sha256_file
from mlirbench.data.corpus import Corpus
from mlirbench.errors import MlirbenchError
from mlirbench.retrieval.embedding_cache import model_identity
from mlirbench.retrieval.protocols import Encoder

DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class ShardInfo:
    index: int
    start: int  # row of the shard's first doc in the corpus order of its language
    count: int
    dim: int
    dtype: str
    ids_sha256: str
    npy_sha256: str


@dataclass(frozen=True)
class Job:
    """One shard to encode: its place in the corpus order and its docs."""

    index: int
    start: int
    ids: list[str]
    texts: list[str]


class Pool(Protocol):
    """Something that encodes many shards at once (``distributed.RayShardPool``)."""

    def run(self, root: Path, jobs: Iterator[Job], lang: str, dtype: str, encode_batch: int,
            done: Callable[[ShardInfo], None]) -> None:
        ...


def ids_sha256(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()


def _name(index: int, suffix: str) -> str:
    return f"shard-{index:05d}.{suffix}"


def shard_root(encoder: Encoder, corpus: Corpus, lang: str, shard_size: int, dtype: str) -> Path:
    key = json.dumps([model_identity(encoder), corpus.fingerprint(lang), lang, shard_size, dtype])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    return cache_dir("shards") / safe_name(encoder.name) / f"{lang}-{digest}"


def write_shard(root: Path, job: Job, encoder, lang: str, dtype: str, encode_batch: int,
                progress: Callable[[int], None] | None = None) -> ShardInfo:
    """Encode one shard batch by batch into a memory-mapped ``.npy``; the marker goes last."""
    if dtype not in DTYPES:
        raise MlirbenchError(f"shard dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    npy = root / _name(job.index, "npy")
    with atomic_path(npy) as tmp:
        out = None
        for b in range(0, len(job.texts), encode_batch):
            emb = np.asarray(encoder.encode(job.texts[b:b + encode_batch], role="passage", lang=lang))
            if emb.ndim != 2 or emb.shape[0] != len(job.texts[b:b + encode_batch]):
                raise MlirbenchError(f"{encoder.name}: encode returned shape {emb.shape} for "
                                     f"{len(job.texts[b:b + encode_batch])} texts")
            if out is None:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(len(job.texts), emb.shape[1]))
            out[b:b + len(emb)] = emb.astype(dtype)
            if progress is not None:
                progress(len(emb))
        assert out is not None, "empty shard"
        dim = int(out.shape[1])
        out.flush()
        del out
    with atomic_path(root / _name(job.index, "ids")) as tmp:
        tmp.write_text("\n".join(job.ids), encoding="utf-8")
    info = ShardInfo(job.index, job.start, len(job.ids), dim, dtype, ids_sha256(job.ids), sha256_file(npy))
    write_json(root / _name(job.index, "json"), asdict(info))
    return info


def finished_shard(root: Path, job: Job, dtype: str) -> ShardInfo | None:
    """The shard's info if it is complete and holds exactly ``job``'s docs, else None."""
    marker = root / _name(job.index, "json")
    try:
        info = ShardInfo(**json.loads(marker.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    ok = (info.start == job.start and info.count == len(job.ids) and info.dtype == dtype
          and info.ids_sha256 == ids_sha256(job.ids)
          and (root / _name(job.index, "npy")).is_file()
          and sha256_file(root / _name(job.index, "npy")) == info.npy_sha256)
    if not ok:
        marker.unlink(missing_ok=True)  # stale or damaged: encoded again
    return info if ok else None


class ShardSet:
    """The encoded shards of one language, opened lazily (memory-mapped, read-only)."""

    def __init__(self, root: Path, shards: list[ShardInfo]) -> None:
        self.root = root
        self.shards = sorted(shards, key=lambda s: s.index)
        if [s.index for s in self.shards] != list(range(len(self.shards))):
            raise MlirbenchError(f"{root}: shard indices are not contiguous")

    @property
    def n_docs(self) -> int:
        return sum(s.count for s in self.shards)

    @property
    def dim(self) -> int:
        return self.shards[0].dim if self.shards else 0

    def embeddings(self, i: int) -> np.ndarray:
        return np.load(self.root / _name(i, "npy"), mmap_mode="r")

    def ids(self, i: int) -> list[str]:
        return (self.root / _name(i, "ids")).read_text(encoding="utf-8").split("\n")

    def doc_ids(self, rows: np.ndarray) -> np.ndarray:
        """Doc ids of global rows (any shape; -1 -> ""), reading only the shards it needs."""
        flat = rows.ravel()
        out = np.full(flat.shape, "", dtype=object)
        starts = np.array([s.start for s in self.shards])
        shard_of = np.searchsorted(starts, flat, side="right") - 1
        for i in np.unique(shard_of[flat >= 0]):
            pick = (flat >= 0) & (shard_of == i)
            ids = self.ids(int(i))
            out[pick] = [ids[r] for r in flat[pick] - self.shards[i].start]
        return out.reshape(rows.shape)


def encode_corpus(encoder, corpus: Corpus, lang: str, *, shard_size: int = 100_000, dtype: str = "float32",
                  encode_batch: int = 1024, root: Path | None = None, pool: Pool | None = None,
                  progress: bool = True) -> tuple[ShardSet, dict]:
    """Encode the docs of ``lang`` into shards, skipping the finished ones (all of them rebuilt while
    ``_io.cache.refreshed``, i.e. ``--no-cache``); returns the shards and stats (shards encoded /
    reused, seconds, docs per second of the encoded part)."""
    if shard_size < 1 or encode_batch < 1:
        raise MlirbenchError(f"shard_size and encode_batch must be >= 1, got {shard_size}, {encode_batch}")
    root = root or shard_root(encoder, corpus, lang, shard_size, dtype)
    if refreshing() and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    sweep_orphans(root, "shard-*")  # temp files of killed runs (never of a live writer): never part of a shard
    write_json(root / "manifest.json", {"encoder": encoder.metadata(), "corpus": corpus.fingerprint(lang),
                                        "lang": lang, "shard_size": shard_size, "dtype": dtype})
    infos: list[ShardInfo] = []
    reused: list[int] = []
    t0 = time.perf_counter()
    bar = tqdm(total=corpus.count(lang), desc=f"encode {lang} passages", unit="doc", smoothing=0.05,
               disable=not progress)

    def jobs() -> Iterator[Job]:
        """Unfinished shards only; finished ones are checked and counted as they stream past."""
        for index, (ids, texts) in enumerate(corpus.batches(lang, shard_size)):
            job = Job(index, index * shard_size, ids, texts)
            info = finished_shard(root, job, dtype)
            if info is None:
                yield job
            else:
                infos.append(info)
                reused.append(index)
                bar.update(info.count)

    with bar:
        if pool is None:
            for job in jobs():
                infos.append(write_shard(root, job, encoder, lang, dtype, encode_batch, bar.update))
        else:
            def done(info: ShardInfo) -> None:
                infos.append(info)
                bar.update(info.count)
            pool.run(root, jobs(), lang, dtype, encode_batch, done)
    seconds = time.perf_counter() - t0
    shards = ShardSet(root, infos)
    encoded_docs = shards.n_docs - sum(s.count for s in shards.shards if s.index in set(reused))
    stats = {"root": str(root), "shards": len(infos), "shards_reused": len(reused),
             "shards_encoded": len(infos) - len(reused), "shard_size": shard_size, "dtype": dtype,
             "encode_s": seconds, "docs_per_s": encoded_docs / seconds if seconds and encoded_docs else None}
    return shards, stats
