"""LAReQA loading (XQuAD-R / MLQA-R format), views, data errors and the pinned download."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lareqa_fixture import write_dataset

from mlirbench._io.hashing import sha256_file
from mlirbench.errors import DataError, MlirbenchError, UnknownNameError
from mlirbench.evaluation.views import build_views
from mlirbench.tasks import lareqa
from mlirbench.tasks.lareqa import MLQA_R, XQUAD_R, LareqaTask

LANGS = ["de", "en", "es", "zh"]


def task_for(langs) -> LareqaTask:
    from dataclasses import replace
    return LareqaTask(replace(XQUAD_R, name="fixture", languages=tuple(langs),
                              sha256={lang: None for lang in langs}, data_env="MLIRBENCH_FIXTURE_DIR"))


def test_parallel_fixture_counts_and_qrels(tmp_path: Path) -> None:
    write_dataset(tmp_path, LANGS)
    coll = task_for(LANGS).load(tmp_path)
    assert len(coll.docs) == 4 * 2 * 2 * 3
    assert len(coll.queries) == 4 * 12
    # every question has one relevant sentence per language, the one holding answer_start
    for qid, group in zip(coll.queries.ids, coll.query_groups):
        rel = coll.qrels[qid]
        assert sorted(d.split(":")[0] for d in rel) == sorted(LANGS)
        a, p, s = int(group[1]), int(group[2]), int(group[3])
        assert set(rel) == {f"{lang}:{a}.{p}.{s}" for lang in LANGS}
    assert len(set(coll.docs.ids)) == len(coll.docs)  # ids unique across languages


def test_mlqa_style_missing_questions(tmp_path: Path) -> None:
    # q000 exists only in en and de; q001 missing in zh; others everywhere
    missing = {"es": {"q000"}, "zh": {"q000", "q001"}}
    write_dataset(tmp_path, LANGS, missing=missing)
    coll = task_for(LANGS).load(tmp_path)
    assert "es:q000" not in coll.queries.ids
    assert set(coll.qrels["en:q000"]) == {"en:0.0.0", "de:0.0.0"}
    assert len(coll.qrels["de:q001"]) == 3
    views = {v.key: v for v in build_views(coll)}
    assert len(views) == 4 + 12 + 4
    # cross view en->zh: q000 and q001 have no relevant doc in zh and are left out of that view
    from mlirbench.evaluation.evaluate import evaluate_scores
    scores = np.zeros((len(coll.queries), len(coll.docs)), dtype=np.float32)
    ev = evaluate_scores(scores, coll, task_for(LANGS).metadata, progress=False)
    assert ev.views["cross"]["en-zh"]["n_queries"] == 12 - 2
    assert ev.views["cross"]["en-de"]["n_queries"] == 12
    assert ev.views["mono"]["zh-zh"]["n_queries"] == 10
    assert ev.views["multi"]["en-all"]["n_queries"] == 12


def test_view_docs_and_qrels_restricted(tmp_path: Path) -> None:
    write_dataset(tmp_path, LANGS)
    coll = task_for(LANGS).load(tmp_path)
    for view in build_views(coll):
        doc_langs = {coll.docs.langs[r] for r in view.doc_rows}
        q_langs = {coll.queries.langs[r] for r in view.query_rows}
        assert q_langs == {view.query_lang}
        assert doc_langs == (set(LANGS) if view.corpus == "all" else {view.corpus})
        if view.setting == "cross":
            assert view.corpus != view.query_lang


def test_langs_selection_and_unknown_language(tmp_path: Path) -> None:
    write_dataset(tmp_path, LANGS)
    coll = task_for(LANGS).load(tmp_path, langs=["zh", "en"])
    assert coll.languages == ("en", "zh")  # task order, not argument order
    assert all(len(v) == 2 for v in coll.qrels.values())  # qrels only name loaded languages
    with pytest.raises(UnknownNameError, match="did you mean 'en'"):
        task_for(LANGS).load(tmp_path, langs=["eng"])


def test_env_var_folder(tmp_path: Path, monkeypatch) -> None:
    write_dataset(tmp_path, LANGS)
    monkeypatch.setenv("MLIRBENCH_FIXTURE_DIR", str(tmp_path))
    assert len(task_for(LANGS).load().queries) == 48


@pytest.mark.parametrize("corrupt, message", [
    (lambda d: "{not json", "malformed JSON"),
    (lambda d: json.dumps([1, 2]), "expected a SQuAD-format object"),
    (lambda d: (d["data"][0]["paragraphs"][0].pop("sentence_breaks"), json.dumps(d))[1], "missing field 'sentence_breaks'"),
    (lambda d: (d["data"][0]["paragraphs"][0]["qas"][0].update(question="  "), json.dumps(d))[1], "is empty"),
    (lambda d: (d["data"][0]["paragraphs"][1]["qas"][0].update(id="q000"), json.dumps(d))[1], "duplicate question id"),
    (lambda d: (d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].update(answer_start=10**6), json.dumps(d))[1],
     "outside the sentences"),
    (lambda d: (d["data"][0]["paragraphs"][0]["sentence_breaks"].pop(), json.dumps(d))[1], "sentence_breaks"),
])
def test_malformed_files_name_file_and_problem(tmp_path: Path, corrupt, message: str) -> None:
    write_dataset(tmp_path, LANGS)
    path = tmp_path / "de.json"
    path.write_text(corrupt(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
    with pytest.raises(DataError, match=message) as err:
        task_for(LANGS).load(tmp_path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_not_utf8_and_missing_files(tmp_path: Path) -> None:
    write_dataset(tmp_path, LANGS)
    (tmp_path / "en.json").write_bytes(b'{"data": "\xff\xfe"}')
    with pytest.raises(DataError, match="not valid UTF-8"):
        task_for(LANGS).load(tmp_path)
    (tmp_path / "zh.json").unlink()
    with pytest.raises(DataError, match="lacks zh.json"):
        task_for(LANGS).load(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        task_for(LANGS).load(tmp_path / "nope")


def test_pinned_download_verifies_sha256(tmp_path: Path, monkeypatch) -> None:
    src = write_dataset(tmp_path / "src" / XQUAD_R.revision / "xquad-r", ["en"])
    good = sha256_file(src / "en.json")
    monkeypatch.setattr(lareqa, "_RAW", f"file://{tmp_path}/src/{{commit}}/{{folder}}/{{lang}}.json")
    from dataclasses import replace
    task = LareqaTask(replace(XQUAD_R, languages=("en",), sha256={"en": good}))
    coll = task.load()
    assert coll.source["files"]["en"]["sha256"] == good and coll.source["files"]["en"]["matches_pinned"]
    cached = Path(coll.source["files"]["en"]["path"])
    assert cached.is_file() and cached.parent.name == XQUAD_R.revision
    # a corrupted cached copy is deleted and fetched again
    cached.write_text("corrupt")
    assert task.load().source["files"]["en"]["sha256"] == good
    # a download whose sha256 does not match is refused and nothing is left in the cache
    cached.unlink()
    bad = LareqaTask(replace(XQUAD_R, languages=("en",), sha256={"en": "0" * 64}))
    with pytest.raises(DataError, match="sha256 mismatch"):
        bad.load()
    assert not cached.exists() and not list(cached.parent.glob("*.tmp"))


def test_offline_without_local_copy_says_how(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLIRBENCH_OFFLINE", "1")
    with pytest.raises(MlirbenchError, match=r"--data-dir or \$MLIRBENCH_MLQA_R_DIR"):
        LareqaTask(MLQA_R).load()


@pytest.mark.realdata
def test_real_xquad_r_counts(xquad_r_dir: Path) -> None:
    coll = LareqaTask(XQUAD_R).load(xquad_r_dir)
    per_lang = {lang: coll.docs.langs.count(lang) for lang in XQUAD_R.languages}
    assert per_lang == {"ar": 1222, "de": 1276, "el": 1234, "en": 1180, "es": 1215, "hi": 1244,
                        "ru": 1219, "th": 852, "tr": 1167, "vi": 1209, "zh": 1196}
    assert len(coll.docs) == 13014
    assert {lang: coll.queries.langs.count(lang) for lang in XQUAD_R.languages} == {lang: 1190 for lang in XQUAD_R.languages}
    assert all(len(rel) == 11 for rel in coll.qrels.values())  # 11-way parallel
    assert all(f["matches_pinned"] for f in coll.source["files"].values())
    views = build_views(coll)
    assert [sum(v.setting == s for v in views) for s in ("mono", "cross", "multi")] == [11, 110, 11]
