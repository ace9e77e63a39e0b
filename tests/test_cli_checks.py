"""Bad arguments and doomed outputs are one-line errors (exit 2) before any work, and nothing is
written; make-train-data reads SQuAD files with the same loader as `mlirbench run`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from lareqa_fixture import write_dataset
from results_fixture import dataset
from test_cli import invoke


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data", ["de", "en"], n_articles=3)


def refused(args: list[str], capsys, *expected: str) -> str:
    code, _, err = invoke(args, capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and all(e in err for e in expected), err
    return err


CASES = {  # name -> (arguments, what the error says); {d}: data folder, {t}: a scratch folder, {f}: a file
    "langs comma": (["run", "-m", "random", "-t", "xquad-r", "--data-dir", "{d}", "--langs", ",", "-o", "{t}/r"],
                    "no language codes"),
    "langs empty": (["run", "-m", "random", "-t", "xquad-r", "--data-dir", "{d}", "--langs", "", "-o", "{t}/r"],
                    "no language codes"),
    "run output is a file": (["run", "-m", "random", "-t", "xquad-r", "--data-dir", "{d}", "-o", "{f}"],
                             "not a folder"),
    "run output under a file": (["run", "-m", "random", "-t", "xquad-r", "--data-dir", "{d}", "-o", "{f}/x"],
                                "is not a folder"),
    "leaderboard results absent": (["leaderboard", "--results", "{t}/none", "-o", "{t}/L.md"], "does not exist"),
    "leaderboard output is a folder": (["leaderboard", "--results", "{t}", "-o", "{t}"], "is a folder"),
    "compare alpha": (["compare", "-m", "a", "b", "-t", "xquad-r", "--results", "{t}", "--alpha", "2"], "--alpha"),
    "compare metric": (["compare", "-m", "a", "b", "-t", "xquad-r", "--results", "{t}", "--metric", "nosuch"],
                       "unknown metric 'nosuch'"),
    "compare metric depth": (["compare", "-m", "a", "b", "-t", "xquad-r", "--results", "{t}", "--metric", "map@0"],
                             "positive integer"),
    "compare alpha nan": (["compare", "-m", "a", "b", "-t", "xquad-r", "--results", "{t}", "--alpha", "nan"],
                          "not a finite number"),
    "train lr": (["train", "--base", "use-m3", "--batching", "hybrid", "--train-data", "{f}", "-o", "{t}/m",
                  "--lr", "-1"], "--lr"),
    "train val fraction": (["train", "--base", "use-m3", "--batching", "hybrid", "--train-data", "{f}",
                            "-o", "{t}/m", "--val-fraction", "1.5"], "--val-fraction"),
    "train epochs": (["train", "--base", "use-m3", "--batching", "hybrid", "--train-data", "{f}", "-o", "{t}/m",
                      "--epochs", "0"], "--epochs"),
    "train alpha": (["train", "--base", "use-m3", "--batching", "hybrid", "--train-data", "{f}", "-o", "{t}/m",
                     "--alpha", "1.5"], "--alpha"),
    "train output is a file": (["train", "--base", "use-m3", "--batching", "hybrid", "--train-data", "{f}",
                                "-o", "{f}"], "not a folder"),
    "train data absent": (["train", "--base", "use-m3", "--batching", "hybrid", "--train-data", "{t}/none",
                           "-o", "{t}/m"], "does not exist"),
    "eval fraction": (["make-train-data", "--data-dir", "{d}", "-o", "{t}/t.jsonl", "--split", "{t}/s.json",
                       "--eval-fraction", "1.5"], "--eval-fraction"),
    "negatives": (["make-train-data", "--data-dir", "{d}", "-o", "{t}/t.jsonl", "--split", "{t}/s.json",
                   "--negatives", "-1"], "--negatives"),
    "train data output is a folder": (["make-train-data", "--data-dir", "{d}", "-o", "{t}", "--split",
                                       "{t}/s.json"], "is a folder"),
    "domains task": (["domains", "assign", "{d}/en.json", "-t", "nosuch", "-o", "{t}/m.json"], "unknown task"),
    "domains splits absent": (["domains", "splits", "{t}/none.json", "-o", "{t}/s.json"], "does not exist"),
    "translate batch size": (["translate", "-m", "x", "--input", "{f}", "-o", "{t}/o.jsonl", "--source-lang", "en",
                              "--to", "de", "--batch-size", "0"], "--batch-size"),
    "translate no targets": (["translate", "-m", "x", "--input", "{f}", "-o", "{t}/o.jsonl", "--source-lang", "en",
                              "--to", ","], "no language codes"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_arguments_are_refused_before_any_work(name: str, data: Path, tmp_path: Path, capsys) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    afile = tmp_path / "a-file.jsonl"
    afile.write_text('{"group": "g", "lang": "en", "query": "q", "positive": "p"}\n')
    args, expected = CASES[name]
    before = files_under(tmp_path)
    refused([a.format(d=data, t=scratch, f=afile) for a in args], capsys, expected)
    assert files_under(tmp_path) == before


def test_unusable_cache_folder_is_one_line(data: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MLIRBENCH_CACHE", str(data / "en.json"))
    refused(["run", "-m", "random", "-t", "xquad-r", "--data-dir", str(data), "--langs", "de,en",
             "-o", str(tmp_path / "res")], capsys, "MLIRBENCH_CACHE", "not a folder")
    assert not (tmp_path / "res").exists()


def _edit_first_question(folder: Path, edit) -> None:
    path = folder / "en.json"
    squad = json.loads(path.read_text(encoding="utf-8"))
    edit(squad["data"][0]["paragraphs"][0]["qas"], squad)
    path.write_text(json.dumps(squad), encoding="utf-8")


EDITS = {
    "answer_start after the sentences": (lambda qas, _: qas[0]["answers"][0].update(answer_start=10**6),
                                         "lies outside the sentences"),
    "negative answer_start": (lambda qas, _: qas[0]["answers"][0].update(answer_start=-3),
                              "lies outside the sentences"),
    "duplicate question id": (lambda qas, squad: squad["data"][-1]["paragraphs"][0]["qas"][0].update(id=qas[0]["id"]),
                              "duplicate question id"),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_make_train_data_refuses_what_run_refuses(name: str, data: Path, tmp_path: Path, capsys) -> None:
    edit, problem = EDITS[name]
    _edit_first_question(data, edit)
    run = refused(["run", "-m", "random", "-t", "xquad-r", "--data-dir", str(data), "--langs", "de,en",
                   "-o", str(tmp_path / "res")], capsys, problem)
    train = refused(["make-train-data", "--data-dir", str(data), "-o", str(tmp_path / "t.jsonl"),
                     "--split", str(tmp_path / "s.json")], capsys, problem)
    assert run == train and not (tmp_path / "t.jsonl").exists() and not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("content", ["[1, 2]", '{"train": "a", "eval": []}', "{not json"])
def test_malformed_split_file_is_one_line(content: str, data: Path, tmp_path: Path, capsys) -> None:
    split = tmp_path / "s.json"
    split.write_text(content)
    refused(["make-train-data", "--data-dir", str(data), "-o", str(tmp_path / "t.jsonl"), "--split", str(split)],
            capsys, str(split))
    assert not (tmp_path / "t.jsonl").exists()


def test_invalid_top_k_environment_is_ignored_by_full_ranking_tasks(data: Path, tmp_path: Path, capsys,
                                                                     monkeypatch) -> None:
    for name, value in (("MLIRBENCH_SHARD_SIZE", "abc"), ("MLIRBENCH_FAISS", "bogus"), ("MLIRBENCH_RAY_WORKERS", "-1")):
        monkeypatch.setenv(name, value)
    code, _, err = invoke(["run", "-m", "random", "-t", "xquad-r", "--data-dir", str(data), "--langs", "de,en",
                           "-o", str(tmp_path / "res"), "--quiet"], capsys)
    assert code == 0, err
    refused(["run", "-m", "random", "-t", "miracl", "--data-dir", str(data), "-o", str(tmp_path / "res")], capsys,
            "--shard-size", "MLIRBENCH_SHARD_SIZE")


def test_a_record_that_cannot_be_written_fails_before_the_evaluation(data: Path, tmp_path: Path, capsys,
                                                                       monkeypatch) -> None:
    from mlirbench.evaluation import evaluate
    out = tmp_path / "res"
    (out / "random" / "xquad-r.de-en.json").mkdir(parents=True)  # a folder where the record goes
    monkeypatch.setattr(evaluate, "evaluate_scores", lambda *a, **k: pytest.fail("evaluated"))
    refused(["run", "-m", "random", "-t", "xquad-r", "--data-dir", str(data), "--langs", "de,en", "-o", str(out)],
            capsys, "xquad-r.de-en.json", "is a folder")
    assert not files_under(out)


def test_record_and_side_files_appear_together_or_not_at_all(data: Path, tmp_path: Path, monkeypatch) -> None:
    from mlirbench.cli import main
    from mlirbench.records import record

    def fail(path: Path, obj: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(record, "write_json", fail)
    with pytest.raises(OSError):
        main(["run", "-m", "random", "-t", "xquad-r", "--data-dir", str(data), "--langs", "de,en",
              "-o", str(tmp_path / "res"), "--quiet"])
    assert not files_under(tmp_path / "res")


XQUAD_R = Path(__file__).resolve().parents[2] / "shared" / "data" / "xquad-r"


@pytest.mark.skipif(not (XQUAD_R / "en.json").is_file(), reason=f"XQuAD-R data not at {XQUAD_R}")
def test_one_datasets_files_are_refused_as_another(tmp_path: Path, capsys) -> None:
    refused(["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(XQUAD_R), "--langs", "de,en",
             "-o", str(tmp_path / "res")], capsys, "de.json", "xquad-r's published de.json")
    assert not (tmp_path / "res").exists()


def test_languages_without_a_shared_question_are_refused(data: Path, tmp_path: Path, capsys) -> None:
    _edit_first_question(data, lambda qas, squad: [qa.update(id="other-" + qa["id"]) for article in squad["data"]
                                                   for para in article["paragraphs"] for qa in para["qas"]])
    refused(["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(data), "--langs", "de,en",
             "-o", str(tmp_path / "res")], capsys, "no question id appears in two of the languages de, en")


def test_one_language_run_has_no_empty_settings(data: Path, tmp_path: Path, capsys) -> None:
    """One language has no cross-lingual view: no 'Mean of empty slice' warning, no bare 'cross:' line."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        code, out, err = invoke(["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(data), "--langs", "en",
                                 "-o", str(tmp_path / "res"), "--quiet"], capsys)
    assert code == 0, err
    assert "cross:" not in out and " mono: map=" in out
    assert "cross" not in json.loads((tmp_path / "res" / "random" / "mlqa-r.en.json").read_text())["aggregate"]


def test_subset_records_are_named_by_leaderboard_and_compare(data: Path, tmp_path: Path, capsys) -> None:
    res = tmp_path / "res"
    for seed in ("0", "1"):
        assert invoke(["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(data), "--langs", "de,en",
                       "-a", f"seed={seed}", "-o", str(res), "--quiet"], capsys)[0] == 0
    refused(["leaderboard", "--results", str(res), "-o", str(tmp_path / "LB.md")], capsys,
            "no result records (<model>/<task>.json) to build a leaderboard from (2 records of language subsets")
    assert not (tmp_path / "LB.md").exists()  # subsets alone make no board
    refused(["compare", "-m", "random", "random@seed=1", "-t", "mlqa-r", "--results", str(res)], capsys,
            "records of language subsets: mlqa-r.de-en; name one with -t")
    code, out, err = invoke(["compare", "-m", "random", "random@seed=1", "-t", "mlqa-r.de-en", "--results", str(res)],
                            capsys)
    assert code == 0 and "compare: " in err, err  # its progress bar
    code, out, err = invoke(["compare", "-m", "random", "random@seed=1", "-t", "mlqa-r.de-en", "--results", str(res),
                             "--quiet"], capsys)
    assert code == 0 and err == ""
    full = dataset(tmp_path / "full")  # all of MLQA-R's languages: a record the board shows
    assert invoke(["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(full), "-o", str(res), "--quiet"],
                  capsys)[0] == 0
    code, out, err = invoke(["leaderboard", "--results", str(res), "-o", str(tmp_path / "LB.md")], capsys)
    assert code == 0 and "not on the leaderboard (2 records of language subsets" in out
    assert "random/mlqa-r.de-en.json" in out
    assert "leaderboard: " in err  # its progress bar
    assert invoke(["leaderboard", "--results", str(res), "-o", str(tmp_path / "LB.md"), "--quiet"], capsys)[2] == ""


def test_mlqa_r_files_are_refused_as_xquad_r(data: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """The published counts tell the datasets apart in both directions (here the fixture's en.json
    stands in for MLQA-R's, whose counts it is given)."""
    from mlirbench.data.squad import read_squad
    from mlirbench.tasks import lareqa
    paragraphs = [p for a in read_squad(data / "en.json") for p in a.paragraphs]
    counts = (sum(len(p.questions) for p in paragraphs), sum(len(p.sentences) for p in paragraphs))
    monkeypatch.setitem(lareqa._PUBLISHED_COUNTS["mlqa-r"], "en", counts)
    refused(["run", "-m", "random", "-t", "xquad-r", "--data-dir", str(data), "--langs", "de,en",
             "-o", str(tmp_path / "res")], capsys, "en.json", "this is mlqa-r's published en.json, not xquad-r data")
    assert invoke(["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(data), "--langs", "de,en",
                   "-o", str(tmp_path / "res"), "--quiet"], capsys)[0] == 0


@pytest.mark.parametrize("model", ["{folder}", "dense:{folder}", "mbart:{folder}"])
@pytest.mark.parametrize("config", ["{", "{}"])
def test_a_folder_without_a_loadable_model_is_one_line(model: str, config: str, data: Path, tmp_path: Path,
                                                        capsys) -> None:
    pytest.importorskip("sentence_transformers")
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "config.json").write_text(config)
    refused(["run", "-m", model.format(folder=folder), "-t", "xquad-r", "--data-dir", str(data), "--langs", "de,en",
             "-o", str(tmp_path / "res")], capsys, str(folder), "holds no model it can load")
    assert not (tmp_path / "res").exists()


def test_leaderboard_of_a_folder_without_records_is_one_line(tmp_path: Path, capsys) -> None:
    """An empty (or mistyped but existing) results folder must not replace a board with a header."""
    (tmp_path / "results").mkdir()
    board = tmp_path / "LEADERBOARD.md"
    code, _, err = invoke(["leaderboard", "--results", str(tmp_path / "results"), "-o", str(board)], capsys)
    assert code == 2 and "no result records" in err and len(err.strip().splitlines()) == 1
    assert not board.exists()
