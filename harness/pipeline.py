"""One evaluation: system + collection -> score matrix -> view rankings -> scores.

Every text is encoded (or searched) once; all views are sub-matrices of one score matrix.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .collection import Collection, TextTable
from .metrics import rank_distance, setting_scores, view_means
from .ranking import ViewRanking, rank_view, relevant_rows
from .task import TaskMetadata
from .views import POOLED, build_views


@dataclass
class Evaluation:
    aggregate: dict[str, dict[str, float]]
    views: dict[str, dict[str, dict[str, float]]]
    pair_matrix: dict
    rank_distance: dict
    rankings: dict[str, list[ViewRanking]]  # setting -> view rankings (written as run files)
    timings: dict[str, float] = field(default_factory=dict)


def is_searcher(system: object) -> bool:
    return hasattr(system, "search") and hasattr(system, "index")


def encode_table(encoder, table: TextTable, role: str, progress: bool = True) -> np.ndarray:
    """Encode a table language by language (adapters may need the language, e.g. mBART codes)."""
    langs = list(dict.fromkeys(table.langs))
    out: np.ndarray | None = None
    for lang in tqdm(langs, desc="encode queries" if role == "query" else "encode passages", unit="lang", disable=not progress):
        rows = table.rows_of(lang)
        emb = np.asarray(encoder.encode([table.texts[r] for r in rows], role=role, lang=lang), dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(rows):
            raise ValueError(f"{encoder.name}: encode returned shape {emb.shape} for {len(rows)} texts")
        if out is None:
            out = np.empty((len(table), emb.shape[1]), dtype=np.float32)
        out[rows] = emb
    assert out is not None
    return out


def score_matrix(system, collection: Collection, progress: bool = True) -> tuple[np.ndarray, dict[str, float]]:
    """(n_queries x n_docs) float32 scores; -inf where a lexical system retrieved nothing."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if is_searcher(system):
        system.index(collection.docs)
        timings["index_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        hits = system.search(collection.queries, k=None).tocoo()
        scores = np.full((len(collection.queries), len(collection.docs)), -np.inf, dtype=np.float32)
        scores[hits.row, hits.col] = hits.data
        timings["search_s"] = time.perf_counter() - t1
    else:
        q = encode_table(system, collection.queries, "query", progress)
        d = encode_table(system, collection.docs, "passage", progress)
        timings["encode_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        scores = q @ d.T
        timings["search_s"] = time.perf_counter() - t1
    return scores, timings


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
        per_view[setting] = view_means(vrs, setting_scores(vrs, meta.metrics))
        aggregate[setting] = {m: float(np.nanmean([v[m] for v in per_view[setting].values()]))
                              for m in meta.metrics}
        aggregate[setting]["n_views"] = len(vrs)
    rd = rank_distance(rankings.get("multi", []))
    if "multi" in aggregate:
        aggregate["multi"]["rank_distance"] = rd["mean"]
    return Evaluation(aggregate, per_view, pair_matrix(per_view, collection.languages, meta.main_score),
                      rd, rankings, {"evaluate_s": time.perf_counter() - t0})


def pair_matrix(per_view: dict, langs: tuple[str, ...], metric: str) -> dict:
    """Query language x corpus language (mono on the diagonal, cross off it, pooled last)."""
    cols = list(langs) + [POOLED]
    merged = {k: v for views in per_view.values() for k, v in views.items()}
    values = [[merged.get(f"{x}-{y}", {}).get(metric) for y in cols] for x in langs]
    return {"metric": metric, "rows": list(langs), "cols": cols, "values": values}
