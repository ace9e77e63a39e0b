"""One evaluation: score matrix (or top-k lists) -> view rankings -> scores through ranx -> aggregates.

All views are sub-matrices of one score matrix (``retrieval.scoring``); the same ``evaluate_rankings``
scores the views of a top-k run. ``evaluate_full`` (here) and ``topk.evaluate_topk`` are the two
ways a task is run; both return an ``Outcome``, from which ``records.record.build_record`` builds
the result record.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from mlirbench.data.collection import Collection
from mlirbench.data.task import TaskMetadata
from mlirbench.evaluation.metrics import own_language_first, rank_distance, setting_scores, view_means
from mlirbench.evaluation.ranking import ViewRanking, rank_view, relevant_rows
from mlirbench.evaluation.views import POOLED, build_views
from mlirbench.retrieval.centering import CenteredEncoder
from mlirbench.retrieval.embedding_cache import CachedEncoder
from mlirbench.retrieval.protocols import Encoder, Searcher
from mlirbench.retrieval.scoring import score_matrix


@dataclass
class Evaluation:
    aggregate: dict[str, dict[str, float]]
    views: dict[str, dict[str, dict[str, float]]]
    pair_matrix: dict
    rank_distance: dict
    rankings: dict[str, list[ViewRanking]]  # setting -> view rankings (written as run files)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Outcome:
    """What running a task gives, full-ranking and top-k alike: everything the record is built from."""

    collection: Collection  # what was evaluated (top-k: the queries + the retrieved-or-judged docs)
    evaluation: Evaluation
    timings: dict[str, float]  # retrieval, then evaluation
    model_metadata: dict
    n_docs: int  # documents in the corpus
    retrieval: dict | None = None  # top-k: depth, shards, FAISS parameters, Ray
    embedding_cache: dict | None = None  # hits and misses of the embedding cache, where one was used


def evaluate_full(model: Encoder | Searcher, collection: Collection, meta: TaskMetadata, *,
                  progress: bool = True) -> Outcome:
    """A full-ranking task: one score matrix (an Encoder through the embedding cache, which
    ``--no-cache`` rebuilds), every view ranked from it."""
    cached = None
    if isinstance(model, CenteredEncoder):  # centres the cached embeddings of the model it wraps
        cached = CachedEncoder(model.encoder)
        model = CenteredEncoder(cached)
    elif isinstance(model, Encoder):
        model = cached = CachedEncoder(model)
    scores, timings = score_matrix(model, collection, progress)
    ev = evaluate_scores(scores, collection, meta, progress)
    return Outcome(collection, ev, {**timings, **ev.timings}, model.metadata(), len(collection.docs),
                   embedding_cache=cached.stats() if cached else None)


def evaluate_scores(scores: np.ndarray, collection: Collection, meta: TaskMetadata,
                    progress: bool = True) -> Evaluation:
    """Rank every view, score it through ranx, aggregate as in the paper."""
    t0 = time.perf_counter()
    rel = relevant_rows(collection)
    views = build_views(collection, meta.settings)
    rankings: dict[str, list[ViewRanking]] = {s: [] for s in meta.settings}
    for view in tqdm(views, desc="rank views", unit="view", disable=not progress):
        rankings[view.setting].append(rank_view(scores, view, rel, meta.save_depth))
    ev = evaluate_rankings(rankings, collection, meta)
    ev.timings["evaluate_s"] = time.perf_counter() - t0
    return ev


def evaluate_rankings(rankings: dict[str, list[ViewRanking]], collection: Collection,
                      meta: TaskMetadata) -> Evaluation:
    """Score view rankings (from a score matrix or from top-k runs) through ranx and aggregate."""
    t0 = time.perf_counter()
    per_view, aggregate = {}, {}
    for setting, vrs in rankings.items():
        if not vrs:  # e.g. cross with one language: no views, so no scores (not a NaN mean of nothing)
            continue
        per_view[setting] = view_means(vrs, setting_scores(vrs, meta.metrics))
        aggregate[setting] = {m: float(np.nanmean([v[m] for v in per_view[setting].values()]))
                              for m in meta.metrics}
        aggregate[setting]["n_views"] = len(vrs)
    rd = rank_distance(rankings.get("multi", []))
    if "multi" in aggregate:
        aggregate["multi"]["rank_distance"] = rd["mean"]
        langs = np.asarray(collection.docs.langs, dtype=object)
        first = own_language_first([vr.view.query_lang for vr in rankings["multi"] for _ in vr.query_rows],
                                   ((langs[rows], ranks) for vr in rankings["multi"]
                                    for rows, _, ranks, _ in map(vr.relevant, range(len(vr.query_rows)))))
        aggregate["multi"]["own_language_first"] = first["share"]
        aggregate["multi"]["own_language_chance"] = first["chance"]
    return Evaluation(aggregate, per_view, pair_matrix(per_view, collection.languages, meta.main_score),
                      rd, rankings, {"evaluate_s": time.perf_counter() - t0})


def pair_matrix(per_view: dict, langs: tuple[str, ...], metric: str) -> dict:
    """Query language x corpus language (mono on the diagonal, cross off it, pooled last)."""
    cols = list(langs) + [POOLED]
    merged = {k: v for views in per_view.values() for k, v in views.items()}
    values = [[merged.get(f"{x}-{y}", {}).get(metric) for y in cols] for x in langs]
    return {"metric": metric, "rows": list(langs), "cols": cols, "values": values}
