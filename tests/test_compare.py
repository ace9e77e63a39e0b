"""Paired significance tests from saved files: exact per-query values, Holm, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from results_fixture import build_results, dataset, run_random
from scipy.stats import ttest_rel
from test_cli import invoke

from mlirbench.records.saved_ranks import per_query, record_ranks, view_macro
from mlirbench.records.side_files import read_ranks
from mlirbench.report.significance import compare_models, compare_setting, fmt_p, holm, load_model_ranks


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return build_results(tmp_path_factory.mktemp("compare"))[0]


def textbook_ap(ranks: list[int]) -> float:
    found = sorted(r for r in ranks if r > 0)
    return sum((i + 1) / r for i, r in enumerate(found)) / len(ranks)


def test_saved_per_query_values_equal_the_record(results: Path) -> None:
    record = json.loads((results / "rand-a" / "mlqa-r.json").read_text())
    for setting, ranks in record_ranks(results / "rand-a" / "mlqa-r.json").items():
        values = per_query(ranks, ["map", "recall@1", "recall@10", "ndcg@10"])
        for metric, v in values.items():
            assert view_macro(ranks, v) == pytest.approx(record["aggregate"][setting][metric], abs=1e-12)


def test_student_p_value_is_that_of_the_full_ranking_values(results: Path) -> None:
    """ranx.compare on skeleton runs = scipy's paired t-test on textbook AP from the ranks."""
    per_model = {}
    for model in ("rand-a", "rand-b"):
        by_query: dict[str, list[int]] = {}
        for row in read_ranks(results / model / "mlqa-r.ranks.tsv.gz"):
            if row["setting"] == "cross":
                by_query.setdefault(f"{row['query_id']}@{row['corpus']}", []).append(row["rank"])
        per_model[model] = {k: textbook_ap(v) for k, v in by_query.items()}
    keys = sorted(per_model["rand-a"])
    a = np.array([per_model["rand-a"][k] for k in keys])
    b = np.array([per_model["rand-b"][k] for k in keys])
    contenders = load_model_ranks(results, ["rand-a", "rand-b"], "mlqa-r")
    (pair,) = compare_setting({m: contenders[m]["cross"] for m in contenders}, "map", "student")
    assert pair.p_value == pytest.approx(ttest_rel(a, b).pvalue, rel=1e-9)
    assert pair.mean_a == pytest.approx(a.mean(), abs=1e-12)
    assert (pair.wins, pair.ties, pair.losses) == (int((a > b).sum()), int((a == b).sum()), int((a < b).sum()))


def test_holm() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5]
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_three_contenders_get_holm_and_all_pairs(results: Path) -> None:
    out = compare_models(results, ["perfect", "rand-a", "rand-b"], "mlqa-r")
    assert out["test"] == "group" and "Holm" in out["correction"]
    assert set(out["settings"]) == {"mono", "cross", "multi"}
    for entry in out["settings"].values():
        pairs = entry["pairs"]
        assert [(p["a"], p["b"]) for p in pairs] == [("perfect", "rand-a"), ("perfect", "rand-b"), ("rand-a", "rand-b")]
        assert pytest.approx([p["p_adjusted"] for p in pairs]) == holm([p["p_value"] for p in pairs])
        for p in pairs:
            assert p["wins"] + p["ties"] + p["losses"] == entry["n_queries"]
        assert pairs[0]["significant"] and pairs[0]["mean_a"] == 1.0
        assert not pairs[2]["significant"]


def test_identical_contenders_are_not_different(results: Path) -> None:
    contenders = load_model_ranks(results, ["rand-a", "rand-b"], "mlqa-r")
    same = {"x": contenders["rand-a"]["multi"], "y": contenders["rand-a"]["multi"]}
    (pair,) = compare_setting(same, "map", "student")
    assert pair.p_value == 1.0 and not pair.significant and pair.ties == len(same["x"].keys)


def test_fisher(results: Path) -> None:
    """ranx's randomization test: seeded, but drawn in numba threads, so equal only up to the
    Monte Carlo error of 1,000 permutations; a total win gets no permuted difference as large."""
    contenders = load_model_ranks(results, ["rand-a", "rand-b", "perfect"], "mlqa-r")
    runs = {m: contenders[m]["mono"] for m in ("rand-a", "rand-b")}
    first = compare_setting(runs, "map", "fisher")[0].p_value
    assert compare_setting(runs, "map", "fisher")[0].p_value == pytest.approx(first, abs=0.08)
    best = {m: contenders[m]["mono"] for m in ("perfect", "rand-a")}
    (pair,) = compare_setting(best, "map", "fisher")
    assert pair.p_value == 0 and pair.significant
    assert fmt_p(pair.p_value, "fisher") == "<0.001"


def test_cli_table_and_json(results: Path, capsys) -> None:
    code, out, err = invoke(["compare", "--models", "rand-a", "perfect", "--task", "mlqa-r",
                             "--results", str(results)], capsys)
    assert code == 0, err
    assert "randomisation test over question groups" in out and "none (one pair)" in out
    assert "Group-aware" in out and out.count("rand-a  perfect") == 3
    code, out, err = invoke(["compare", "--models", "rand-a", "perfect", "--task", "mlqa-r", "--test", "student",
                             "--results", str(results)], capsys)
    assert code == 0 and "two-sided paired Student's t-test" in out and "overstates" in out
    code, out, err = invoke(["compare", "-m", "rand-a", "-m", "perfect", "-t", "mlqa-r", "--results", str(results),
                             "--metric", "recall@10", "--test", "tukey", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["metric"] == "recall@10" and data["test"] == "tukey"
    assert data["settings"]["multi"]["pairs"][0]["significant"] is True


@pytest.mark.parametrize("args, message", [
    (["--models", "rand-a", "rand-c"], "unknown model for task mlqa-r 'rand-c'; did you mean"),
    (["--models", "rand-a", "rand-b", "--test", "t-test"], "unknown statistical test 't-test'"),
    (["--models", "rand-a"], "needs at least two models"),
    (["--models", "rand-a", "rand-a"], "model named twice"),
])
def test_cli_errors_one_line(results: Path, args, message, capsys) -> None:
    code, _, err = invoke(["compare", *args, "--task", "mlqa-r", "--results", str(results)], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_different_data_is_refused(results: Path, tmp_path: Path, capsys) -> None:
    data = dataset(tmp_path / "data", missing={"de": {"q000"}})
    res = tmp_path / "results"
    res.mkdir()
    run_random(data, res, "other")
    (res / "rand-a").symlink_to(results / "rand-a", target_is_directory=True)
    code, _, err = invoke(["compare", "--models", "rand-a", "other", "--task", "mlqa-r", "--results", str(res)], capsys)
    assert code == 2 and "not evaluated on the same queries" in err


def test_side_file_not_matching_its_record_is_refused(results: Path, tmp_path: Path) -> None:
    import shutil

    from mlirbench.errors import DataError
    from mlirbench.records.saved_ranks import record_ranks
    copy = tmp_path / "rand-a"
    shutil.copytree(results / "rand-a", copy)
    record = next(copy.glob("*.json"))
    ranks = next(copy.glob("*.ranks.tsv.gz"))
    shutil.copy(next((results / "rand-b").glob("*.ranks.tsv.gz")), ranks)  # newer side file, old record
    with pytest.raises(DataError, match="does not match its record"):
        record_ranks(record)


def test_group_test_relabels_question_groups(results: Path) -> None:
    """The default test: per setting, the groups of the ranks file are the unit; its means are the
    record's aggregates; on queries that are all in different groups it is the query-level test."""
    from mlirbench.report.resampling import design_of, paired_test

    contenders = load_model_ranks(results, ["rand-a", "rand-b"], "mlqa-r")
    record = json.loads((results / "rand-a" / "mlqa-r.json").read_text())
    for setting in ("mono", "cross", "multi"):
        runs = {m: contenders[m][setting] for m in ("rand-a", "rand-b")}
        (pair,) = compare_setting(runs, "map")
        assert pair.mean_a == pytest.approx(record["aggregate"][setting]["map"], abs=1e-12)
        a, b = (per_query(runs[m], ["map"])["map"] for m in runs)
        assert pair.p_value == paired_test(design_of(runs["rand-a"]), a, b)
        assert pair.p_value != paired_test(design_of(runs["rand-a"], "query"), a, b)
