"""numba kernels for the two hot loops of evaluation (numba is already there for ranx)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.typed import List


@njit(cache=True, parallel=True)
def relevant_ranks(sub: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """1-based rank of doc ``cols[i, j]`` in row i of ``sub`` (score descending, ties by column);
    0 where the column is -1 (padding) or the score is -inf (not retrieved)."""
    n_q, width = cols.shape
    n_docs = sub.shape[1]
    out = np.zeros((n_q, width), dtype=np.int64)
    for i in prange(n_q):
        for j in range(width):
            c = cols[i, j]
            if c < 0:
                continue
            s = sub[i, c]
            if not np.isfinite(s):
                continue
            rank = 1
            for k in range(n_docs):
                v = sub[i, k]
                if v > s or (v == s and k < c):
                    rank += 1
            out[i, j] = rank
    return out


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
def top_k(sub: np.ndarray, k: int) -> np.ndarray:
    """Columns of the k best finite scores per row in ranking order (score descending, ties:
    lower column first); -1 where a row has fewer than k finite scores. One pass per row with a
    small sorted buffer, instead of a full sort or argpartition of the whole matrix."""
    n_q, n_docs = sub.shape
    k = min(k, n_docs)
    out = np.full((n_q, k), -1, dtype=np.int64)
    for i in prange(n_q):
        best = np.empty(k, dtype=sub.dtype)
        filled = 0
        for c in range(n_docs):
            v = sub[i, c]
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
