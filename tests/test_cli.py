"""End to end through the CLI: run, records and side files, leaderboard, errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lareqa_fixture import write_dataset
from mlirbench.cli import main
from mlirbench.runfiles import read_ranks, read_trec


def invoke(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def mlqa_dir(tmp_path: Path) -> Path:
    """MLQA-R-shaped data: 7 languages, some questions missing in some languages."""
    from lareqa_fixture import WORDS
    langs = ["ar", "de", "en", "es", "hi", "vi", "zh"]
    for lang in langs:
        WORDS.setdefault(lang, [f"{lang}word{i}" for i in range(10)])
    missing = {"ar": {"q000", "q011"}, "hi": {"q000"}, "vi": {"q102"}, "zh": {"q000", "q001"}}
    return write_dataset(tmp_path / "mlqa-r", langs, missing=missing)


def test_ls_lists_models_and_tasks(capsys) -> None:
    code, out, _ = invoke(["ls"], capsys)
    assert code == 0
    for name in ("bm25", "random", "use-m3", "dense", "mbart", "laser3", "xquad-r", "mlqa-r"):
        assert f"  {name} " in out


@pytest.mark.parametrize("args, message", [
    (["run", "--model", "bm52", "--task", "xquad-r"], "unknown model 'bm52'; did you mean 'bm25'?"),
    (["run", "--model", "random", "--task", "xquad"], "unknown task 'xquad'; did you mean 'xquad-r'"),
    (["run", "--model", "random", "--task", "mlqa-r", "--langs", "en,xx"], "unknown language code"),
])
def test_unknown_names_one_line(args, message, capsys, tmp_path, mlqa_dir) -> None:
    code, _, err = invoke(args + ["--data-dir", str(mlqa_dir), "-o", str(tmp_path / "res")], capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "res").exists()


def test_bad_data_writes_nothing(tmp_path: Path, mlqa_dir: Path, capsys) -> None:
    (mlqa_dir / "de.json").write_text('{"data": [ {"paragraphs": 3} ]}', encoding="utf-8")
    code, _, err = invoke(["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(mlqa_dir),
                           "-o", str(tmp_path / "res"), "--quiet"], capsys)
    assert code == 2 and "de.json" in err and "paragraphs" in err
    assert not (tmp_path / "res").exists()


def independent_map(ranks_rows: list[dict]) -> dict[tuple[str, str], float]:
    """AP per view from the ranks file with the textbook formula (no ranx)."""
    per_query: dict[tuple[str, str, str], list[int]] = {}
    for row in ranks_rows:
        per_query.setdefault((row["query_lang"], row["corpus"], row["query_id"]), []).append(row["rank"])
    per_view: dict[tuple[str, str], list[float]] = {}
    for (ql, corpus, _), ranks in per_query.items():
        found = sorted(r for r in ranks if r > 0)
        ap = sum((i + 1) / r for i, r in enumerate(found)) / len(ranks)
        per_view.setdefault((ql, corpus), []).append(ap)
    return {k: float(np.mean(v)) for k, v in per_view.items()}


def test_run_mlqa_like_end_to_end(tmp_path: Path, mlqa_dir: Path, capsys) -> None:
    res = tmp_path / "res"
    args = ["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(mlqa_dir), "-o", str(res), "--quiet"]
    code, out, err = invoke(args, capsys)
    assert code == 0, err
    record_path = res / "random" / "mlqa-r.json"
    record = json.loads(record_path.read_text())
    assert record["schema_version"] == 1
    assert record["task"]["counts"] == {"queries": 7 * 12 - 6, "docs": 7 * 12}
    assert set(record["aggregate"]) == {"mono", "cross", "multi"}
    assert record["aggregate"]["cross"]["n_views"] == 42
    assert record["views"]["cross"]["en-zh"]["n_queries"] == 10
    assert record["model"]["metadata"]["name"] == "random"
    for key in ("mlirbench_version", "git", "packages", "hardware", "timings", "command"):
        assert key in record["provenance"]
    assert all(f["sha256"] and f["matches_pinned"] for f in record["data"]["files"].values())
    # every side file exists with the recorded sha256
    from mlirbench.download import sha256_file
    for entry in record["run_files"].values():
        assert sha256_file(record_path.parent / entry["path"]) == entry["sha256"]
    # mAP recomputed independently from the saved ranks equals the record, view by view
    rows = read_ranks(record_path.parent / record["run_files"]["ranks"]["path"])
    recomputed = independent_map(rows)
    for setting, views in record["views"].items():
        for key, entry in views.items():
            ql, corpus = key.split("-", 1)
            assert entry["map"] == pytest.approx(recomputed[(ql, corpus)], abs=1e-12)
    # the TREC run holds the top docs, best first
    run = read_trec(record_path.parent / record["run_files"]["multi"]["path"])
    first = next(iter(run.values()))
    assert len(first) == 10 and list(first.values()) == sorted(first.values(), reverse=True)
    # determinism: the same command gives byte-identical side files and the same scores
    before = {e["path"]: e["sha256"] for e in record["run_files"].values()}
    code, _, _ = invoke(args, capsys)
    again = json.loads(record_path.read_text())
    assert {e["path"]: e["sha256"] for e in again["run_files"].values()} == before
    assert again["views"] == record["views"] and again["aggregate"] == record["aggregate"]
    # no stray temp or lock files
    assert sorted(p.name for p in record_path.parent.iterdir()) == [
        "mlqa-r.json", "mlqa-r.mono.trec.gz", "mlqa-r.multi.trec.gz", "mlqa-r.ranks.tsv.gz"]


def test_leaderboard_is_reproducible(tmp_path: Path, mlqa_dir: Path, capsys) -> None:
    res = tmp_path / "res"
    invoke(["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(mlqa_dir), "-o", str(res), "--quiet"], capsys)
    invoke(["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(mlqa_dir), "-o", str(res), "--quiet",
            "--langs", "en,de"], capsys)
    board = tmp_path / "LEADERBOARD.md"
    code, _, err = invoke(["leaderboard", "--results", str(res), "-o", str(board)], capsys)
    assert code == 0, err
    text = board.read_text()
    png = res / "random" / "mlqa-r.pairs.png"
    assert "## mlqa-r" in text and "res/random/mlqa-r.pairs.png" in text and png.is_file()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "*published: LaBSE hybrid*" in text
    assert text.count("| [random]") == 1  # the language-subset run is not a leaderboard row
    first_png = png.read_bytes()
    invoke(["leaderboard", "--results", str(res), "-o", str(board)], capsys)
    assert board.read_text() == text and png.read_bytes() == first_png
