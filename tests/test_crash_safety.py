"""Crash safety: SIGKILL mid-run then rerun resumes and gives the same bytes; concurrent writers
never corrupt a record; bad downloads are deleted and refused.

Runs that must be killed go through a subprocess (``python -c``) that registers the slow test
encoder below and, for the stage under test, a pause the parent waits for before killing.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from lareqa_fixture import write_dataset
from test_cli import invoke as invoke_cli

from mlirbench._io.hashing import sha256_file
from mlirbench.adapters.random_encoder import RandomEncoder
from mlirbench.cli import main
from mlirbench.registry import MODELS, Entry
from mlirbench.tasks import lareqa

TESTS = Path(__file__).resolve().parent
LANGS = ["de", "en", "es", "zh"]  # 4 query + 4 passage encode calls
STEM = "xquad-r.de-en-es-zh"
SIDE_FILES = (f"{STEM}.ranks.tsv.gz", f"{STEM}.mono.trec.gz", f"{STEM}.multi.trec.gz")
SLOW = Entry("test_crash_safety:SlowEncoder", "random embeddings, $SLOW_ENCODER_DELAY seconds per call")

CHILD = """
import os, sys
sys.path.insert(0, {tests!r})
import test_crash_safety
test_crash_safety.child_setup()
from mlirbench.cli import main
main(sys.argv[1:])
"""


class SlowEncoder(RandomEncoder):
    """The random baseline, slowed down so a kill can land between two cache entries."""

    name = "slow"

    def encode(self, texts, *, role, lang):
        time.sleep(float(os.environ.get("SLOW_ENCODER_DELAY", "0")))
        return super().encode(texts, role=role, lang=lang)


def _pause_first_call(module, attr: str, marker: str, go: str | None = None) -> None:
    """Make ``module.attr`` touch ``marker`` before its first call, then wait for the file ``go``
    (None: wait until killed)."""
    real = getattr(module, attr)
    state = {"paused": False}

    def paused(*args, **kwargs):
        if not state["paused"]:
            state["paused"] = True
            Path(marker).touch()
            deadline = time.monotonic() + 600
            while not (go and Path(go).exists()) and time.monotonic() < deadline:
                time.sleep(0.05)
        return real(*args, **kwargs)
    setattr(module, attr, paused)


def child_setup() -> None:
    """In the child: register the slow encoder, and pause where $CRASH_STAGE says."""
    from mlirbench import runner
    from mlirbench.evaluation import evaluate
    from mlirbench.records import side_files
    MODELS["slow"] = SLOW
    stage, marker, go = os.environ.get("CRASH_STAGE"), os.environ.get("CRASH_MARKER", ""), os.environ.get("CRASH_GO")
    if stage == "evaluation":  # the runner imports the evaluation stack when it needs it: patch its home
        _pause_first_call(evaluate, "evaluate_scores", marker, go)
    elif stage == "writing":  # inside the record's lock: after the ranks file, before the TREC runs
        _pause_first_call(side_files, "write_trec", marker, go)
    elif stage == "announce-write":  # just before taking the record's lock
        _pause_first_call(runner, "write_record", marker, go=marker)


def start_child(args: list[str], **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD.format(tests=str(TESTS)), *args],
                            env=dict(os.environ, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(proc: subprocess.Popen, ready, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"child ended (code {proc.returncode}) before the kill point: {proc.stderr.read().decode()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("kill point not reached in time")
        time.sleep(0.05)


def run_args(data: Path, out: Path, *more: str, model: str = "slow") -> list[str]:
    return ["run", "-m", model, "-t", "xquad-r", "--langs", ",".join(LANGS), "--data-dir", str(data),
            "-o", str(out), "--quiet", *more]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """Fixture data and a cache of this test's own; the slow encoder registered in-process too."""
    monkeypatch.setenv("MLIRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(MODELS, "slow", SLOW)
    return write_dataset(tmp_path / "data", LANGS), tmp_path / "cache" / "embeddings" / "slow"


def reference(data: Path, out: Path, *more: str, model: str = "slow") -> dict:
    """An uninterrupted run without the cache."""
    main(run_args(data, out, "--no-cache", *more, model=model))
    return json.loads((out / model / f"{STEM}.json").read_text())


def assert_same_result(out: Path, ref_out: Path, model: str = "slow") -> dict:
    record = json.loads((out / model / f"{STEM}.json").read_text())
    ref = json.loads((ref_out / model / f"{STEM}.json").read_text())
    for key in ("aggregate", "views", "pair_matrix", "rank_distance", "run_files"):
        assert record[key] == ref[key], key
    for name in SIDE_FILES:
        assert (out / model / name).read_bytes() == (ref_out / model / name).read_bytes(), name
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    return record


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["encoding", "evaluation", "writing"])
def test_sigkill_then_rerun_resumes_with_identical_bytes(stage: str, setup, tmp_path: Path) -> None:
    data, entries = setup
    out, marker = tmp_path / "out", tmp_path / "marker"
    env = {"SLOW_ENCODER_DELAY": "1.0"} if stage == "encoding" else {"CRASH_STAGE": stage, "CRASH_MARKER": str(marker)}
    proc = start_child(run_args(data, out), **env)
    if stage == "encoding":
        wait_for(proc, lambda: len(list(entries.rglob("*.npy"))) >= 2)
    else:
        wait_for(proc, marker.exists)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    saved = len(list(entries.rglob("*.npy")))
    assert (2 <= saved < 8) if stage == "encoding" else saved == 8
    assert not (out / "slow" / f"{STEM}.json").exists()  # the record is written last, or not at all
    if stage == "writing":
        assert (out / "slow" / SIDE_FILES[0]).exists() and not (out / "slow" / SIDE_FILES[2]).exists()
    main(run_args(data, out))  # the rerun, in-process: resumes from the cache
    reference(data, tmp_path / "ref")
    record = assert_same_result(out, tmp_path / "ref")
    assert record["provenance"]["embedding_cache"]["hits"] == saved
    assert record["provenance"]["embedding_cache"]["misses"] == 8 - saved


@pytest.mark.slow
def test_concurrent_runs_never_corrupt_the_record(setup, tmp_path: Path) -> None:
    """Two runs of one model (the second names the default dim, the first does not: the same record
    path, told apart by the recorded arguments) write the same record; the second tries while the
    first is half-way (ranks file written, TREC runs and record not yet). The lock makes it wait, so
    the record ends up whole and consistent with the side files beside it: the second run's."""
    data, _ = setup
    main(run_args(data, tmp_path / "ref1", "--no-cache", "-a", "seed=1"))
    out, go = tmp_path / "out", tmp_path / "go"
    first = start_child(run_args(data, out, "-a", "seed=1", "--no-cache"), CRASH_STAGE="writing",
                        CRASH_MARKER=str(tmp_path / "first-writing"), CRASH_GO=str(go))
    wait_for(first, (tmp_path / "first-writing").exists)
    second = start_child(run_args(data, out, "-a", "seed=1", "-a", "dim=64", "--no-cache"),
                         CRASH_STAGE="announce-write", CRASH_MARKER=str(tmp_path / "second-writing"))
    wait_for(second, (tmp_path / "second-writing").exists)
    time.sleep(1.0)  # without the lock the second run would now write all its files
    go.touch()
    for proc in (first, second):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    path = out / "slow@seed=1" / f"{STEM}.json"
    record = json.loads(path.read_text())  # valid JSON
    for entry in record["run_files"].values():
        assert sha256_file(path.parent / entry["path"]) == entry["sha256"], entry["path"]
    assert record["model"]["arguments"] == {"seed": 1, "dim": 64}
    assert_same_result(out, tmp_path / "ref1", model="slow@seed=1")
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, *SIDE_FILES])


def _serve(monkeypatch, tmp_path: Path, files: dict[str, bytes]) -> None:
    """Serve ``files`` as the pinned source (file:// URLs)."""
    src = tmp_path / "src"
    for name, body in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(body)
    monkeypatch.setattr(lareqa, "_RAW", f"file://{src}/{{folder}}/{{lang}}.json")


def invoke(args: list[str], capsys) -> tuple[int, str]:
    """(exit code, stderr) of the CLI."""
    code, _, err = invoke_cli(args, capsys)
    return code, err


def test_truncated_download_is_refused_and_deleted(tmp_path: Path, monkeypatch, capsys) -> None:
    """Through the CLI: pinned sha256 (XQuAD-R) rejects the truncated download; without one
    (MLQA-R) the loader rejects it and the cached copy is deleted so the next run fetches again.
    Either way: one error line, nothing cached, no result."""
    data = write_dataset(tmp_path / "data", ["en", "de"])
    full = {lang: (data / f"{lang}.json").read_bytes() for lang in ("en", "de")}
    monkeypatch.setattr(lareqa, "XQUAD_R", replace(lareqa.XQUAD_R, sha256={
        lang: sha256_file(data / f"{lang}.json") for lang in ("en", "de")}))
    cache = tmp_path / "cache"
    monkeypatch.setenv("MLIRBENCH_CACHE", str(cache))
    # languages load in task order (de before en): XQuAD-R stops at de's download, MLQA-R
    # downloads both and rejects de when parsing it
    for task, folder, kept in (("xquad-r", "xquad-r", []), ("mlqa-r", "mlqa-r", ["en.json"])):
        _serve(monkeypatch, tmp_path, {f"{folder}/en.json": full["en"], f"{folder}/de.json": full["de"][:-40]})
        out = tmp_path / f"out-{task}"
        args = ["run", "-m", "random", "-t", task, "--langs", "en,de", "-o", str(out), "--quiet"]
        code, err = invoke(args, capsys)
        assert code == 2 and err.count("\n") == 1, err
        assert "de.json" in err and ("sha256 mismatch" in err if task == "xquad-r" else "deleted this downloaded copy" in err)
        assert not out.exists()
        cached = list((cache / "data" / task).rglob("*"))
        assert [p.name for p in cached if p.is_file()] == kept, cached  # no de.json, no temp file
        _serve(monkeypatch, tmp_path, {f"{folder}/en.json": full["en"], f"{folder}/de.json": full["de"]})
        code, err = invoke(args, capsys)
        assert code == 0, err


def test_temp_file_of_a_killed_writer_is_swept_by_the_next_write(tmp_path: Path) -> None:
    from mlirbench._io.atomic import write_json

    target = tmp_path / "record[1].json"  # glob metacharacters in the name are matched literally
    code = ("import sys, time; from mlirbench._io.atomic import atomic_open\n"
            "with atomic_open(sys.argv[1]) as fh:\n    fh.write('half'); fh.flush(); print('in', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "in"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    orphan = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(orphan) == 1 and f"-{proc.pid}." in orphan[0].name
    live = tmp_path / orphan[0].name.replace(f"-{proc.pid}.", f"-{os.getpid()}.")  # a concurrent writer
    elsewhere = tmp_path / f".{target.name}.otherhost-{proc.pid}.abc.tmp"  # same dead pid, another machine
    live.write_text("x")
    elsewhere.write_text("x")
    write_json(target, {"ok": True})
    assert json.loads(target.read_text()) == {"ok": True}
    assert not orphan[0].exists() and live.exists() and elsewhere.exists()
