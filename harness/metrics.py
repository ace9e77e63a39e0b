"""Scores through ranx, plus the measure ranx does not have (rank distance).

ranx's metric kernels read a ranked list of (doc id, score) rows per query. Every metric we
report depends only on where the relevant docs sit in the full ranking, so the list handed to
ranx is the full ranking down to the last retrieved relevant doc, with the non-relevant docs
replaced by anonymous placeholders: the values are those of the full ranking, exactly, at a
fraction of the memory. View and setting aggregates are means as in the paper.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np
from numba import NumbaTypeSafetyWarning
from numba.typed import List as TypedList
from ranx import evaluate

from .ranking import ViewRanking

warnings.filterwarnings("ignore", category=NumbaTypeSafetyWarning)


def skeleton_run(rel_rows: np.ndarray, rel_ranks: np.ndarray) -> np.ndarray:
    """Ranked (id, score) rows through the last retrieved relevant doc; others are placeholders
    with negative ids that match no judged doc. ``rel_ranks`` 0 = not retrieved."""
    found = rel_ranks > 0
    depth = int(rel_ranks[found].max()) if found.any() else 0
    run = np.empty((depth, 2), dtype=np.float64)
    run[:, 0] = -1.0 - np.arange(depth)
    run[:, 1] = -np.arange(depth, dtype=np.float64)  # strictly decreasing, as ranx expects
    run[rel_ranks[found] - 1, 0] = rel_rows[found]
    return run


def ranx_scores(judged: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], metrics: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-query metric values through ranx for (relevant rows, grades, ranks) triples."""
    qrels, runs = TypedList(), TypedList()
    for rows, grades, ranks in judged:
        qrels.append(np.column_stack((rows.astype(np.float64), grades.astype(np.float64))))
        runs.append(skeleton_run(rows, ranks))
    if len(qrels) == 0:
        return {m: np.empty(0) for m in metrics}
    values = evaluate(qrels, runs, list(metrics), return_mean=False)
    if len(metrics) == 1:
        values = {metrics[0]: values}
    return {m: np.asarray(values[m], dtype=np.float64) for m in metrics}


def setting_scores(rankings: list[ViewRanking], metrics: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """Per view: {metric: per-query values} (one ranx call for all views of a setting)."""
    judged = [(r, g, k) for vr in rankings for r, g, k in zip(vr.rel_rows, vr.rel_grades, vr.rel_ranks)]
    flat = ranx_scores(judged, metrics)
    out, start = [], 0
    for vr in rankings:
        n = len(vr.query_rows)
        out.append({m: v[start:start + n] for m, v in flat.items()})
        start += n
    return out


def view_means(rankings: list[ViewRanking], per_view: list[dict[str, np.ndarray]]) -> dict[str, dict]:
    """{view key: {metric: mean over the view's queries, 'n_queries': n}}."""
    return {
        vr.view.key: {**{m: float(v.mean()) if v.size else float("nan") for m, v in scores.items()},
                      "n_queries": len(vr.query_rows)}
        for vr, scores in zip(rankings, per_view)
    }


def distance_ranks(ranks: np.ndarray, n_ranked: int, n_docs: int) -> np.ndarray:
    """Ranks for rank distance: an unretrieved relevant doc ties with every other unretrieved
    doc, so it gets the mean rank of that tail."""
    return np.where(ranks > 0, ranks, n_ranked + (n_docs - n_ranked + 1) / 2.0).astype(np.float64)


def rank_distance(rankings: list[ViewRanking]) -> dict:
    """Huang et al. (2023): per multilingual query, highest minus lowest rank of its relevant docs
    (one per language) in the pooled ranking; mean per query language, then macro-average.
    Defined for queries with >= 2 relevant docs."""
    per_lang: dict[str, list[float]] = defaultdict(list)
    unranked = 0
    for vr in rankings:
        for ranks, n_ranked in zip(vr.rel_ranks, vr.n_ranked):
            unranked += int((ranks == 0).sum())
            if len(ranks) >= 2:
                r = distance_ranks(ranks, int(n_ranked), vr.n_docs)
                per_lang[vr.view.query_lang].append(float(r.max() - r.min()))
    means = {lang: float(np.mean(v)) for lang, v in per_lang.items()}
    return {
        "mean": float(np.mean(list(means.values()))) if means else float("nan"),
        "per_language": means,
        "n_queries": int(sum(len(v) for v in per_lang.values())),
        "unranked_relevant": unranked,
    }
