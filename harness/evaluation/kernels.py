"""numba kernels for the two hot loops of evaluation (numba is already there for ranx)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.typed import List


@njit(cache=True, parallel=True)
def relevant_ranks(scores: np.ndarray, qrows: np.ndarray, dcols: np.ndarray, cols: np.ndarray):
    """For the view whose query i is row ``qrows[i]`` of ``scores`` and whose doc k is column
    ``dcols[k]``: (ranks, scores, n_ranked). ranks[i, j] is the 1-based rank of view doc
    ``cols[i, j]`` (score descending, ties by view column), 0 where the column is -1 (padding) or
    the score is -inf (not retrieved); n_ranked[i] counts the finite scores. Reads the view's
    entries in place: no copy of its block (132 views of XQuAD-R are 1.4 GB of copies)."""
    n_q, width = cols.shape
    n_docs = len(dcols)
    ranks = np.zeros((n_q, width), dtype=np.int64)
    rel_scores = np.empty((n_q, width), dtype=scores.dtype)
    rel_scores[:] = -np.inf
    n_ranked = np.zeros(n_q, dtype=np.int64)
    for i in prange(n_q):
        row = scores[qrows[i]]
        for j in range(width):
            if cols[i, j] >= 0:
                rel_scores[i, j] = row[dcols[cols[i, j]]]
        finite = 0
        for k in range(n_docs):
            v = row[dcols[k]]
            if not np.isfinite(v):
                continue
            finite += 1
            for j in range(width):
                c = cols[i, j]
                if c >= 0 and (v > rel_scores[i, j] or (v == rel_scores[i, j] and k < c)):
                    ranks[i, j] += 1
        n_ranked[i] = finite
        for j in range(width):
            if cols[i, j] >= 0 and np.isfinite(rel_scores[i, j]):
                ranks[i, j] += 1
            else:
                ranks[i, j] = 0
    return ranks, rel_scores, n_ranked


@njit(cache=True)
def skeleton_lists(rows: np.ndarray, grades: np.ndarray, ranks: np.ndarray, offsets: np.ndarray):
    """ranx inputs for query q = entries offsets[q]:offsets[q+1]: its qrels ((doc id, grade) rows)
    and a ranked list down to its last retrieved relevant doc in which every other doc is a
    placeholder id (negative, matching nothing) with strictly decreasing scores."""
    qrels = List()
    runs = List()
    for q in range(len(offsets) - 1):
        a, b = offsets[q], offsets[q + 1]
        qr = np.empty((b - a, 2), dtype=np.float64)
        depth = 0
        for e in range(a, b):
            qr[e - a, 0] = rows[e]
            qr[e - a, 1] = grades[e]
            if ranks[e] > depth:
                depth = ranks[e]
        run = np.empty((depth, 2), dtype=np.float64)
        for p in range(depth):
            run[p, 0] = -1.0 - p
            run[p, 1] = -p
        for e in range(a, b):
            if ranks[e] > 0:
                run[ranks[e] - 1, 0] = rows[e]
        qrels.append(qr)
        runs.append(run)
    return qrels, runs


@njit(cache=True, parallel=True)
def top_k(scores: np.ndarray, qrows: np.ndarray, dcols: np.ndarray, k: int) -> np.ndarray:
    """View columns of the k best finite scores per view query (rows ``qrows``, columns ``dcols``
    of ``scores``, read in place) in ranking order (score descending, ties: lower column first);
    -1 where a row has fewer than k finite scores. One pass per row with a small sorted buffer,
    instead of a full sort or argpartition of the whole matrix."""
    n_q, n_docs = len(qrows), len(dcols)
    k = min(k, n_docs)
    out = np.full((n_q, k), -1, dtype=np.int64)
    for i in prange(n_q):
        row = scores[qrows[i]]
        best = np.empty(k, dtype=scores.dtype)
        filled = 0
        for c in range(n_docs):
            v = row[dcols[c]]
            if not np.isfinite(v):
                continue
            if filled == k and v <= best[k - 1]:
                continue  # ties keep the earlier column
            pos = filled if filled < k else k - 1
            while pos > 0 and best[pos - 1] < v:
                if pos < k:
                    best[pos] = best[pos - 1]
                    out[i, pos] = out[i, pos - 1]
                pos -= 1
            best[pos] = v
            out[i, pos] = c
            if filled < k:
                filled += 1
    return out
