"""From one (queries x docs) score matrix to the ranking of every view.

Scores are float32; ``-inf`` marks a doc the model did not retrieve (lexical models).
Ranking order: score descending, ties broken by doc row (stable sort), unretrieved docs last.

All reported metrics (AP, nDCG@k, R@k, MRR@k) and rank distance depend only on the ranks of the
relevant documents in the full ranking, so a view ranking keeps exactly those (plus the top
``save_depth`` docs for the human-readable run files).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlirbench.data.collection import Collection
from mlirbench.evaluation.kernels import relevant_ranks, top_k
from mlirbench.evaluation.views import View


@dataclass
class ViewRanking:
    """Per query of the view (only those with >= 1 relevant doc in it), padded 2-D arrays.

    ``rel_*`` have one column per relevant doc, ordered retrieved-by-rank then unretrieved,
    padded with row -1; ``rel_ranks`` is the 1-based rank in the full ranking, 0 = not retrieved
    (or padding). ``top_*`` hold the first ``save_depth`` docs, padded with row -1.
    """

    view: View
    query_rows: np.ndarray
    rel_rows: np.ndarray
    rel_grades: np.ndarray
    rel_ranks: np.ndarray
    rel_scores: np.ndarray
    n_ranked: np.ndarray  # how many docs the model ranked for each query
    top_rows: np.ndarray
    top_scores: np.ndarray

    @property
    def n_docs(self) -> int:
        return len(self.view.doc_rows)

    def relevant(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows, grades, ranks, scores) of query i without padding."""
        n = int((self.rel_rows[i] >= 0).sum())
        return self.rel_rows[i, :n], self.rel_grades[i, :n], self.rel_ranks[i, :n], self.rel_scores[i, :n]


@dataclass(frozen=True)
class Relevance:
    """Graded relevance as CSR over query rows: the judged docs of query q are
    ``doc_rows[indptr[q]:indptr[q + 1]]`` (grade > 0 only)."""

    indptr: np.ndarray
    doc_rows: np.ndarray
    grades: np.ndarray


def relevant_rows(collection: Collection) -> Relevance:
    row_of = {doc_id: i for i, doc_id in enumerate(collection.docs.ids)}
    indptr, rows, grades = [0], [], []
    for qid in collection.queries.ids:
        judged = [(row_of[d], g) for d, g in collection.qrels.get(qid, {}).items() if g > 0]
        rows += [d for d, _ in judged]
        grades += [g for _, g in judged]
        indptr.append(len(rows))
    return Relevance(np.asarray(indptr, np.int64), np.asarray(rows, np.int64), np.asarray(grades, np.int64))


def _judged_in_view(view: View, rel: Relevance, n_all_docs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kept query positions, padded view columns of their relevant docs (-1 pad), grades)."""
    col_of = np.full(n_all_docs, -1, dtype=np.int64)
    col_of[view.doc_rows] = np.arange(len(view.doc_rows))
    starts, ends = rel.indptr[view.query_rows], rel.indptr[view.query_rows + 1]
    lens = ends - starts
    owner = np.repeat(np.arange(len(view.query_rows)), lens)
    entry = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
    cols_all = col_of[rel.doc_rows[entry]]
    inside = cols_all >= 0
    owner, cols_all, grades_all = owner[inside], cols_all[inside], rel.grades[entry][inside]
    counts = np.bincount(owner, minlength=len(view.query_rows))
    keep = np.flatnonzero(counts)
    width = int(counts.max()) if len(counts) else 0
    new_row = np.cumsum(counts > 0) - 1
    first = np.cumsum(counts) - counts
    pos = np.arange(len(owner)) - first[owner]
    cols = np.full((len(keep), width), -1, dtype=np.int64)
    grades = np.zeros((len(keep), width), dtype=np.int64)
    cols[new_row[owner], pos] = cols_all
    grades[new_row[owner], pos] = grades_all
    return keep, cols, grades


def rank_view(scores: np.ndarray, view: View, rel: Relevance, save_depth: int) -> ViewRanking:
    """Ranks of the relevant docs by counting (kernels.relevant_ranks), no full sort, and the
    view's block of ``scores`` read in place, never copied."""
    n_docs = len(view.doc_rows)
    keep, cols, grades = _judged_in_view(view, rel, scores.shape[1])
    qrows = view.query_rows[keep]
    ranks, rel_scores, n_ranked = relevant_ranks(scores, qrows, view.doc_rows, cols)
    valid = cols >= 0
    order = np.argsort(np.where(ranks > 0, ranks, np.where(valid, n_docs + 1, n_docs + 2)), axis=1, kind="stable")
    pick = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    rel_rows = np.where(pick(valid), view.doc_rows[np.maximum(pick(cols), 0)], -1)
    top = top_k(scores, qrows, view.doc_rows, save_depth)
    top_cols = view.doc_rows[np.maximum(top, 0)]  # padding (-1) reads the view's first doc, never used
    return ViewRanking(
        view=view,
        query_rows=qrows,
        rel_rows=rel_rows,
        rel_grades=pick(grades),
        rel_ranks=pick(ranks),
        rel_scores=pick(rel_scores).astype(np.float32),
        n_ranked=n_ranked,
        top_rows=np.where(top >= 0, top_cols, -1),
        top_scores=scores[qrows[:, None], top_cols],
    )
