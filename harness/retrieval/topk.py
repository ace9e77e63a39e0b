"""Top-k retrieval for corpora that do not fit a (queries x docs) score matrix (MIRACL).

Per language (the views are monolingual): a searcher (BM25) indexes that language and returns
its top ``depth``; an encoder encodes the queries in memory and the corpus in resumable shards
(``shards.py``, optionally on Ray), then FAISS returns the top ``depth`` merged across shards.
``evaluation.topk`` turns the lists into view rankings.

Scale options (``ScaleOptions``, all recorded in the result's ``retrieval``) are options of
``mlirbench run``, each with an environment variable as fallback: ``--shard-size`` (docs per
shard, default 100000; ``MLIRBENCH_SHARD_SIZE``), ``--shard-dtype`` (float32 | float16;
``MLIRBENCH_SHARD_DTYPE``), ``--encode-batch`` (texts per encode call, 1024;
``MLIRBENCH_ENCODE_BATCH``), ``--faiss`` (``flat`` | ``ivf:nlist=..,nprobe=..`` |
``hnsw:m=..,ef_search=..``; ``MLIRBENCH_FAISS``), ``--faiss-device`` (auto | cpu | gpu;
``MLIRBENCH_FAISS_DEVICE``), ``--ray-workers`` (0: single process; ``MLIRBENCH_RAY_WORKERS``) and
``--ray-address`` (an existing cluster; ``MLIRBENCH_RAY_ADDRESS``). Library callers pass a
``ScaleOptions`` to ``evaluate_topk``; the environment is read by the CLI only.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from mlirbench.data.collection import TextTable
from mlirbench.data.corpus import StreamedCollection
from mlirbench.errors import MlirbenchError
from mlirbench.retrieval.faiss_search import import_faiss, search_shards
from mlirbench.retrieval.protocols import CorpusSearcher, Encoder, Hits, Searcher
from mlirbench.retrieval.scale import ScaleOptions
from mlirbench.retrieval.scoring import encode_table
from mlirbench.retrieval.shards import encode_corpus


def search_topk(model: Encoder | Searcher, data: StreamedCollection, depth: int, *, options: ScaleOptions,
                factory: Callable[[], Encoder] | None = None, progress: bool = True) -> tuple[dict[str, Hits], dict, dict]:
    """Top ``depth`` per query of each language: hits per language, model metadata, retrieval info
    (with ``timings``). ``factory`` rebuilds the encoder in Ray workers."""
    if isinstance(model, Searcher):
        return _search_lexical(model, data, depth)
    return _search_dense(model, data, depth, factory, options, progress)


def _queries_of(data: StreamedCollection, lang: str) -> tuple[np.ndarray, TextTable]:
    rows = np.flatnonzero(np.asarray(data.queries.langs) == lang)
    q = data.queries
    return rows, TextTable([q.ids[r] for r in rows], [lang] * len(rows), [q.texts[r] for r in rows])


def _search_lexical(model, data: StreamedCollection, depth: int) -> tuple[dict[str, Hits], dict, dict]:
    """One index per language, built from the corpus stream (``CorpusSearcher.index_corpus``:
    memory bounded by a batch), searched with that language's queries only."""
    if not isinstance(model, CorpusSearcher):
        raise MlirbenchError(f"{model.name}: a top-k task needs a searcher that indexes a streamed corpus "
                             "(index_corpus/search_top)")
    hits: dict[str, Hits] = {}
    analyzers: dict[str, str] = {}
    warnings: list[str] = []
    index_s = search_s = 0.0
    model_meta: dict = {}
    for lang in data.languages:
        t0 = time.perf_counter()
        model.index_corpus(data.corpus, lang)
        t1 = time.perf_counter()
        _, queries = _queries_of(data, lang)
        hits[lang] = model.search_top(queries, depth)
        search_s += time.perf_counter() - t1
        index_s += t1 - t0
        model_meta = model.metadata()
        analyzers.update(model_meta.get("analyzers", {}))
        warnings += model_meta.get("warnings", [])
    model_meta = dict(model_meta, analyzers=analyzers, warnings=warnings)
    return hits, model_meta, {"engine": "lucene", "per_language_index": True, "streamed_index": True,
                              "timings": {"index_s": index_s, "search_s": search_s}}


def _search_dense(model, data: StreamedCollection, depth: int, factory: Callable[[], Encoder] | None,
                  options: ScaleOptions, progress: bool) -> tuple[dict[str, Hits], dict, dict]:
    options.search.use_gpu(import_faiss())  # faiss missing or device=gpu without GPU support: fail before hours of encoding
    if options.ray_address and not options.ray_workers:
        raise MlirbenchError(f"a Ray address ({options.ray_address}) needs Ray workers (--ray-workers N)")
    pool = None
    if options.ray_workers:
        from mlirbench.retrieval.ray_pool import RayShardPool
        if factory is None:
            raise MlirbenchError("Ray workers need a model factory to build the encoder in each worker")
        pool = RayShardPool(factory, options.ray_workers, address=options.ray_address)
    hits: dict[str, Hits] = {}
    shard_stats: dict[str, dict] = {}
    timings = {"encode_queries_s": 0.0, "encode_s": 0.0, "faiss_load_build_s": 0.0, "faiss_search_s": 0.0}
    try:
        for lang in data.languages:
            t0 = time.perf_counter()
            _, queries = _queries_of(data, lang)
            q_emb = encode_table(model, queries, "query", progress)
            timings["encode_queries_s"] += time.perf_counter() - t0
            shards, stats = encode_corpus(model, data.corpus, lang, shard_size=options.shard_size,
                                          dtype=options.dtype, encode_batch=options.encode_batch, pool=pool,
                                          progress=progress)
            timings["encode_s"] += stats["encode_s"]
            shard_stats[lang] = stats
            scores, rows, search_t = search_shards(shards, q_emb, depth, options.search, progress)
            for key, value in search_t.items():
                timings[key] += value
            hits[lang] = (shards.doc_ids(rows), scores)
    finally:
        if pool is not None:
            pool.shutdown()
    info = {"engine": "faiss", "faiss": options.search.metadata(),
            "shards": {"shard_size": options.shard_size, "dtype": options.dtype,
                       "encode_batch": options.encode_batch, "per_language": shard_stats},
            "distributed": pool.metadata() if pool is not None else None, "timings": timings}
    return hits, model.metadata(), info
