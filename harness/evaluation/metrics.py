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
from collections.abc import Iterable, Sequence

import numpy as np
from numba import NumbaTypeSafetyWarning
from ranx import evaluate
from ranx.metrics import metric_switch

from mlirbench.errors import MlirbenchError
from mlirbench.evaluation.kernels import skeleton_lists
from mlirbench.evaluation.ranking import ViewRanking

warnings.filterwarnings("ignore", category=NumbaTypeSafetyWarning)


def check_metric(name: str) -> str:
    """``name`` if ranx computes it (``map``, ``ndcg@10``, ``recall@100``...), else a one-line error."""
    base, sep, cut = name.partition("@")
    try:
        metric_switch(base)
    except ValueError:
        raise MlirbenchError(f"unknown metric {name!r}; ranx's are hits, hit_rate, precision, recall, f1, r-precision, "
                             "mrr, map, dcg, ndcg, bpref, rbp, optionally cut at a depth: ndcg@10") from None
    if sep and not (cut.isdigit() and int(cut) > 0):
        raise MlirbenchError(f"metric {name!r}: the depth after @ must be a positive integer")
    return name


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


def own_language_first(query_langs: Sequence[str], relevant: Iterable[tuple[Sequence[str], np.ndarray]]) -> dict:
    """Share of multilingual queries whose highest-ranked relevant doc is in the query's own
    language, against chance (1 / the number of languages with a relevant doc): a model without
    language preference finds its own language first at chance rate. ``relevant``: per query, the
    languages and ranks (0 = not retrieved) of its relevant docs. Queries with relevant docs in
    fewer than two languages, or none retrieved (no highest-ranked one), are left out; means per
    query language, then macro-averaged, as rank distance is."""
    own: dict[str, list[float]] = defaultdict(list)
    chance: dict[str, list[float]] = defaultdict(list)
    unranked = 0
    for lang, (langs, ranks) in zip(query_langs, relevant):
        n_langs = len(set(langs))
        if n_langs < 2:
            continue
        retrieved = np.flatnonzero(np.asarray(ranks) > 0)
        if not len(retrieved):
            unranked += 1
            continue
        first = retrieved[np.argmin(np.asarray(ranks)[retrieved])]
        own[lang].append(float(langs[first] == lang))
        chance[lang].append(1.0 / n_langs)
    per_language = {lang: {"share": float(np.mean(own[lang])), "chance": float(np.mean(chance[lang])),
                           "n_queries": len(own[lang])} for lang in sorted(own)}
    return {
        "share": float(np.mean([v["share"] for v in per_language.values()])) if per_language else float("nan"),
        "chance": float(np.mean([v["chance"] for v in per_language.values()])) if per_language else float("nan"),
        "per_language": per_language,
        "n_queries": int(sum(v["n_queries"] for v in per_language.values())),
        "none_retrieved": unranked,
    }
