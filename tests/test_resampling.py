"""Group-aware randomisation tests and bootstrap intervals (report/resampling.py)."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from results_fixture import dataset

from mlirbench.cli import main
from mlirbench.records.saved_ranks import per_query, rank_distances, record_ranks, view_macro
from mlirbench.records.side_files import RANKS_HEADER, read_ranks
from mlirbench.report.resampling import aggregate, bootstrap_interval, design_of, make_design, paired_test

LANGS = [f"l{i}" for i in range(11)]


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> Path:
    """The random model's record on the MLQA-R-shaped fixture (2-4 languages per question)."""
    root = tmp_path_factory.mktemp("resampling")
    main(["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(dataset(root / "data")),
          "-o", str(root / "results"), "--quiet"])
    (path,) = (root / "results").glob("*/mlqa-r.json")
    return path


def copies(n_groups: int = 40, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-group scores of two systems, b = a plus a small noisy gain (p about 0.1 on 40 groups)."""
    rng = np.random.default_rng(seed)
    a = rng.random(n_groups)
    return a, np.clip(a + rng.normal(0.05, 0.15, n_groups), 0.0, 1.0)


def eleven_copies(values: np.ndarray) -> np.ndarray:
    return np.tile(values, len(LANGS))  # language-major, as a collection lists its queries


def copied_design(n_groups: int, unit: str):
    langs = [lang for lang in LANGS for _ in range(n_groups)]
    return make_design(langs, langs, [f"g{g}" for _ in LANGS for g in range(n_groups)], unit)


def test_group_test_on_identical_copies_is_the_test_on_unique_queries() -> None:
    a, b = copies()
    unique = make_design(["l0"] * len(a), ["l0"] * len(a), [f"g{g}" for g in range(len(a))])
    p_unique = paired_test(unique, a, b)
    p_group = paired_test(copied_design(len(a), "group"), eleven_copies(a), eleven_copies(b))
    p_query = paired_test(copied_design(len(a), "query"), eleven_copies(a), eleven_copies(b))
    assert p_group == p_unique
    assert p_query != p_unique and p_query < p_unique  # 11 "independent" copies overstate the evidence
    assert 0.01 < p_unique < 0.5


def test_group_interval_on_identical_copies_is_the_interval_on_unique_queries() -> None:
    a, _ = copies()
    unique = make_design(["l0"] * len(a), ["l0"] * len(a), [f"g{g}" for g in range(len(a))])
    low, high = bootstrap_interval(unique, a)
    assert bootstrap_interval(copied_design(len(a), "group"), eleven_copies(a)) == pytest.approx((low, high), abs=1e-12)
    q_low, q_high = bootstrap_interval(copied_design(len(a), "query"), eleven_copies(a))
    assert q_high - q_low < 0.5 * (high - low)  # about 1/sqrt(11) as wide: too narrow


def test_identical_systems_and_seeding() -> None:
    a, b = copies()
    design = copied_design(len(a), "group")
    assert paired_test(design, eleven_copies(a), eleven_copies(a)) == 1.0
    assert paired_test(design, eleven_copies(a), eleven_copies(b), seed=5) == paired_test(
        design, eleven_copies(a), eleven_copies(b), seed=5)
    assert bootstrap_interval(design, eleven_copies(a), seed=5) == bootstrap_interval(design, eleven_copies(a), seed=5)
    with pytest.raises(ValueError, match="same queries"):
        paired_test(design, eleven_copies(a), np.where(np.arange(len(a) * 11) == 0, np.nan, eleven_copies(b)))


def test_aggregate_is_the_record_aggregate_and_inside_its_interval(record: Path) -> None:
    saved = json.loads(record.read_text())
    for setting, ranks in record_ranks(record).items():
        values = per_query(ranks, ["map"])["map"]
        design = design_of(ranks)
        assert aggregate(design, values) == pytest.approx(saved["aggregate"][setting]["map"], abs=1e-12)
        assert aggregate(design, values) == pytest.approx(view_macro(ranks, values), abs=1e-12)
        low, high = bootstrap_interval(design, values)
        assert low <= saved["aggregate"][setting]["map"] <= high
        # a group holds one question's queries in every view of the setting (2-4 languages here)
        assert design.n_units == len(set(ranks.groups)) < len(ranks.keys)
    multi = record_ranks(record)["multi"]
    distance = aggregate(design_of(multi), rank_distances(multi))
    assert distance == pytest.approx(saved["rank_distance"]["mean"], abs=1e-9)


def test_ranks_file_carries_the_groups_and_old_files_still_read(record: Path, tmp_path: Path) -> None:
    path = record.with_name("mlqa-r.ranks.tsv.gz")
    rows = read_ranks(path)
    assert all(row["group"] == row["query_id"].split(":", 1)[1] for row in rows)  # the LAReQA groups
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = [line.rstrip("\n").split("\t") for line in fh]
    assert tuple(lines[0]) == RANKS_HEADER
    old = tmp_path / "old.ranks.tsv.gz"
    with gzip.open(old, "wt", encoding="utf-8") as fh:
        fh.write("".join("\t".join(line[:-1]) + "\n" for line in lines))
    assert read_ranks(old) == rows
