"""Top-k evaluation (MIRACL): the top-k lists of ``retrieval.topk`` become ``ViewRanking``s over a
small doc table holding only the retrieved and the judged docs, so scoring (ranx), result records and
run files are those of the full path.

What differs from the full path: a relevant doc below ``depth`` counts as not retrieved (rank 0),
exactly as trec_eval treats a depth-``depth`` run (nDCG@10 and Recall@100 are exact for
depth >= 100; mAP is AP over the top ``depth``). In the ranks file ``n_docs`` is the number of docs
of the view's language that were retrieved or judged, not the corpus size (the record's
``task.counts.docs`` has that).
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from mlirbench.data.collection import Collection, TextTable
from mlirbench.data.corpus import StreamedCollection
from mlirbench.data.task import TaskMetadata
from mlirbench.errors import MlirbenchError
from mlirbench.evaluation.evaluate import Outcome, evaluate_rankings
from mlirbench.evaluation.ranking import ViewRanking
from mlirbench.evaluation.views import View
from mlirbench.retrieval.centering import CenteredEncoder
from mlirbench.retrieval.protocols import Encoder, Hits, Searcher
from mlirbench.retrieval.scale import ScaleOptions
from mlirbench.retrieval.topk import search_topk


def evaluate_topk(model: Encoder | Searcher, data: StreamedCollection, meta: TaskMetadata, *,
                  options: ScaleOptions = ScaleOptions(), factory: Callable[[], Encoder] | None = None,
                  progress: bool = True) -> Outcome:
    """Retrieve the top ``meta.depth`` per query and language, then score the monolingual views."""
    if meta.depth < 100:
        raise MlirbenchError(f"{meta.name}: depth {meta.depth} < 100 would cut Recall@100 short")
    if isinstance(model, CenteredEncoder):
        raise MlirbenchError(f"task {meta.name}: a top-k task encodes its corpus in shards, whose means are not "
                             "their language's; centred models run on full-ranking tasks only")
    t0 = time.perf_counter()
    hits, model_meta, info = search_topk(model, data, meta.depth, options=options, factory=factory,
                                         progress=progress)
    timings = {"retrieve_s": time.perf_counter() - t0, **info.pop("timings")}
    collection, rankings = build_rankings(data, hits, meta)
    ev = evaluate_rankings(rankings, collection, meta)
    n_docs = sum(data.corpus.count(lang) for lang in data.languages)
    return Outcome(collection, ev, {**timings, **ev.timings}, model_meta, n_docs,
                   retrieval=dict(info, depth=meta.depth))


def build_rankings(data: StreamedCollection, hits: dict[str, Hits],
                   meta: TaskMetadata) -> tuple[Collection, dict[str, list[ViewRanking]]]:
    """One monolingual ViewRanking per language over a doc table of the retrieved and judged docs."""
    q_ids, q_langs = data.queries.ids, np.asarray(data.queries.langs)
    row_of: dict[str, int] = {}
    doc_langs: list[str] = []
    for lang in data.languages:
        judged = (doc for r in np.flatnonzero(q_langs == lang) for doc in data.qrels.get(q_ids[r], {}))
        for doc in (*judged, *hits[lang][0].ravel()):
            if doc and doc not in row_of:
                row_of[doc] = len(doc_langs)
                doc_langs.append(lang)
    docs = TextTable(list(row_of), doc_langs, [""] * len(row_of))
    collection = Collection(data.name, data.languages, docs, data.queries, data.query_groups, data.qrels,
                            data.source)
    d_langs = np.asarray(doc_langs)
    rankings: dict[str, list[ViewRanking]] = {"mono": []}
    for lang in data.languages:
        q_rows = np.flatnonzero(q_langs == lang)
        view = View("mono", lang, lang, q_rows, np.flatnonzero(d_langs == lang))
        rankings["mono"].append(_view_ranking(view, hits[lang], data, row_of, meta.save_depth))
    return collection, rankings


def _view_ranking(view: View, hits: Hits, data: StreamedCollection, row_of: dict[str, int],
                  save_depth: int) -> ViewRanking:
    ids, scores = hits
    keep, rel = [], []
    for i, q in enumerate(view.query_rows):
        judged = [(row_of[d], g) for d, g in data.qrels.get(data.queries.ids[q], {}).items() if g > 0]
        if judged:
            keep.append(i)
            rel.append(judged)
    width = max((len(r) for r in rel), default=0)
    shape = (len(keep), width)
    rel_rows, rel_grades = np.full(shape, -1, np.int64), np.zeros(shape, np.int64)
    rel_ranks, rel_scores = np.zeros(shape, np.int64), np.full(shape, -np.inf, np.float32)
    top_rows, top_scores = np.full((len(keep), save_depth), -1, np.int64), np.full((len(keep), save_depth), -np.inf, np.float32)
    n_ranked = np.zeros(len(keep), np.int64)
    for j, (i, judged) in enumerate(zip(keep, rel)):
        ranked = [row_of[d] for d in ids[i] if d]
        rank_of = {row: r for r, row in enumerate(ranked, start=1)}
        n_ranked[j] = len(ranked)
        top = ranked[:save_depth]
        top_rows[j, :len(top)], top_scores[j, :len(top)] = top, scores[i, :len(top)]
        entries = sorted(judged, key=lambda e: (rank_of.get(e[0], len(ranked) + 1),))  # stable: qrels order
        for c, (row, grade) in enumerate(entries):
            rank = rank_of.get(row, 0)
            rel_rows[j, c], rel_grades[j, c], rel_ranks[j, c] = row, grade, rank
            rel_scores[j, c] = scores[i, rank - 1] if rank else -np.inf
    return ViewRanking(view=view, query_rows=view.query_rows[np.asarray(keep, dtype=np.int64)],
                       rel_rows=rel_rows, rel_grades=rel_grades, rel_ranks=rel_ranks, rel_scores=rel_scores,
                       n_ranked=n_ranked, top_rows=top_rows, top_scores=top_scores)
