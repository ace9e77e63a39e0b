"""Top-k evaluation for corpora that do not fit a (queries x docs) score matrix (MIRACL).

Per language (the views are monolingual): a searcher (BM25) indexes that language and returns
its top ``depth``; an encoder encodes the queries in memory and the corpus in resumable shards
(``shards.py``, optionally on Ray), then FAISS returns the top ``depth`` merged across shards.
The top-k lists become ``ViewRanking``s over a small doc table holding only the retrieved and the
judged docs, so scoring (ranx), result records and run files are those of the full path.

What differs from the full path: a relevant doc below ``depth`` counts as not retrieved (rank 0),
exactly as trec_eval treats a depth-``depth`` run (nDCG@10 and Recall@100 are exact for
depth >= 100; mAP is AP over the top ``depth``). In the ranks file ``n_docs`` is the number of docs
of the view's language that were retrieved or judged, not the corpus size (the record's
``task.counts.docs`` has that).

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
from dataclasses import dataclass

import numpy as np

from .collection import Collection, TextTable
from .corpus import StreamedCollection
from .errors import MlirbenchError
from .faiss_search import import_faiss, search_shards
from .pipeline import Evaluation, encode_table, evaluate_rankings, is_searcher
from .ranking import ViewRanking
from .registry import ModelSpec
from .scale import ScaleOptions
from .shards import encode_corpus
from .systems import CorpusSearcher, Hits
from .task import TaskMetadata
from .views import View


@dataclass
class TopkRun:
    collection: Collection  # queries + the retrieved-or-judged docs (texts empty)
    evaluation: Evaluation
    timings: dict[str, float]
    model_metadata: dict
    retrieval: dict  # depth, shards, FAISS parameters, Ray: recorded with the result


def evaluate_topk(system, data: StreamedCollection, meta: TaskMetadata, spec: ModelSpec, *,
                  options: ScaleOptions = ScaleOptions(), fresh: bool = False, progress: bool = True) -> TopkRun:
    if meta.depth < 100:
        raise MlirbenchError(f"{meta.name}: depth {meta.depth} < 100 would cut Recall@100 short")
    t0 = time.perf_counter()
    if is_searcher(system):
        hits, model_meta, info = _search_lexical(system, data, meta.depth)
    else:
        hits, model_meta, info = _search_dense(system, data, meta.depth, spec, options, fresh, progress)
    timings = {"retrieve_s": time.perf_counter() - t0, **info.pop("timings")}
    collection, rankings = build_rankings(data, hits, meta)
    ev = evaluate_rankings(rankings, collection, meta)
    return TopkRun(collection, ev, {**timings, **ev.timings}, model_meta, dict(info, depth=meta.depth))


def _queries_of(data: StreamedCollection, lang: str) -> tuple[np.ndarray, TextTable]:
    rows = np.flatnonzero(np.asarray(data.queries.langs) == lang)
    q = data.queries
    return rows, TextTable([q.ids[r] for r in rows], [lang] * len(rows), [q.texts[r] for r in rows])


def _search_lexical(system, data: StreamedCollection, depth: int) -> tuple[dict[str, Hits], dict, dict]:
    """One index per language, built from the corpus stream (``CorpusSearcher.index_corpus``:
    memory bounded by a batch), searched with that language's queries only."""
    if not isinstance(system, CorpusSearcher):
        raise MlirbenchError(f"{system.name}: a top-k task needs a searcher that indexes a streamed corpus "
                             "(index_corpus/search_top)")
    hits: dict[str, Hits] = {}
    analyzers: dict[str, str] = {}
    warnings: list[str] = []
    index_s = search_s = 0.0
    model_meta: dict = {}
    for lang in data.languages:
        t0 = time.perf_counter()
        system.index_corpus(data.corpus, lang)
        t1 = time.perf_counter()
        _, queries = _queries_of(data, lang)
        hits[lang] = system.search_top(queries, depth)
        search_s += time.perf_counter() - t1
        index_s += t1 - t0
        model_meta = system.metadata()
        analyzers.update(model_meta.get("analyzers", {}))
        warnings += model_meta.get("warnings", [])
    model_meta = dict(model_meta, analyzers=analyzers, warnings=warnings)
    return hits, model_meta, {"engine": "lucene", "per_language_index": True, "streamed_index": True,
                              "timings": {"index_s": index_s, "search_s": search_s}}


def _search_dense(system, data: StreamedCollection, depth: int, spec: ModelSpec, options: ScaleOptions,
                  fresh: bool, progress: bool) -> tuple[dict[str, Hits], dict, dict]:
    options.search.use_gpu(import_faiss())  # faiss missing or device=gpu without GPU support: fail before hours of encoding
    if options.ray_address and not options.ray_workers:
        raise MlirbenchError(f"a Ray address ({options.ray_address}) needs Ray workers (--ray-workers N)")
    pool = None
    if options.ray_workers:
        from .distributed import RayShardPool
        pool = RayShardPool(spec, options.ray_workers, address=options.ray_address)
    hits: dict[str, Hits] = {}
    shard_stats: dict[str, dict] = {}
    timings = {"encode_queries_s": 0.0, "encode_s": 0.0, "faiss_load_build_s": 0.0, "faiss_search_s": 0.0}
    try:
        for lang in data.languages:
            t0 = time.perf_counter()
            _, queries = _queries_of(data, lang)
            q_emb = encode_table(system, queries, "query", progress)
            timings["encode_queries_s"] += time.perf_counter() - t0
            shards, stats = encode_corpus(system, data.corpus, lang, shard_size=options.shard_size,
                                          dtype=options.dtype, encode_batch=options.encode_batch, pool=pool,
                                          fresh=fresh, progress=progress)
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
    return hits, system.metadata(), info


def build_rankings(data: StreamedCollection, hits: dict[str, Hits],
                   meta: TaskMetadata) -> tuple[Collection, dict[str, list[ViewRanking]]]:
    """One monolingual ViewRanking per language over a doc table of the retrieved and judged docs."""
    q_ids, q_langs = data.queries.ids, np.asarray(data.queries.langs)
    row_of: dict[str, int] = {}
    doc_langs: list[str] = []
    for lang in data.languages:
        judged = (doc for r in np.flatnonzero(q_langs == lang) for doc in data.qrels.get(q_ids[r], {}))
        for doc in (*judged, *hits[lang][0].ravel()):
            if doc and doc not in row_of:
                row_of[doc] = len(doc_langs)
                doc_langs.append(lang)
    docs = TextTable(list(row_of), doc_langs, [""] * len(row_of))
    collection = Collection(data.name, data.languages, docs, data.queries, data.query_groups, data.qrels,
                            data.source)
    d_langs = np.asarray(doc_langs)
    rankings: dict[str, list[ViewRanking]] = {"mono": []}
    for lang in data.languages:
        q_rows = np.flatnonzero(q_langs == lang)
        view = View("mono", lang, lang, q_rows, np.flatnonzero(d_langs == lang))
        rankings["mono"].append(_view_ranking(view, hits[lang], data, row_of, meta.save_depth))
    return collection, rankings


def _view_ranking(view: View, hits: Hits, data: StreamedCollection, row_of: dict[str, int],
                  save_depth: int) -> ViewRanking:
    ids, scores = hits
    keep, rel = [], []
    for i, q in enumerate(view.query_rows):
        judged = [(row_of[d], g) for d, g in data.qrels.get(data.queries.ids[q], {}).items() if g > 0]
        if judged:
            keep.append(i)
            rel.append(judged)
    width = max((len(r) for r in rel), default=0)
    shape = (len(keep), width)
    rel_rows, rel_grades = np.full(shape, -1, np.int64), np.zeros(shape, np.int64)
    rel_ranks, rel_scores = np.zeros(shape, np.int64), np.full(shape, -np.inf, np.float32)
    top_rows, top_scores = np.full((len(keep), save_depth), -1, np.int64), np.full((len(keep), save_depth), -np.inf, np.float32)
    n_ranked = np.zeros(len(keep), np.int64)
    for j, (i, judged) in enumerate(zip(keep, rel)):
        ranked = [row_of[d] for d in ids[i] if d]
        rank_of = {row: r for r, row in enumerate(ranked, start=1)}
        n_ranked[j] = len(ranked)
        top = ranked[:save_depth]
        top_rows[j, :len(top)], top_scores[j, :len(top)] = top, scores[i, :len(top)]
        entries = sorted(judged, key=lambda e: (rank_of.get(e[0], len(ranked) + 1),))  # stable: qrels order
        for c, (row, grade) in enumerate(entries):
            rank = rank_of.get(row, 0)
            rel_rows[j, c], rel_grades[j, c], rel_ranks[j, c] = row, grade, rank
            rel_scores[j, c] = scores[i, rank - 1] if rank else -np.inf
    return ViewRanking(view=view, query_rows=view.query_rows[np.asarray(keep, dtype=np.int64)],
                       rel_rows=rel_rows, rel_grades=rel_grades, rel_ranks=rel_ranks, rel_scores=rel_scores,
                       n_ranked=n_ranked, top_rows=top_rows, top_scores=top_scores)
