"""LEADERBOARD.md: significance markers, bias and robustness sections, determinism, errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from results_fixture import build_results
from test_cli import invoke

from mlirbench.data.domains import build_mapping, write_json_file
from mlirbench.errors import DataError
from mlirbench.registry import task_metadata
from mlirbench.report import leaderboard

TASKS = task_metadata()


def write_leaderboard(results: Path, output: Path, **kwargs) -> Path:
    return leaderboard.write_leaderboard(results, output, TASKS, **kwargs)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("board")
    res, data = build_results(root)
    domains = root / "domains"
    domains.mkdir()
    write_json_file(domains / "mlqa-r.json", build_mapping(data / "en.json", "mlqa-r"))
    return res, domains


def rows(text: str) -> dict[str, list[str]]:
    out = {}
    for line in text.splitlines():
        if line.startswith("| [") and "](" in line:
            cells = [c.strip() for c in line.strip("|").split("|")]
            out[cells[0].split("]")[0][1:]] = cells
    return out


def test_markers_against_the_reference(setup, tmp_path: Path) -> None:
    res, domains = setup
    board = write_leaderboard(res, tmp_path / "LB.md", reference="rand-a", domains_dir=domains)
    text = board.read_text(encoding="utf-8")
    table = rows(text)
    assert "*ref*" in table["rand-a"][0]
    assert all(cell.endswith("▲") for cell in table["perfect"][1:4])  # mAP mono / cross / multi
    assert not any(c.endswith(("▲", "▼")) for c in table["rand-b"][1:4])  # two random seeds: no difference
    assert not any(c.endswith(("▲", "▼")) for c in table["rand-a"])
    assert "Holm-Bonferroni" in text and "*published: LaBSE hybrid*" in text


def test_bias_and_robustness_sections(setup, tmp_path: Path) -> None:
    res, domains = setup
    text = write_leaderboard(res, tmp_path / "LB.md", reference="rand-a", domains_dir=domains).read_text()
    assert "### Language bias (multi setting, top-10)" in text
    assert "### Robustness across domains (mAP)" in text and "automatic assignment" in text
    perfect = rows(text)["perfect"]
    assert perfect[11].startswith("1.000 (")  # worst-domain multi mAP of a perfect ranking
    record = json.loads((res / "rand-a" / "mlqa-r.json").read_text())
    multi = f"{record['aggregate']['multi']['map']:.3f}"
    assert rows(text)["rand-a"][3] == multi


def test_default_reference_and_no_mapping(setup, tmp_path: Path) -> None:
    res, _ = setup
    text = write_leaderboard(res, tmp_path / "LB.md").read_text()
    assert "reference bm25 has no record for this task" in text
    assert "▲" not in text.split("## mlqa-r")[1].split("### Language bias")[0]
    assert "### Robustness" not in text  # no committed mapping for mlqa-r


def test_regenerating_gives_the_same_bytes(setup, tmp_path: Path, capsys) -> None:
    res, _ = setup
    board = tmp_path / "LEADERBOARD.md"
    args = ["leaderboard", "--results", str(res), "-o", str(board), "--reference", "rand-b"]
    code, _, err = invoke(args, capsys)
    assert code == 0, err
    first = board.read_bytes()
    pngs = {p: p.read_bytes() for p in sorted(res.glob("*/*.png"))}
    assert len(pngs) == 3
    invoke(args, capsys)
    assert board.read_bytes() == first
    assert {p: p.read_bytes() for p in sorted(res.glob("*/*.png"))} == pngs


def test_unknown_reference_is_one_line(setup, tmp_path: Path, capsys) -> None:
    res, _ = setup
    code, _, err = invoke(["leaderboard", "--results", str(res), "-o", str(tmp_path / "LB.md"),
                           "--reference", "rand-c"], capsys)
    assert code == 2 and "unknown reference model 'rand-c'; did you mean" in err and err.count("\n") == 1
    assert not (tmp_path / "LB.md").exists()


def test_experiment_folder_gets_its_own_section(setup, tmp_path: Path) -> None:
    res, domains = setup
    import shutil
    exp = res / "my-exp"
    shutil.copytree(res / "rand-a", exp / "rand-a")
    (exp / "experiment.json").write_text(json.dumps(
        {"title": "a test experiment", "description": "what was run", "reference": "rand-a",
         "reading": "what it shows"}), encoding="utf-8")
    out = tmp_path / "LB.md"
    text = write_leaderboard(res, out, domains_dir=domains).read_text()
    main, _, experiment = text.partition("## Experiment: a test experiment")
    assert experiment and "my-exp/rand-a/mlqa-r.json" in experiment
    assert "my-exp/" not in main  # experiment records never join the main table
    assert "*published" not in experiment and "**Reading.** what it shows" in experiment
    shutil.rmtree(exp)


def test_domain_shift_experiment_reports_in_vs_held_out(setup, tmp_path: Path) -> None:
    res, domains = setup
    import shutil
    mapping = json.loads((domains / "mlqa-r.json").read_text())
    present = sorted({a["domain"] for a in mapping["articles"]})
    held = present[0]
    exp = res / "shift-exp"
    shutil.copytree(res / "perfect", exp / "perfect")
    (exp / "experiment.json").write_text(json.dumps(
        {"title": "shift", "description": "d", "reading": "r", "heldout_domain": held}), encoding="utf-8")
    try:
        text = write_leaderboard(res, tmp_path / "LB.md", domains_dir=domains).read_text()
        section = text.split(f"### Domain shift: trained without *{held}*", 1)[1]
        perfect_rows = [line for line in section.splitlines() if line.startswith("| perfect |")]
        assert len(perfect_rows) == 3  # mono, cross, multi
        for row in perfect_rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            if len(present) > 1:  # a perfect system loses nothing on the held-out domain
                assert cells[2] == cells[3] and cells[4] == "0.0%"
        (exp / "experiment.json").write_text(json.dumps(
            {"title": "shift", "description": "d", "reading": "r", "heldout_domain": "nope"}), encoding="utf-8")
        with pytest.raises(Exception, match="held-out domain 'nope'"):
            write_leaderboard(res, tmp_path / "LB2.md", domains_dir=domains)
    finally:
        shutil.rmtree(exp)


@pytest.fixture(scope="module")
def miracl_results(tmp_path_factory) -> tuple[Path, dict]:
    """Complete MIRACL records of two random models on the MIRACL fixture (a registry entry whose
    languages are the fixture's), and the task metadata the board is laid out by."""
    pytest.importorskip("faiss")
    import shutil

    from miracl_fixture import fixture_task, write_miracl

    from mlirbench import registry
    from mlirbench.runner import run
    root = tmp_path_factory.mktemp("miracl-board")
    data = write_miracl(root / "data")
    res = root / "results"
    res.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(registry.TASKS, "miracl", registry.Entry("miracl_fixture:fixture_task", "fixture"))
        for name, seed in (("rand-a", 0), ("rand-b", 1)):
            path = run(registry.parse_model("random", {"seed": seed}), "miracl", data_dir=str(data),
                       output=root / f"tmp-{name}", progress=False)
            shutil.move(str(path.parent), str(res / name))
        tasks = dict(TASKS, miracl=fixture_task().metadata)
    return res, tasks


def test_miracl_board_follows_the_task_metadata(miracl_results, tmp_path: Path) -> None:
    """A mono-only top-k task: its leaderboard metrics (nDCG@10, R@100) overall and per language,
    rows in the order of its main score (nDCG@10 mono), markers on it, no cross / multi columns."""
    res, tasks = miracl_results
    text = leaderboard.write_leaderboard(res, tmp_path / "LB.md", tasks, reference="rand-b").read_text()
    records = {name: json.loads((res / name / "miracl.json").read_text()) for name in ("rand-a", "rand-b")}
    section = text.split("## miracl", 1)[1]
    header = next(line for line in section.splitlines() if line.startswith("| Model"))
    assert header == "| Model | nDCG@10 mono | R@100 mono |"
    table = rows(section)
    order = sorted(records, key=lambda n: -records[n]["aggregate"]["mono"]["ndcg@10"])
    assert list(table) == order and "*ref*" in table["rand-b"][0]
    for name, rec in records.items():
        assert table[name][1].rstrip("▲▼") == f"{rec['aggregate']['mono']['ndcg@10']:.3f}"
        assert table[name][2] == f"{rec['aggregate']['mono']['recall@100']:.3f}"
    assert "nDCG@10 significantly higher" in text and "per-query nDCG@10" in text
    for metric, label in (("ndcg@10", "nDCG@10"), ("recall@100", "R@100")):
        part = section.split(f"### {label} per language (mono)", 1)[1].split("###", 1)[0]
        lines = [line for line in part.splitlines() if line.startswith("|")]
        assert lines[0] == "| Model | en | de | sw |"
        for line in lines[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            views = records[cells[0]]["views"]["mono"]
            assert cells[1:] == [f"{views[f'{x}-{x}'][metric]:.3f}" for x in ("en", "de", "sw")]
    assert "Language bias" not in section and "heatmap" not in section and "Rank dist." not in section
    assert not list(res.glob("*/*.png"))


def test_record_of_an_unregistered_task_is_one_error(miracl_results, tmp_path: Path) -> None:
    res, tasks = miracl_results
    with pytest.raises(Exception, match="task 'miracl', which is not registered"):
        leaderboard.write_leaderboard(res, tmp_path / "LB.md", {k: v for k, v in tasks.items() if k != "miracl"})


def test_group_markers_intervals_and_own_language_first(setup, tmp_path: Path) -> None:
    res, domains = setup
    text = write_leaderboard(res, tmp_path / "LB.md", reference="rand-a", domains_dir=domains).read_text()
    assert "randomisation test over question groups" in text and "relabelled together" in text
    section = text.split("### 95% intervals (bootstrap over question groups)")[1].split("###")[0]
    intervals = {line.split("|")[1].strip(): [c.strip() for c in line.strip().strip("|").split("|")[1:]]
                 for line in section.splitlines() if line.startswith("| ") and not line.startswith("| Model")}
    record = json.loads((res / "rand-a" / "mlqa-r.json").read_text())
    for cell, setting in zip(intervals["rand-a"], ("mono", "cross", "multi")):
        low, high = (float(x) for x in cell.strip("[]").split(", "))
        assert low <= record["aggregate"][setting]["map"] <= high
    low, high = (float(x) for x in intervals["rand-a"][3].strip("[]").split(", "))
    assert low <= record["rank_distance"]["mean"] <= high
    assert intervals["perfect"][:3] == ["[1.000, 1.000]"] * 3
    bias = text.split("### Language bias")[1].split("###")[0]
    assert "| own first | chance |" in bias
    own = next(line for line in bias.splitlines() if line.startswith("| rand-a |")).strip("|").split("|")
    assert float(own[-2]) == pytest.approx(record["aggregate"]["multi"]["own_language_first"], abs=5e-4)


def test_no_board_from_a_folder_without_full_records(setup, tmp_path: Path) -> None:
    """The check lives in write_leaderboard, not only in the CLI: a direct call on an empty folder,
    or on one that holds only language-subset records, must neither write a header-only board
    nor leave one behind."""
    res, _ = setup
    empty = tmp_path / "empty"
    empty.mkdir()
    board = tmp_path / "LEADERBOARD.md"
    with pytest.raises(DataError, match="no result records"):
        write_leaderboard(empty, board)
    subsets = tmp_path / "subsets"
    shutil.copytree(res / "rand-a", subsets / "rand-a")
    path = subsets / "rand-a" / "mlqa-r.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["task"]["languages"] = record["task"]["all_languages"][:2]
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(DataError, match=r"1 records of language subsets"):
        write_leaderboard(subsets, board)
    assert not board.exists()
