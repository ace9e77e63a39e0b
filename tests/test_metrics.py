"""Metrics and rank distance against a brute-force computation on full rankings."""
from __future__ import annotations

import numpy as np
import pytest

from mlirbench.data.collection import Collection, TextTable
from mlirbench.data.task import TaskMetadata
from mlirbench.evaluation.evaluate import evaluate_scores

LANGS = ("aa", "bb", "cc")
META = TaskMetadata(name="synthetic", description="", languages=LANGS, reference="", license="",
                    source="", revision="", save_depth=5)


def synthetic(n_groups: int = 30, docs_per_lang: int = 40, missing: float = 0.0, seed: int = 0):
    """Parallel queries; group g's answer in language L is doc (L, g); optional missing questions."""
    rng = np.random.default_rng(seed)
    d_ids, d_langs, q_ids, q_langs, groups = [], [], [], [], []
    for lang in LANGS:
        d_ids += [f"{lang}:d{j}" for j in range(docs_per_lang)]
        d_langs += [lang] * docs_per_lang
    present = {(lang, g) for lang in LANGS for g in range(n_groups) if rng.random() >= missing}
    for lang in LANGS:
        for g in range(n_groups):
            if (lang, g) in present:
                q_ids.append(f"{lang}:q{g}")
                q_langs.append(lang)
                groups.append(f"q{g}")
    qrels = {qid: {f"{lang}:d{grp[1:]}": 1 for lang in LANGS if (lang, int(grp[1:])) in present}
             for qid, grp in zip(q_ids, groups)}
    coll = Collection("synthetic", LANGS, TextTable(d_ids, d_langs, [""] * len(d_ids)),
                      TextTable(q_ids, q_langs, [""] * len(q_ids)), groups, qrels)
    return coll


def brute_force(scores: np.ndarray, coll: Collection, setting: str) -> dict:
    """Full argsort per query and textbook formulas."""
    out: dict[str, list[float]] = {}
    rd: dict[str, list[float]] = {}
    d_langs = np.array(coll.docs.langs)
    for qi, (qid, ql) in enumerate(zip(coll.queries.ids, coll.queries.langs)):
        corpora = {"mono": [ql], "cross": [lang for lang in LANGS if lang != ql], "multi": ["all"]}[setting]
        for corpus in corpora:
            cols = np.arange(len(coll.docs)) if corpus == "all" else np.flatnonzero(d_langs == corpus)
            rel = {coll.docs.ids.index(d) for d in coll.qrels[qid]} & set(cols.tolist())
            if not rel:
                continue
            s = scores[qi, cols]
            order = cols[np.argsort(-s, kind="stable")]
            finite = np.isfinite(scores[qi, order])
            ranked = order[finite]
            hits = [k + 1 for k, d in enumerate(ranked) if d in rel]
            ap = sum((i + 1) / r for i, r in enumerate(hits)) / len(rel)
            dcg = sum(1 / np.log2(r + 1) for r in hits if r <= 10)
            idcg = sum(1 / np.log2(i + 2) for i in range(min(len(rel), 10)))
            vals = {"map": ap, "ndcg@10": dcg / idcg,
                    "recall@1": sum(r <= 1 for r in hits) / len(rel),
                    "recall@10": sum(r <= 10 for r in hits) / len(rel),
                    "mrr@10": 1 / hits[0] if hits and hits[0] <= 10 else 0.0}
            key = f"{ql}-{corpus}"
            for m, v in vals.items():
                out.setdefault(f"{key}|{m}", []).append(v)
            if setting == "multi" and len(rel) >= 2:
                n_ranked, n = len(ranked), len(cols)
                pos = [hits[i] for i in range(len(hits))]
                tail = n_ranked + (n - n_ranked + 1) / 2
                all_ranks = pos + [tail] * (len(rel) - len(hits))
                rd.setdefault(ql, []).append(max(all_ranks) - min(all_ranks))
    means = {k: float(np.mean(v)) for k, v in out.items()}
    rd_mean = float(np.mean([np.mean(v) for v in rd.values()])) if rd else float("nan")
    return {"views": means, "rank_distance": rd_mean}


@pytest.mark.parametrize("missing", [0.0, 0.3])
@pytest.mark.parametrize("kind", ["dense", "ties", "lexical"])
def test_matches_brute_force(kind: str, missing: float) -> None:
    coll = synthetic(missing=missing, seed=1 if missing else 0)
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((len(coll.queries), len(coll.docs))).astype(np.float32)
    # make the task learnable so relevant docs sit at a spread of ranks
    for qi, qid in enumerate(coll.queries.ids):
        for d in coll.qrels[qid]:
            scores[qi, coll.docs.ids.index(d)] += rng.uniform(0, 3)
    if kind == "ties":
        scores = np.round(scores * 2) / 2  # many exact ties
    if kind == "lexical":
        scores[rng.random(scores.shape) < 0.6] = -np.inf  # unretrieved docs
    ev = evaluate_scores(scores, coll, META, progress=False)
    for setting in ("mono", "cross", "multi"):
        expected = brute_force(scores, coll, setting)
        for key, entry in ev.views[setting].items():
            for metric in META.metrics:
                assert entry[metric] == pytest.approx(expected["views"][f"{key}|{metric}"], abs=1e-12), (setting, key, metric)
        if setting == "multi":
            assert ev.rank_distance["mean"] == pytest.approx(expected["rank_distance"], abs=1e-9)


def test_aggregates_are_means_of_views() -> None:
    coll = synthetic()
    scores = np.random.default_rng(3).standard_normal((len(coll.queries), len(coll.docs))).astype(np.float32)
    ev = evaluate_scores(scores, coll, META, progress=False)
    assert ev.aggregate["mono"]["n_views"] == 3
    assert ev.aggregate["cross"]["n_views"] == 6
    assert ev.aggregate["multi"]["n_views"] == 3
    for setting in ("mono", "cross", "multi"):
        views = ev.views[setting]
        assert ev.aggregate[setting]["map"] == pytest.approx(np.mean([v["map"] for v in views.values()]))
    # the pair matrix holds mono on the diagonal, cross off it and the pooled corpus last
    pm = ev.pair_matrix
    assert pm["cols"] == list(LANGS) + ["all"]
    assert pm["values"][0][0] == ev.views["mono"]["aa-aa"]["map"]
    assert pm["values"][0][1] == ev.views["cross"]["aa-bb"]["map"]
    assert pm["values"][2][3] == ev.views["multi"]["cc-all"]["map"]


def test_perfect_and_worst_systems() -> None:
    coll = synthetic()
    rel = np.zeros((len(coll.queries), len(coll.docs)), dtype=np.float32)
    for qi, qid in enumerate(coll.queries.ids):
        for d in coll.qrels[qid]:
            rel[qi, coll.docs.ids.index(d)] = 1.0
    best = evaluate_scores(rel, coll, META, progress=False)
    for setting in ("mono", "cross", "multi"):
        assert best.aggregate[setting]["map"] == pytest.approx(1.0)
        assert best.aggregate[setting]["recall@1"] == pytest.approx(1.0 if setting != "multi" else 1 / 3)
    # all relevant docs in the top 3 of the pool: rank distance at most 2
    assert best.rank_distance["mean"] <= 2.0
    nothing = np.full_like(rel, -np.inf)
    worst = evaluate_scores(nothing, coll, META, progress=False)
    assert worst.aggregate["multi"]["map"] == 0.0
    assert worst.rank_distance["unranked_relevant"] == sum(len(v) for v in coll.qrels.values())
    assert worst.rank_distance["mean"] == 0.0  # every relevant doc ties in the unretrieved tail


@pytest.mark.parametrize("kind", ["dense", "ties", "lexical"])
def test_saved_top_docs_match_full_sort(kind: str) -> None:
    from mlirbench.evaluation.ranking import rank_view, relevant_rows
    from mlirbench.evaluation.views import build_views
    coll = synthetic()
    rng = np.random.default_rng(11)
    scores = rng.standard_normal((len(coll.queries), len(coll.docs))).astype(np.float32)
    if kind == "ties":
        scores = np.round(scores)
    if kind == "lexical":
        scores[rng.random(scores.shape) < 0.9] = -np.inf  # some queries rank fewer than 5 docs
    rel = relevant_rows(coll)
    for view in build_views(coll):
        vr = rank_view(scores, view, rel, save_depth=5)
        for i, q in enumerate(vr.query_rows):
            s = scores[q, view.doc_rows]
            order = np.argsort(-s, kind="stable")
            expected = view.doc_rows[order[np.isfinite(s[order])][:5]]
            got = vr.top_rows[i][vr.top_rows[i] >= 0]
            assert got.tolist() == expected.tolist()
