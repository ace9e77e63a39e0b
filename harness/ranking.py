"""From one (queries x docs) score matrix to the ranking of every view.

Scores are float32; ``-inf`` marks a doc the system did not retrieve (lexical systems).
Ranking order: score descending, ties broken by doc row (stable sort), unretrieved docs last.

All reported metrics (AP, nDCG@k, R@k, MRR@k) and rank distance depend only on the ranks of the
relevant documents in the full ranking, so a view ranking keeps exactly those (plus the top
``save_depth`` docs for the human-readable run files).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .collection import Collection
from .views import View


@dataclass
class ViewRanking:
    view: View
    query_rows: np.ndarray  # queries of the view with >= 1 relevant doc in it
    rel_rows: list[np.ndarray]  # per query: relevant doc rows in the view
    rel_grades: list[np.ndarray]
    rel_ranks: list[np.ndarray]  # 1-based rank in the full ranking; 0 = not retrieved
    rel_scores: list[np.ndarray]
    n_ranked: np.ndarray  # per query: how many docs the system ranked (all, for dense systems)
    top_rows: list[np.ndarray]  # per query: the top save_depth doc rows
    top_scores: list[np.ndarray]

    @property
    def n_docs(self) -> int:
        return len(self.view.doc_rows)


def relevant_rows(collection: Collection) -> list[dict[int, int]]:
    """Per query row: {relevant doc row: grade} (grade > 0 only)."""
    row_of = {doc_id: i for i, doc_id in enumerate(collection.docs.ids)}
    return [{row_of[d]: g for d, g in collection.qrels.get(qid, {}).items() if g > 0}
            for qid in collection.queries.ids]


def rank_view(scores: np.ndarray, view: View, rel: list[dict[int, int]], save_depth: int) -> ViewRanking:
    n_docs = len(view.doc_rows)
    col_of = np.full(scores.shape[1], -1, dtype=np.int64)
    col_of[view.doc_rows] = np.arange(n_docs)
    sub = scores[view.query_rows][:, view.doc_rows]
    order = np.argsort(-sub, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(1, n_docs + 1)[None, :], axis=1)
    n_ranked = np.isfinite(sub).sum(axis=1)
    out = ViewRanking(view, np.empty(0, np.int64), [], [], [], [], np.empty(0, np.int64), [], [])
    keep = []
    for i, q in enumerate(view.query_rows):
        judged = [(d, g) for d, g in rel[q].items() if col_of[d] >= 0]
        if not judged:
            continue
        rows = np.array([d for d, _ in judged], dtype=np.int64)
        cols = col_of[rows]
        ranks = rank[i, cols]
        ranks[~np.isfinite(sub[i, cols])] = 0
        by_rank = np.lexsort((ranks, ranks == 0))  # retrieved first, by rank; unretrieved last
        keep.append(i)
        out.rel_rows.append(rows[by_rank])
        out.rel_grades.append(np.array([g for _, g in judged], dtype=np.int64)[by_rank])
        out.rel_ranks.append(ranks[by_rank])
        out.rel_scores.append(sub[i, cols][by_rank])
        top = order[i, : min(save_depth, int(n_ranked[i]))]
        out.top_rows.append(view.doc_rows[top])
        out.top_scores.append(sub[i, top])
    out.query_rows = view.query_rows[keep]
    out.n_ranked = n_ranked[keep]
    return out
