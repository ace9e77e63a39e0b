"""Generated argument values for every subcommand and every adapter (hypothesis), as a hostile user
types them: every invocation exits 0 or 2 (130 never: nothing is interrupted), prints no Python
traceback, and a failed one writes nothing (a successful run writes its record with all its side
files, and no temp file is left). Examples are derandomized (the same ones every run, no example
database) and few per subcommand, so the whole file costs CI a few tens of seconds; a failure
prints the arguments so it can be replayed by hand.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from lareqa_fixture import write_dataset
from test_cli import invoke

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mlirbench.registry import MODELS  # noqa: E402

FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

HOSTILE = ["", ",", " ", "nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1", "0", "1", "1.5", "2", "64",
           "true", "false", "True", "abc", "null", "{}", '{"el": "en_XX"}', "[1]", "ü東", "=", "a=b", "-", "de,en"]
# what a user can type: any text but NUL (which no shell passes) and lone surrogates
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6)
VALUE = st.one_of(st.sampled_from(HOSTILE), st.integers(-3, 300).map(str), TEXT,
                  st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    data = write_dataset(root / "data", ["de", "en"])
    afile = root / "a-file.txt"
    afile.write_text("not json\n")
    return {"root": root, "data": data, "file": afile, "folder": data, "absent": root / "absent" / "x",
            "under-file": afile / "x", "out": root / "out"}


def path_of(world: dict[str, Path]) -> st.SearchStrategy[str]:
    """A path argument: missing, a file, a folder, one under a file, a fresh output place, or text."""
    places = st.sampled_from(["file", "folder", "absent", "under-file", "out"]).map(lambda k: str(world[k]))
    fresh = st.integers(0, 99).map(lambda i: str(world["out"] / f"o{i}"))
    return st.one_of(places, fresh, st.sampled_from(["", ".", "/"]))


def options(pairs: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[list[str]]:
    """Some of the options, each with a generated value, in a random order."""
    chosen = st.lists(st.sampled_from(sorted(pairs)), unique=True, max_size=len(pairs))
    return chosen.flatmap(lambda names: st.tuples(*(pairs[n].map(lambda v, n=n: [n, v]) for n in names))
                          .map(lambda items: [x for item in items for x in item]))


def files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and "cache" not in p.relative_to(root).parts}


def check(args: list[str], world: dict[str, Path], capsys) -> int:
    before = files(world["root"])
    code, _, err = invoke(args, capsys)
    assert code in (0, 2), (args, code, err)
    assert "Traceback" not in err, (args, err)
    written = files(world["root"]) - before
    assert not [p for p in written if p.name.endswith(".tmp")], (args, written)
    if code == 2:
        assert not written, (args, err, written)
    for record in (p for p in written if p.name.endswith(".json") and not p.name.endswith(".meta.json")):
        content = json.loads(record.read_text())
        entries = content.get("run_files", {}) if isinstance(content, dict) else {}
        assert all((record.parent / e["path"]).is_file() for e in entries.values()), (args, record)
    return code


@pytest.fixture(autouse=True)
def _sandbox(world: dict[str, Path], monkeypatch) -> None:
    """Relative defaults (results/, LEADERBOARD.md) and every cache land in the fuzz folder; no network."""
    monkeypatch.chdir(world["root"])
    monkeypatch.setenv("MLIRBENCH_CACHE", str(world["root"] / "cache"))
    for name in ("MLIRBENCH_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(name, "1")


def adapter_args(name: str) -> st.SearchStrategy[list[str]]:
    """``-a key=value`` pairs: the adapter's declared names (and near misses) with generated values."""
    keys = sorted(arg.name for arg in MODELS[name].load().ARGUMENTS) + ["k", "", "seed "]
    pair = st.tuples(st.sampled_from(keys), VALUE).map(lambda kv: ["-a", f"{kv[0]}={kv[1]}"])
    return st.lists(pair, max_size=3).map(lambda items: [x for item in items for x in item])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_run_fuzz_every_adapter(name: str, world: dict[str, Path], capsys) -> None:
    """Every adapter's arguments are checked before any work: the data folder is missing, so a run
    that passes the checks still stops at the data (exit 2), before any model loads."""
    model = {"dense": "dense:org/none", "mbart": "mbart:org/none"}.get(name, name)

    @FUZZ
    @given(extra=adapter_args(name), task=st.sampled_from(["xquad-r", "mlqa-r", "miracl", "nosuch"]))
    def run(extra: list[str], task: str) -> None:
        check(["run", "-m", model, "-t", task, "--data-dir", str(world["absent"]), "-o", str(world["out"]),
               "--quiet", *extra], world, capsys)

    run()


@FUZZ
@given(model=st.one_of(st.sampled_from(["random", "", ".", "dense:", "nosuch", "random:x", "bm25:"]), TEXT),
       extra=adapter_args("random"), more=st.data())
def test_run_fuzz_options(model: str, extra: list[str], more: st.DataObject, world: dict[str, Path], capsys) -> None:
    """The run options themselves, with the random model on the fixture: some of these runs succeed."""
    opts = more.draw(options({"--langs": st.one_of(st.sampled_from(["de,en", "en", "de", "xx"]), VALUE),
                              "-o": path_of(world), "--shard-size": VALUE, "--faiss": VALUE,
                              "--data-dir": st.one_of(st.just(str(world["data"])), path_of(world))}))
    task = more.draw(st.sampled_from(["mlqa-r", "xquad-r"]))
    if "--data-dir" not in opts:
        opts += ["--data-dir", str(world["data"])]
    if "--langs" not in opts:
        opts += ["--langs", "de,en"]
    check(["run", "-m", model, "-t", task, "--quiet", *opts, *extra], world, capsys)


SUBCOMMANDS = {
    "compare": lambda w: options({"-m": VALUE, "-t": st.sampled_from(["xquad-r", "mlqa-r", "x"]), "--metric": VALUE,
                                  "--test": VALUE, "--alpha": VALUE, "--results": path_of(w)}),
    "leaderboard": lambda w: options({"--results": path_of(w), "-o": path_of(w), "--reference": VALUE}),
    "make-train-data": lambda w: options({"--data-dir": st.one_of(st.just(str(w["data"])), path_of(w)),
                                          "-o": path_of(w), "--split": path_of(w), "--langs": VALUE,
                                          "--eval-fraction": VALUE, "--seed": VALUE, "--negatives": VALUE,
                                          "--heldout-dir": path_of(w)}),
    "train": lambda w: options({"--base": VALUE, "--batching": VALUE, "--alpha": VALUE, "-o": path_of(w),
                                "--seed": VALUE, "--epochs": VALUE, "--max-steps": VALUE, "--batch-size": VALUE,
                                "--lr": VALUE, "--weight-decay": VALUE, "--warmup-ratio": VALUE,
                                "--val-fraction": VALUE, "--patience": VALUE, "--eval-steps": VALUE,
                                "--max-seq-length": VALUE, "--micro-batch-tokens": VALUE})
    .map(lambda o: [*o, "--train-data", str(w["absent"])]),  # never trains: its data is missing
    "translate": lambda w: options({"-m": VALUE, "-o": path_of(w), "--source-lang": VALUE, "--to": VALUE,
                                    "--batch-size": VALUE, "--max-new-tokens": VALUE})
    .map(lambda o: [*o, "--input", str(w["absent"])]),  # never translates: its input is missing
    "domains assign": lambda w: st.tuples(st.one_of(st.just(str(w["data"] / "en.json")), path_of(w)),
                                          options({"-t": st.one_of(st.just("xquad-r"), VALUE), "--hand": path_of(w),
                                                   "-o": path_of(w)})).map(lambda t: [t[0], *t[1]]),
    "domains splits": lambda w: st.tuples(path_of(w), options({"-o": path_of(w)})).map(lambda t: [t[0], *t[1]]),
    "cache info": lambda w: options({"--model": VALUE}),
    "cache clear": lambda w: options({"--kind": VALUE, "--model": VALUE}),
    "regress": lambda w: options({"-c": VALUE, "--tier": VALUE, "--data-dir": VALUE})
    .map(lambda o: [*o, "--file", str(w["file"])]),  # never runs: its expectations file is not YAML of conditions
    "ls": lambda w: st.just([]),
}


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_subcommand_fuzz(command: str, world: dict[str, Path], capsys) -> None:
    @FUZZ
    @given(args=SUBCOMMANDS[command](world))
    def one(args: list[str]) -> None:
        check([*command.split(), *args], world, capsys)

    one()
