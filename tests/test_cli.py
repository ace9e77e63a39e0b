"""End to end through the CLI: run, records and side files, leaderboard, errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lareqa_fixture import write_dataset

from mlirbench.cli import main
from mlirbench.records.side_files import read_ranks, read_trec


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
    (["run", "--model", "random", "--task", "xqaud-r"], "unknown task 'xqaud-r'; did you mean 'xquad-r'"),
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
    from mlirbench._io.hashing import sha256_file
    for entry in record["run_files"].values():
        assert sha256_file(record_path.parent / entry["path"]) == entry["sha256"]
    # mAP recomputed independently from the saved ranks equals the record, view by view
    rows = read_ranks(record_path.parent / record["run_files"]["ranks"]["path"])
    recomputed = independent_map(rows)
    for views in record["views"].values():
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


@pytest.fixture
def miracl_dir(tmp_path: Path) -> Path:
    from miracl_fixture import write_miracl
    return write_miracl(tmp_path / "miracl", langs=("en", "de"))


def run_miracl(miracl_dir: Path, res: Path, capsys, *flags: str) -> dict:
    """``mlirbench run`` of the random encoder on the MIRACL fixture; the record's retrieval info."""
    code, _, err = invoke(["run", "-m", "random", "-t", "miracl", "--data-dir", str(miracl_dir), "-o", str(res),
                           "--quiet", *flags], capsys)
    assert code == 0, err
    return json.loads((res / "random" / "miracl.en-de.json").read_text())["retrieval"]


def test_scale_flags_are_used_and_recorded(tmp_path: Path, miracl_dir: Path, capsys) -> None:
    pytest.importorskip("faiss")
    info = run_miracl(miracl_dir, tmp_path / "res", capsys, "--shard-size", "7", "--shard-dtype", "float16",
                      "--encode-batch", "5", "--faiss", "hnsw:m=8,ef_search=64", "--faiss-device", "cpu")
    shards = info["shards"]
    assert (shards["shard_size"], shards["dtype"], shards["encode_batch"]) == (7, "float16", 5)
    assert shards["per_language"]["en"]["shards"] == 6  # 40 docs in shards of 7
    faiss = info["faiss"]
    assert (faiss["kind"], faiss["m"], faiss["ef_search"], faiss["device"], faiss["exact"]) == ("hnsw", 8, 64, "cpu", False)
    assert info["distributed"] is None


def test_scale_env_vars_are_the_fallback(tmp_path: Path, miracl_dir: Path, capsys, monkeypatch) -> None:
    pytest.importorskip("faiss")
    monkeypatch.setenv("MLIRBENCH_SHARD_SIZE", "9")
    monkeypatch.setenv("MLIRBENCH_SHARD_DTYPE", "float16")
    monkeypatch.setenv("MLIRBENCH_ENCODE_BATCH", "4")
    monkeypatch.setenv("MLIRBENCH_FAISS", "ivf:nlist=2,nprobe=2")
    monkeypatch.setenv("MLIRBENCH_RAY_WORKERS", "0")
    info = run_miracl(miracl_dir, tmp_path / "res", capsys, "--encode-batch", "3")  # a flag beats its env var
    assert (info["shards"]["shard_size"], info["shards"]["dtype"], info["shards"]["encode_batch"]) == (9, "float16", 3)
    assert (info["faiss"]["kind"], info["faiss"]["nlist"], info["faiss"]["nprobe"]) == ("ivf", 2, 2)


@pytest.mark.parametrize("flags, env, message", [
    (["--shard-size", "0"], {}, "Invalid value for '--shard-size' (env var: 'MLIRBENCH_SHARD_SIZE'): 0 is not in the range x>=1"),
    (["--encode-batch", "many"], {}, "'many' is not a valid integer"),
    (["--ray-workers", "-1"], {}, "-1 is not in the range x>=0"),
    (["--shard-dtype", "bfloat16"], {}, "'bfloat16' is not one of 'float32', 'float16'"),
    (["--faiss-device", "tpu"], {}, "'tpu' is not one of 'auto', 'cpu', 'gpu'"),
    (["--faiss", "hnsw:nprobe=4"], {}, "faiss option 'nprobe=4': expected key=value with key among m, ef_construction"),
    (["--faiss", "ivf:nlist=x"], {}, "faiss option 'nlist=x': 'x' is not an integer"),
    ([], {"MLIRBENCH_FAISS": "lsh"}, "(env var: 'MLIRBENCH_FAISS'): faiss index kind must be one of flat, ivf, hnsw"),
    ([], {"MLIRBENCH_SHARD_SIZE": "-5"}, "-5 is not in the range x>=1"),
])
def test_bad_scale_value_is_one_line(flags: list[str], env: dict, message: str, tmp_path: Path, capsys,
                                     monkeypatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, _, err = invoke(["run", "-m", "random", "-t", "miracl", "--data-dir", str(tmp_path), "-o",
                           str(tmp_path / "res"), *flags], capsys)
    assert code == 2 and message in err and err.startswith("error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "res").exists()


def test_scale_flags_are_refused_for_full_tasks(tmp_path: Path, capsys, monkeypatch) -> None:
    data = write_dataset(tmp_path / "xquad-r", ["en", "de"])
    res = tmp_path / "res"
    base = ["run", "-m", "random", "-t", "xquad-r", "--langs", "en,de", "--data-dir", str(data), "-o", str(res), "--quiet"]
    code, _, err = invoke(base + ["--shard-size", "7", "--faiss", "flat"], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "--shard-size, --faiss apply only to top-k tasks (e.g. miracl); xquad-r ranks its whole corpus" in err
    assert not res.exists()
    monkeypatch.setenv("MLIRBENCH_SHARD_SIZE", "7")  # set for a whole shell session: no error
    monkeypatch.setenv("MLIRBENCH_FAISS", "hnsw:m=8")
    code, _, err = invoke(base, capsys)
    assert code == 0, err
    assert "retrieval" not in json.loads((res / "random" / "xquad-r.de-en.json").read_text())


def test_rerun_with_the_same_inputs_is_up_to_date(tmp_path: Path, capsys, monkeypatch) -> None:
    """Same model, task, data, options and code: the record stays as it is and nothing is
    evaluated; any change of input, a damaged side file or --no-cache computes it again."""
    from lareqa_fixture import write_dataset

    from mlirbench import runner
    from mlirbench.evaluation import evaluate

    data = write_dataset(tmp_path / "data", ["de", "en"])
    args = ["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(data), "--langs", "de,en",
            "-o", str(tmp_path / "res"), "--quiet"]
    assert invoke(args, capsys)[0] == 0
    path = tmp_path / "res" / "random" / "mlqa-r.de-en.json"
    first = path.read_bytes()

    evaluated = []
    real = evaluate.evaluate_scores
    monkeypatch.setattr(evaluate, "evaluate_scores", lambda *a, **k: evaluated.append(1) or real(*a, **k))
    code, out, err = invoke(args, capsys)
    assert code == 0 and "is up to date" in err and "mono:" in out and not evaluated
    assert "wrote" not in out
    assert path.read_bytes() == first

    def recomputed(extra: list[str]) -> bool:
        evaluated.clear()
        assert invoke(args + extra, capsys)[0] == 0
        return bool(evaluated)

    assert recomputed(["-a", "seed=1"])  # another model argument: a record of its own
    assert (tmp_path / "res" / "random@seed=1" / path.name).is_file() and path.read_bytes() == first
    assert not recomputed([])  # the default record is still there
    path.with_name(f"{path.stem}.ranks.tsv.gz").write_bytes(b"damaged")
    assert recomputed([]) and not recomputed([])
    monkeypatch.setattr(runner, "code_sha256", lambda: "other code")
    assert recomputed([])
    assert recomputed(["--no-cache"])
    squad = json.loads((data / "en.json").read_text())
    squad["data"][0]["paragraphs"][0]["qas"][0]["question"] += " again"
    (data / "en.json").write_text(json.dumps(squad))
    assert recomputed([])
