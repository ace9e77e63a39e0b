"""Language-bias report: own-language share of the multilingual top-10 vs relevance alone."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from results_fixture import LANGS, dataset, run_random

from mlirbench.errors import DataError
from mlirbench.records.side_files import read_ranks, read_trec
from mlirbench.report.bias import language_bias


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bias")
    res = root / "results"
    res.mkdir()
    return run_random(dataset(root / "data", missing={"de": {"q000", "q101"}}), res, "rand")


def test_matches_an_independent_count(record: Path) -> None:
    report = language_bias(record)
    run = read_trec(record.with_name("mlqa-r.multi.trec.gz"))
    relevant: dict[str, list[str]] = {}
    for row in read_ranks(record.with_name("mlqa-r.ranks.tsv.gz")):
        if row["setting"] == "multi":
            relevant.setdefault(f"{row['query_id']}@all", []).append(row["doc_id"])
    for lang in LANGS:
        keys = [k for k in relevant if k.startswith(f"{lang}:")]
        own = [np.mean([d.startswith(f"{lang}:") for d in run[k]]) for k in keys]
        exp = [np.mean([d.startswith(f"{lang}:") for d in relevant[k]]) for k in keys]
        entry = report["per_language"][lang]
        assert entry["observed"] == pytest.approx(np.mean(own)) and entry["expected"] == pytest.approx(np.mean(exp))
        assert entry["n_queries"] == len(keys)
    assert report["ratio"] == pytest.approx(report["observed"] / report["expected"])
    # de questions missing q000 / q101: those groups have 6 relevant sentences, the others 7
    assert report["per_language"]["en"]["expected"] == pytest.approx((22 / 7 + 2 / 6) / 24)


def test_an_own_language_only_run_has_share_one(record: Path, tmp_path: Path) -> None:
    folder = tmp_path / "rand"
    folder.mkdir()
    for f in record.parent.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    run = read_trec(record.with_name("mlqa-r.multi.trec.gz"))
    with gzip.open(folder / "mlqa-r.multi.trec.gz", "wt", encoding="utf-8") as fh:
        for key in run:
            lang = key.split(":", 1)[0]
            for r in range(3):  # a short top list: shares are over what was retrieved
                fh.write(f"{key} Q0 {lang}:0.0.{r} {r + 1} {1.0 - r / 10} x\n")
    report = language_bias(folder / "mlqa-r.json")
    assert all(v["observed"] == 1.0 for v in report["per_language"].values())
    assert report["ratio"] == pytest.approx(1 / report["expected"])


def test_missing_run_file_is_a_data_error(record: Path, tmp_path: Path) -> None:
    folder = tmp_path / "rand"
    folder.mkdir()
    (folder / "mlqa-r.json").write_bytes(record.read_bytes())
    with pytest.raises(DataError, match="multi.trec.gz"):
        language_bias(folder / "mlqa-r.json")


def test_own_language_first_matches_an_independent_count_and_the_record(record: Path) -> None:
    first: dict[str, list[tuple[int, str]]] = {}
    for row in read_ranks(record.with_name("mlqa-r.ranks.tsv.gz")):
        if row["setting"] == "multi":
            first.setdefault(row["query_id"], []).append((row["rank"], row["doc_id"].split(":")[0]))
    own: dict[str, list[float]] = {}
    chance: dict[str, list[float]] = {}
    for qid, rel in first.items():
        lang = qid.split(":")[0]
        best = min((r, lg) for r, lg in rel if r > 0)  # random ranks everything
        own.setdefault(lang, []).append(float(best[1] == lang))
        chance.setdefault(lang, []).append(1 / len({lg for _, lg in rel}))
    report = language_bias(record)["own_first"]
    assert report["share"] == pytest.approx(np.mean([np.mean(v) for v in own.values()]))
    assert report["chance"] == pytest.approx(np.mean([np.mean(v) for v in chance.values()]))
    assert report["per_language"]["de"]["n_queries"] == len(own["de"]) and report["none_retrieved"] == 0
    saved = json.loads(record.read_text())["aggregate"]["multi"]
    assert saved["own_language_first"] == pytest.approx(report["share"], abs=1e-12)
    assert saved["own_language_chance"] == pytest.approx(report["chance"], abs=1e-12)
