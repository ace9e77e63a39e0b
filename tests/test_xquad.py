"""The `xquad` task: the XQuAD-R files scored as mteb's XQuADRetrieval."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from lareqa_fixture import write_dataset
from test_cli import invoke

from mlirbench.errors import DataError
from mlirbench.registry import get_task

# mteb 2.26.24, mteb/descriptive_stats/Retrieval/XQuADRetrieval.json: queries per language (240 docs each)
MTEB_QUERIES = {"ar": 1186, "de": 1181, "el": 1184, "en": 1185, "es": 1184, "hi": 1183, "ru": 1185,
                "th": 1180, "tr": 1184, "vi": 1182, "zh": 1181}


def test_paragraphs_of_its_own_language_are_the_corpus(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", ["en", "de"], n_articles=2, n_paras=2, n_sent=3)
    path = data / "en.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    first = raw["data"][0]["paragraphs"][0]
    # a second question with the same text (up to whitespace) on the same paragraph: one query, as in mteb
    first["qas"].append(dict(first["qas"][0], id="dup", question=f"  {first['qas'][0]['question']} "))
    path.write_text(json.dumps(raw), encoding="utf-8")
    c = get_task("xquad").load(data, ["en", "de"])
    assert c.docs.ids == [f"{lang}:{a}.{p}" for lang in ("de", "en") for a in range(2) for p in range(2)]
    assert c.docs.texts[c.docs.ids.index("en:0.0")] == first["context"]
    assert c.queries.langs.count("en") == c.queries.langs.count("de") == 12
    assert "en:dup" in c.queries.ids and "en:q000" not in c.queries.ids  # mteb keeps the last id of a text
    assert c.qrels["en:dup"] == {"en:0.0": 1} and c.qrels["de:q000"] == {"de:0.0": 1}
    assert c.qrels["en:q112"] == {"en:1.1": 1}  # its own language's paragraph only
    assert c.query_groups[c.queries.ids.index("de:q112")] == "q112"


def test_run_scores_mono_with_ndcg_as_main_score(tmp_path: Path, capsys) -> None:
    data = write_dataset(tmp_path / "data", ["en", "de"])
    code, _, err = invoke(["run", "-m", "random", "-t", "xquad", "--data-dir", str(data), "--langs", "en,de",
                           "-o", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 0, err
    (path,) = (tmp_path / "r").glob("*/xquad.*json")
    record = json.loads(path.read_text())
    assert set(record["aggregate"]) == {"mono"} and record["task"]["main_score"] == "ndcg@10"
    assert record["task"]["counts"] == {"queries": 24, "docs": 8}


def test_bad_paragraph_is_one_error_naming_the_file(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", ["en"])
    raw = json.loads((data / "en.json").read_text(encoding="utf-8"))
    del raw["data"][1]["paragraphs"][0]["context"]
    (data / "en.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(DataError, match=r"en\.json: data\[1\]\.paragraphs\[0\]: missing field 'context'"):
        get_task("xquad").load(data, ["en"])


def test_real_counts_are_mteb_counts(xquad_r_dir: Path) -> None:
    c = get_task("xquad").load(xquad_r_dir)
    assert {lang: c.queries.langs.count(lang) for lang in MTEB_QUERIES} == MTEB_QUERIES
    assert {c.docs.langs.count(lang) for lang in MTEB_QUERIES} == {240}
    assert {len(rel) for rel in c.qrels.values()} == {1}
