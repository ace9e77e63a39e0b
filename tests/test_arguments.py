"""Adapters declare their arguments (type, range, default, result-neutral) and packages; the CLI's
``-a key=value`` strings are checked against the declaration before any work, with no coercion."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from test_cli import invoke, mlqa_dir  # noqa: F401 (mlqa_dir: a fixture)

from mlirbench.errors import MlirbenchError
from mlirbench.registry import MODELS, ModelSpec, parse_model
from mlirbench.retrieval.arguments import Arg, defaults

BAD = [  # (model, argument, what the error must name)
    ("bm25", "k1=NaN", "k1"), ("bm25", "k1=Infinity", "k1"), ("bm25", "k1=-1", "k1"), ("bm25", "k1=true", "k1"),
    ("bm25", "b=1.5", "b"), ("bm25", "threads=1.5", "threads"), ("bm25", "threads=-1", "threads"),
    ("bm25", "query_stopwords=yes", "query_stopwords"), ("bm25", "k=1.2", "did you mean 'k1'"),
    ("random", "dim=-1", "dim"), ("random", "dim=abc", "dim"), ("random", "dim=0", "dim"),
    ("random", "seed=abc", "seed"), ("random", "seed=1.7", "seed"), ("random", "seed=", "seed"),
    ("use-m3", "batch_size=0", "batch_size"), ("use-m3", "threads=0", "threads"),
    ("dense:x/y", "batch_size=0", "batch_size"), ("dense:x/y", "dtype=fp8", "dtype"),
    ("dense:x/y", "tokenize_workers=-1", "tokenize_workers"), ("mbart", "lang_codes=el", "lang_codes"),
    ("laser3", "device=mps", "device"), ("laser3", "dtype=bf16", "dtype"),
]


@pytest.mark.parametrize(("model", "arg", "named"), BAD, ids=[f"{m} {a}" for m, a, _ in BAD])
def test_bad_adapter_arguments_are_one_line_errors_before_any_work(model: str, arg: str, named: str,
                                                                     tmp_path: Path, capsys) -> None:
    code, _, err = invoke(["run", "-m", model, "-t", "xquad-r", "--data-dir", str(tmp_path / "absent"),
                           "-a", arg, "-o", str(tmp_path / "res")], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and named in err, err
    assert "absent" not in err  # refused before the data is looked at
    assert not (tmp_path / "res").exists()


def test_unknown_argument_lists_the_valid_names() -> None:
    with pytest.raises(MlirbenchError, match=r"unknown bm25 argument 'k'; did you mean 'k1'\? \(known: b, index_root, k1"):
        parse_model("bm25", {"k": "1.2"})


def test_values_are_typed_from_text_and_checked_from_python() -> None:
    spec = parse_model("bm25", {"k1": "1.2", "b": "1", "query_stopwords": "False", "threads": "3"})
    assert spec.kwargs == {"k1": 1.2, "b": 1.0, "query_stopwords": False, "threads": 3}
    assert isinstance(spec.kwargs["b"], float)
    assert parse_model("random", {"dim": 8}).kwargs == {"dim": 8}  # YAML / Python values
    for bad in ({"dim": 8.0}, {"dim": True}, {"seed": 1.7}):
        with pytest.raises(MlirbenchError, match="expected an integer"):
            parse_model("random", bad)
    with pytest.raises(MlirbenchError, match="given twice"):
        parse_model("dense:a/b", {"model": "c/d"})


def test_every_model_declares_its_constructor_and_packages() -> None:
    """Contract over the registry: the declaration names exactly the constructor's parameters, every
    default passes its own declaration, and the packages are distribution names."""
    for name, entry in MODELS.items():
        factory = entry.load()
        params = [p for p in inspect.signature(factory).parameters]
        args = {arg.name: arg for arg in factory.ARGUMENTS}
        assert sorted(args) == sorted(params), name
        assert all(isinstance(arg, Arg) and arg.help for arg in args.values()), name
        for key, default in defaults(factory).items():
            assert args[key].parse(default) == default, (name, key)
        assert isinstance(factory.PACKAGES, tuple) and all(isinstance(p, str) and p for p in factory.PACKAGES)
        assert "show_progress" not in args or args["show_progress"].neutral, name


def test_python_callers_are_checked_by_the_same_declaration(tmp_path: Path) -> None:
    from mlirbench.adapters.random_encoder import RandomEncoder
    with pytest.raises(MlirbenchError, match="model random: argument dim: expected an integer >= 1, got 0"):
        RandomEncoder(dim=0)


def test_record_folder_holds_the_result_changing_arguments_only() -> None:
    assert parse_model("bm25", {}).slug == "bm25"
    assert parse_model("bm25", {"k1": "0.9"}).slug == "bm25"  # the default, given explicitly
    assert parse_model("bm25", {"threads": "4", "show_progress": "false"}).slug == "bm25"  # result-neutral
    assert parse_model("bm25", {"k1": "1.2", "b": "0.75"}).slug == "bm25@b=0.75,k1=1.2"
    assert parse_model("bm25", {"query_stopwords": "false"}).slug == "bm25@query_stopwords=false"
    assert parse_model("dense:org/model", {"batch_size": "8"}).slug == "dense--org__model@batch_size=8"
    odd = parse_model("dense:org/model", {"query_prefix": "Query: "}).slug
    assert odd.startswith("dense--org__model@args-") and len(odd) == len("dense--org__model@args-") + 10
    assert odd != parse_model("dense:org/model", {"query_prefix": "query: "}).slug


def test_embedding_identity_ignores_result_neutral_arguments() -> None:
    from mlirbench.retrieval.embedding_cache import model_identity

    class Fake:
        ARGUMENTS = (Arg("show_progress", bool, "bars", neutral=True), Arg("dim", int, "size"))

        def __init__(self, show_progress: bool, dim: int) -> None:
            self.args = {"show_progress": show_progress, "dim": dim}

        def metadata(self) -> dict:
            return {"name": "fake", **self.args, "arguments": dict(self.args)}

    assert model_identity(Fake(True, 4)) == model_identity(Fake(False, 4)) != model_identity(Fake(True, 5))


def test_declared_packages_reach_the_spec() -> None:
    assert {"pyserini", "pythainlp"} <= set(ModelSpec("bm25", {}).packages)
    assert "sentence-transformers" in ModelSpec("dense", {"model": "x"}).packages


def test_runs_with_other_arguments_get_their_own_record_and_leaderboard_row(request, tmp_path: Path,
                                                                           capsys) -> None:
    out = tmp_path / "res"
    data = request.getfixturevalue("mlqa_dir")  # all 7 languages: complete records, on the leaderboard
    base = ["run", "-m", "random", "-t", "mlqa-r", "--data-dir", str(data), "-o", str(out), "--quiet"]
    for extra in ([], ["-a", "seed=1"], ["-a", "seed=0", "-a", "dim=64"]):  # the last is the default again
        code, _, err = invoke(base + extra, capsys)
        assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["random", "random@seed=1"]
    assert invoke(["leaderboard", "--results", str(out), "-o", str(tmp_path / "LB.md")], capsys)[0] == 0
    board = (tmp_path / "LB.md").read_text()
    assert "[random](" in board and "[random@seed=1](" in board
