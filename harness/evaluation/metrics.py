"""Scores through ranx, plus the measure ranx does not have (rank distance).

ranx's metric kernels read a ranked list of (doc id, score) rows per query. Every metric we
report depends only on where the relevant docs sit in the full ranking, so the list handed to
ranx is the full ranking down to the last retrieved relevant doc, with the non-relevant docs
replaced by anonymous placeholders: the values are those of the full ranking, exactly, at a
fraction of the memory (tests/test_metrics.py checks this against full sorts).
View and setting aggregates are means as in the paper.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from numba import NumbaTypeSafetyWarning
from ranx import evaluate

from mlirbench.evaluation.kernels import skeleton_lists
from mlirbench.evaluation.ranking import ViewRanking

warnings.filterwarnings("ignore", category=NumbaTypeSafetyWarning)


def ranx_scores(rankings: Sequence[ViewRanking], metrics: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-query metric values through ranx for all queries of ``rankings`` (in order); see
    ``kernels.skeleton_lists`` for the ranked list ranx reads."""
    if not rankings or not sum(len(vr.query_rows) for vr in rankings):
        return {m: np.empty(0) for m in metrics}
    valid = [vr.rel_rows >= 0 for vr in rankings]
    offsets = np.concatenate([[0], np.cumsum(np.concatenate([v.sum(axis=1) for v in valid]))])
    rows = np.concatenate([vr.rel_rows[v] for vr, v in zip(rankings, valid)]).astype(np.float64)
    grades = np.concatenate([vr.rel_grades[v] for vr, v in zip(rankings, valid)]).astype(np.float64)
    ranks = np.concatenate([vr.rel_ranks[v] for vr, v in zip(rankings, valid)]).astype(np.int64)
    qrels, runs = skeleton_lists(rows, grades, ranks, offsets.astype(np.int64))
    values = evaluate(qrels, runs, list(metrics), return_mean=False)
    if len(metrics) == 1:
        values = {metrics[0]: values}
    return {m: np.asarray(values[m], dtype=np.float64) for m in metrics}


def setting_scores(rankings: list[ViewRanking], metrics: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """Per view: {metric: per-query values} (one ranx call for all views of a setting)."""
    flat = ranx_scores(rankings, metrics)
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
        for i, n_ranked in enumerate(vr.n_ranked):
            _, _, ranks, _ = vr.relevant(i)
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
