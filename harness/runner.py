"""``mlirbench run``: load task, build system, score, evaluate, write the record."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from .embedding_cache import CachedEncoder
from .pipeline import evaluate_scores, is_searcher, score_matrix
from .provenance import provenance
from .registry import ModelSpec, build_model, get_task
from .results import record_path, write_record
from .topk import ScaleOptions, evaluate_topk


def run(spec: ModelSpec, task_name: str, *, data_dir: str | None = None, langs: Sequence[str] | None = None,
        output: Path = Path("results"), progress: bool = True, cache: bool = True,
        argv: list[str] | None = None, scale: ScaleOptions = ScaleOptions()) -> Path:
    """``scale`` applies to top-k tasks only (sharded encoding, FAISS, Ray); full tasks ignore it."""
    start = time.perf_counter()
    task = get_task(task_name)  # fail fast on unknown names before any heavy work
    collection = task.load(data_dir, langs)  # and on bad data, before loading a model
    system = build_model(spec, progress)
    meta = task.metadata
    retrieval, n_docs = None, None
    if meta.retrieval == "topk":  # corpus streamed, never a score matrix (topk.py)
        top = evaluate_topk(system, collection, meta, spec, options=scale, fresh=not cache, progress=progress)
        n_docs = sum(collection.corpus.count(lang) for lang in collection.languages)
        collection, ev, timings, model_meta, retrieval = (top.collection, top.evaluation, top.timings,
                                                          top.model_metadata, top.retrieval)
    else:
        if cache and not is_searcher(system):
            system = CachedEncoder(system)
        scores, timings = score_matrix(system, collection, progress)
        ev = evaluate_scores(scores, collection, meta, progress)
        model_meta = system.metadata()
    record = {
        "model": {"name": spec.name, "slug": spec.slug, "arguments": spec.kwargs,
                  "metadata": model_meta},
        "task": {"name": meta.name, "revision": meta.revision, "source": meta.source,
                 "languages": list(collection.languages), "all_languages": list(meta.languages),
                 "metrics": list(meta.metrics), "main_score": meta.main_score,
                 "save_depth": meta.save_depth,
                 "counts": {"queries": len(collection.queries), "docs": n_docs or len(collection.docs)}},
        **({"retrieval": retrieval} if retrieval else {}),  # top-k: depth, shards, FAISS, Ray
        "aggregate": ev.aggregate,
        "views": ev.views,
        "pair_matrix": ev.pair_matrix,
        "rank_distance": ev.rank_distance,
        "data": collection.source,
        "provenance": dict(provenance(argv),
                           finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           timings=dict(timings, **ev.timings, total_s=time.perf_counter() - start),
                           embedding_cache=system.stats() if isinstance(system, CachedEncoder) else None),
    }
    subset = list(collection.languages) != list(meta.languages)
    stem = f"{meta.name}.{'-'.join(collection.languages)}" if subset else meta.name
    path = record_path(output, spec.slug, stem)
    return write_record(path, record, ev.rankings, collection, tag=spec.slug)
