"""Model + collection -> one (queries x docs) score matrix: every text encoded (or searched) once."""
from __future__ import annotations

import time

import numpy as np
from tqdm.auto import tqdm

from mlirbench.data.collection import Collection, TextTable
from mlirbench.retrieval.protocols import Encoder, Searcher


def encode_table(encoder: Encoder, table: TextTable, role: str, progress: bool = True) -> np.ndarray:
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


def score_matrix(model: Encoder | Searcher, collection: Collection, progress: bool = True) -> tuple[np.ndarray, dict[str, float]]:
    """(n_queries x n_docs) float32 scores; -inf where a lexical model retrieved nothing."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if isinstance(model, Searcher):
        model.index(collection.docs)
        timings["index_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        hits = model.search(collection.queries, k=None).tocoo()
        scores = np.full((len(collection.queries), len(collection.docs)), -np.inf, dtype=np.float32)
        scores[hits.row, hits.col] = hits.data
        timings["search_s"] = time.perf_counter() - t1
    else:
        q = encode_table(model, collection.queries, "query", progress)
        d = encode_table(model, collection.docs, "passage", progress)
        timings["encode_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        scores = q @ d.T
        timings["search_s"] = time.perf_counter() - t1
    return scores, timings
