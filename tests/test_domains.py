"""Domain assignment, the committed XQuAD-R mapping and splits, per-domain robustness."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from results_fixture import dataset, run_random
from test_cli import invoke

from mlirbench.data.domains import (
    DOMAINS,
    assign,
    build_mapping,
    build_splits,
    domain_scores,
    load_mapping,
    mapping_path,
    query_domains,
    read_articles,
    word_domain,
)
from mlirbench.errors import DataError
from mlirbench.records.saved_ranks import per_query, record_ranks, view_macro
from mlirbench.report.robustness import domain_summary

XQUAD_AGREEMENT = (41, 48)  # automatic vs hand-checked articles, reported in the mapping and README


def test_lexicon_matching() -> None:
    assert word_domain("medicine") == "science"  # prefix medic*
    assert word_domain("cell") == "science" and word_domain("cellar") is None  # exact entry
    assert word_domain("parliamentary") == "society"
    assert word_domain("electric") == "tech" and word_domain("election") == "society"
    assert domain_scores("Prime_number", "")["science"] == 5  # title words weigh 5


def test_assignment_and_ties() -> None:
    assert assign("Immune system", "Antibodies fight infection and disease in the blood.") == "science"
    assert assign("Rhine", "The river flows north through the valley to the sea.") == "places"
    assert assign("Doctor Who", "The television series and its episodes.") == "culture"
    assert assign("x", "nothing to see") == next(iter(DOMAINS))  # no hit: first domain
    assert assign("x", "river music") == "places"  # tie: earlier domain in DOMAINS order


def test_committed_mapping_is_consistent() -> None:
    mapping = load_mapping("xquad-r")
    assert mapping is not None and mapping_path("xquad-r").is_file()
    assert list(mapping["domains"]) == list(DOMAINS) and mapping["version"] >= 1 and mapping["how_made"]
    articles = mapping["articles"]
    assert len(articles) == 48 and all(a["hand_checked"] for a in articles)
    assert [a["index"] for a in articles] == list(range(48))
    assert set(Counter(a["domain"] for a in articles)) == set(DOMAINS)
    assert len(mapping["groups"]) == 1190 and set(mapping["groups"].values()) == set(DOMAINS)
    agree = mapping["agreement"]
    assert (agree["agree"], agree["articles"]) == XQUAD_AGREEMENT
    assert agree["rate"] == round(41 / 48, 4)
    assert len(agree["disagreements"]) == 48 - 41


def test_committed_splits_match_the_mapping() -> None:
    mapping = load_mapping("xquad-r")
    committed = json.loads((mapping_path("xquad-r").with_name("xquad-r.splits.json")).read_text(encoding="utf-8"))
    assert committed == build_splits(mapping)
    titles = {a["title"] for a in mapping["articles"]}
    for name, split in committed["splits"].items():
        assert name == f"heldout-{split['heldout_domain']}"
        assert split["heldout"] and not set(split["train"]) & set(split["heldout"])
        assert set(split["train"]) | set(split["heldout"]) == titles


@pytest.mark.realdata
def test_committed_mapping_regenerates_from_the_data(xquad_r_dir: Path, tmp_path: Path, capsys) -> None:
    """Same bytes when rebuilt from en.json with the hand-checked domains kept: the automatic
    domains, question groups and agreement in the file are current."""
    out = tmp_path / "xquad-r.json"
    code, stdout, err = invoke(["domains", "assign", str(xquad_r_dir / "en.json"), "--task", "xquad-r",
                                "--hand", str(mapping_path("xquad-r")), "-o", str(out)], capsys)
    assert code == 0, err
    assert "41/48 articles agree (85.4%)" in stdout
    assert out.read_bytes() == mapping_path("xquad-r").read_bytes()
    titles = [a.title for a in read_articles(xquad_r_dir / "de.json")]
    assert titles == [a["title"] for a in load_mapping("xquad-r")["articles"]]  # same articles in every file


def test_assign_any_squad_file_and_splits_cli(tmp_path: Path, capsys) -> None:
    data = dataset(tmp_path / "data")
    out = tmp_path / "auto.json"
    code, stdout, err = invoke(["domains", "assign", str(data / "en.json"), "-t", "mlqa-r", "-o", str(out)], capsys)
    assert code == 0, err
    mapping = load_mapping("mlqa-r", out)
    assert mapping["agreement"] is None and not any(a["hand_checked"] for a in mapping["articles"])
    assert len(mapping["groups"]) == 3 * 2 * 4
    assert all(a["domain"] == a["automatic"] in DOMAINS for a in mapping["articles"])
    splits = tmp_path / "splits.json"
    code, stdout, err = invoke(["domains", "splits", str(out), "-o", str(splits)], capsys)
    assert code == 0, err
    assert "heldout-science" in stdout
    assert json.loads(splits.read_text())["splits"].keys() == {f"heldout-{d}" for d in DOMAINS}


def test_bad_inputs_are_one_line_errors(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    code, _, err = invoke(["domains", "assign", str(bad), "-t", "xquad-r", "-o", str(tmp_path / "o.json")], capsys)
    assert code == 2 and "bad.json" in err and err.count("\n") == 1
    bad.write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(DataError, match="not a domain mapping"):
        load_mapping("x", bad)
    assert load_mapping("no-such-task") is None


def test_robustness_summary(tmp_path: Path) -> None:
    data = dataset(tmp_path / "data")
    res = tmp_path / "results"
    res.mkdir()
    record = run_random(data, res, "rand")
    mapping = build_mapping(data / "en.json", "mlqa-r")
    ranks = record_ranks(record)["multi"]
    values = per_query(ranks, ["map"])["map"]
    domains = query_domains(mapping, [k.rsplit("@", 1)[0] for k in ranks.keys])
    summary = domain_summary(ranks, values, domains, list(DOMAINS))
    present = sorted({d for d in domains})
    assert sorted(summary["per_domain"]) == present and summary["unassigned"] == 0
    for d, score in summary["per_domain"].items():
        select = np.array([x == d for x in domains])
        assert score == pytest.approx(view_macro(ranks, values, select))
    scores = summary["per_domain"].values()
    assert summary["worst"]["score"] == min(scores) and summary["spread"] == pytest.approx(max(scores) - min(scores))
    assert sum(summary["n_queries"].values()) == len(ranks.keys)
