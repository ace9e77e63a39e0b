"""Regression check in the spirit of pyserini's 2CR: expected scores per condition, rechecked.

``regression/expected.yaml`` lists conditions (model + adapter arguments, task, data folder,
languages, setting or view, metric, expected value, tolerance). ``mlirbench regress`` runs them
through the normal pipeline (``runner.run`` into a temporary folder, never into results/), one
run per distinct (model, arguments, task, data, languages), and compares:

* OK: equal to the expectation at printed precision (``digits``);
* OKish: within ``tolerance`` (default 5e-4, as pyserini);
* FAIL: beyond it; IMPROVED: beyond it in the better direction (still a failed expectation: a
  score that moves must be updated on purpose, with ``--update``, which records provenance).
"""
from __future__ import annotations

import fnmatch
import json
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import yaml

from mlirbench._io.atomic import atomic_open
from mlirbench._io.cache import REPO_ROOT
from mlirbench.data.task import SETTINGS
from mlirbench.errors import DataError, MlirbenchError
from mlirbench.evaluation.views import POOLED
from mlirbench.names import unknown
from mlirbench.records.provenance import provenance
from mlirbench.records.record import Record, load_record, score
from mlirbench.registry import TASKS, get_task, parse_model

DEFAULT_TOLERANCE = 5e-4
DEFAULT_FILE = REPO_ROOT / "regression" / "expected.yaml"
TIERS = ("fast", "slow", "miracl")
ALL_TIERS = ("fast", "slow")  # `--tier all`; miracl needs data that is not in ../shared
LOWER_IS_BETTER = {"rank_distance"}

HEADER = """\
# mlirbench regression expectations (pyserini 2CR style); checked by `mlirbench regress`,
# rewritten by `mlirbench regress --update` (this header is kept, other comments are not).
# One condition = one number of one run:
#   model, model_args (adapter key=value), task, data_dir (relative to the repository root;
#   null = $MLIRBENCH_<TASK>_DIR or the pinned download), langs (null = all of the task's),
#   setting (mono | cross | multi), view (a view key such as en-de; absent = the setting's
#   aggregate), metric (a task metric, or rank_distance for multi), expected, digits (printed
#   precision: OK means equal at it), tolerance (default 5e-4; a different one needs
#   tolerance_reason), tier (fast = run in CI on every submission; slow = `--tier all` only;
#   miracl = pyserini's own BM25 scores on MIRACL dev, from the Anserini jar's regression files
#   (MIRACL paper for de, yo), for whoever has the data: `--tier miracl --data-dir miracl=DIR`).
# Conditions sharing (model, model_args, task, data_dir, langs) are evaluated by one run.
"""

_REQUIRED = ("name", "model", "task", "setting", "metric")
_OPTIONAL = ("model_args", "data_dir", "langs", "view", "expected", "digits", "tolerance",
             "tolerance_reason", "tier")


@dataclass(frozen=True)
class Condition:
    name: str
    model: str
    task: str
    setting: str
    metric: str
    model_args: dict = field(default_factory=dict)
    data_dir: str | None = None
    langs: tuple[str, ...] | None = None
    view: str | None = None
    expected: float | None = None
    digits: int = 4
    tolerance: float = DEFAULT_TOLERANCE
    tolerance_reason: str | None = None
    tier: str = "fast"

    def run_key(self, data_dir: Path | None) -> tuple:
        """Conditions with equal keys are read from one run."""
        return (self.model, json.dumps(self.model_args, sort_keys=True), self.task,
                str(data_dir) if data_dir else None, self.langs)

    def value(self, record: Record) -> float | None:
        """The condition's number in a result record (None if absent or undefined)."""
        return score(record, self.setting, self.metric, self.view)

    def to_yaml(self) -> dict:
        """Field order as documented; defaults left out so the file stays short."""
        out = {"name": self.name, "tier": self.tier, "model": self.model}
        if self.model_args:
            out["model_args"] = dict(self.model_args)
        out["task"] = self.task
        out["data_dir"] = self.data_dir
        if self.langs:
            out["langs"] = list(self.langs)
        out["setting"] = self.setting
        if self.view:
            out["view"] = self.view
        out["metric"] = self.metric
        out["expected"] = self.expected
        if self.digits != 4:
            out["digits"] = self.digits
        if self.tolerance != DEFAULT_TOLERANCE:
            out["tolerance"] = self.tolerance
            out["tolerance_reason"] = self.tolerance_reason
        return out


@dataclass
class Outcome:
    condition: Condition
    actual: float | None
    status: str  # OK | OKish | FAIL | IMPROVED | MISSING

    @property
    def passed(self) -> bool:
        return self.status in ("OK", "OKish")


@dataclass
class Expectations:
    path: Path
    conditions: list[Condition]

    @property
    def root(self) -> Path:
        """Relative data folders are relative to the repository root (the folder above regression/)."""
        return self.path.resolve().parent.parent


class _Dumper(yaml.SafeDumper):
    """Lists of scalars (langs, command) on one line, everything else in block style."""


_Dumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=all(not isinstance(x, (dict, list)) for x in data)))


def load_expectations(path: Path) -> Expectations:
    """Parse and validate the file; every problem is one DataError naming the file (and line)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "expectations file not found (pass --file)") from None
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise DataError(path, f"malformed YAML: {problem}", line=mark.line + 1 if mark else None) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("conditions"), list):
        raise DataError(path, "expected a mapping with a 'conditions' list")
    extra = sorted(map(str, set(doc) - {"provenance", "conditions"}))
    if extra:
        raise DataError(path, f"unknown top-level field(s) {', '.join(extra)}")
    conditions, seen = [], set()
    for i, entry in enumerate(doc["conditions"]):
        cond = _condition(path, i, entry)
        if cond.name in seen:
            raise DataError(path, f"conditions[{i}]: duplicate condition name {cond.name!r}")
        seen.add(cond.name)
        conditions.append(cond)
    return Expectations(Path(path), conditions)


def _condition(path: Path, i: int, entry: object) -> Condition:
    where = f"conditions[{i}]"
    if not isinstance(entry, dict):
        raise DataError(path, f"{where}: expected a mapping, got {type(entry).__name__}")
    where = f"{where} ({entry.get('name')!r})" if isinstance(entry.get("name"), str) else where
    missing = [k for k in _REQUIRED if k not in entry]
    extra = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if missing or extra:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + \
                   ([f"unknown field(s) {', '.join(map(str, extra))}"] if extra else [])
        raise DataError(path, f"{where}: {'; '.join(problems)}")

    def check(ok: bool, problem: str) -> None:
        if not ok:
            raise DataError(path, f"{where}: {problem}")

    for key in ("name", "model", "task", "setting", "metric"):
        check(isinstance(entry[key], str) and entry[key] != "", f"{key} must be a non-empty string")
    check(entry["task"] in TASKS, f"unknown task {entry['task']!r}")
    setting, metric, view = entry["setting"], entry["metric"], entry.get("view")
    check(setting in SETTINGS, f"setting must be one of {', '.join(SETTINGS)}")
    metrics = get_task(entry["task"]).metadata.metrics
    check(metric in metrics or metric == "rank_distance",
          f"metric {metric!r} is none of {', '.join(metrics)}, rank_distance")
    check(metric != "rank_distance" or (setting == "multi" and not view), "rank_distance is a multi-setting aggregate")
    check(view is None or isinstance(view, str), "view must be a string")
    if view:
        query_lang, _, corpus = view.partition("-")
        check(bool(query_lang and corpus) and (setting == "mono") == (query_lang == corpus)
              and (setting == "multi") == (corpus == POOLED), f"{view!r} is not a {setting} view key")
    args = entry.get("model_args") or {}
    check(isinstance(args, dict) and all(isinstance(k, str) for k in args), "model_args must be a mapping")
    langs = entry.get("langs")
    check(langs is None or (isinstance(langs, list) and langs and all(isinstance(x, str) for x in langs)),
          "langs must be a list of language codes")
    for key in ("data_dir", "tolerance_reason"):
        check(entry.get(key) is None or isinstance(entry[key], str), f"{key} must be a string")
    expected = entry.get("expected")
    check(expected is None or (_number(expected) and math.isfinite(expected)), "expected must be a number")
    digits = entry.get("digits", 4)
    check(isinstance(digits, int) and not isinstance(digits, bool) and 0 <= digits <= 12,
          "digits must be an integer 0..12")
    tolerance = entry.get("tolerance", DEFAULT_TOLERANCE)
    check(_number(tolerance) and tolerance >= 0, "tolerance must be a number >= 0")
    check(tolerance == DEFAULT_TOLERANCE or bool(entry.get("tolerance_reason")),
          "a tolerance other than the default 5e-4 needs a tolerance_reason")
    tier = entry.get("tier", "fast")
    check(tier in TIERS, f"tier must be one of {', '.join(TIERS)}")
    return Condition(
        name=entry["name"], model=entry["model"], task=entry["task"], setting=setting,
        metric=metric, model_args=dict(args), data_dir=entry.get("data_dir"),
        langs=tuple(langs) if langs else None, view=view,
        expected=float(expected) if expected is not None else None, digits=digits,
        tolerance=float(tolerance), tolerance_reason=entry.get("tolerance_reason"), tier=tier)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def select(conditions: Sequence[Condition], names: Sequence[str], tier: str) -> list[Condition]:
    """Conditions of the tier (``all``: those of ``ALL_TIERS``) matching any name or glob pattern."""
    pool = [c for c in conditions if c.tier == tier or (tier == "all" and c.tier in ALL_TIERS)]
    if not names:
        return pool
    chosen = []
    for pattern in names:
        hits = [c for c in pool if fnmatch.fnmatchcase(c.name, pattern)]
        if not hits:
            raise unknown(f"condition (tier {tier})", pattern, [c.name for c in pool])
        chosen.extend(c for c in hits if c not in chosen)
    return [c for c in pool if c in chosen]  # file order


def data_overrides(values: Iterable[str]) -> dict[str | None, Path]:
    """``--data-dir [TASK=]PATH``: a plain PATH applies to every task (key None)."""
    out: dict[str | None, Path] = {}
    for value in values:
        task, sep, rest = value.partition("=")
        if sep and task in TASKS:
            out[task] = Path(rest)
        else:
            out[None] = Path(value)
    return out


def resolve_data_dir(cond: Condition, root: Path, overrides: dict[str | None, Path]) -> Path | None:
    folder = overrides.get(cond.task) or overrides.get(None)
    if folder is None and cond.data_dir is not None:
        folder = root / cond.data_dir
    return folder.resolve() if folder is not None else None


def judge(cond: Condition, actual: float | None) -> str:
    if actual is None or cond.expected is None:
        return "MISSING"
    if f"{actual:.{cond.digits}f}" == f"{cond.expected:.{cond.digits}f}":
        return "OK"
    delta = actual - cond.expected
    if abs(delta) <= cond.tolerance + 1e-12:
        return "OKish"
    better = delta < 0 if cond.metric in LOWER_IS_BETTER else delta > 0
    return "IMPROVED" if better else "FAIL"


def describe(outcome: Outcome) -> str:
    c, actual = outcome.condition, outcome.actual
    shown = "missing" if actual is None else f"{actual:.{c.digits}f}"
    expected = "none" if c.expected is None else f"{c.expected:.{c.digits}f}"
    note = f"expected {expected}"
    if actual is not None and c.expected is not None and outcome.status != "OK":
        note += f", delta {actual - c.expected:+.{c.digits + 1}f}, tolerance {c.tolerance:g}"
    return f"{outcome.status:<8} {c.name:<44} {shown:>12}  ({note})"


def run_conditions(conditions: Sequence[Condition], root: Path, overrides: dict[str | None, Path], *,
                   cache: bool, argv: list[str] | None, echo: Callable[[str], None]) -> list[Outcome]:
    """One pipeline run per distinct run key, into a temporary folder; outcomes in file order."""
    from mlirbench.runner import run  # heavy imports only when something runs

    groups: dict[tuple, list[Condition]] = {}
    folders: dict[tuple, Path | None] = {}
    for cond in conditions:
        folder = resolve_data_dir(cond, root, overrides)
        if folder is not None and not folder.is_dir():
            raise MlirbenchError(f"{folder}: data folder of condition {cond.name!r} does not exist; "
                                 f"pass --data-dir {cond.task}=PATH")
        key = cond.run_key(folder)
        groups.setdefault(key, []).append(cond)
        folders[key] = folder
    outcomes: dict[str, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="mlirbench-regress-") as tmp:
        for n, (key, conds) in enumerate(groups.items()):
            first = conds[0]
            args = " ".join(f"{k}={v}" for k, v in sorted(first.model_args.items()))
            langs = ",".join(first.langs) if first.langs else "all languages"
            echo(f"== {first.model}{' ' + args if args else ''} on {first.task} ({langs}): "
                 f"{len(conds)} condition(s)")
            start = time.perf_counter()
            spec = parse_model(first.model, first.model_args)
            path = run(spec, first.task, data_dir=folders[key], langs=first.langs,
                       output=Path(tmp) / f"run{n}", progress=False, cache=cache, argv=argv)
            record = load_record(path)
            for cond in conds:
                actual = cond.value(record)
                outcomes[cond.name] = Outcome(cond, actual, judge(cond, actual))
                echo(describe(outcomes[cond.name]))
            echo(f"   ({time.perf_counter() - start:.1f} s)")
    return [outcomes[c.name] for c in conditions]


def summary(outcomes: Sequence[Outcome]) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("OK", "OKish", "FAIL", "IMPROVED", "MISSING")}
    line = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "OK")
    if counts["IMPROVED"]:
        line += ("; improvements beyond tolerance still fail: if intended, record them with "
                 "`mlirbench regress --update`")
    return f"{len(outcomes)} conditions: {line}"


def update(expectations: Expectations, outcomes: Sequence[Outcome], argv: list[str] | None) -> None:
    """Write the actual values as expectations (rounded to printed precision), plus provenance."""
    actual = {o.condition.name: o.actual for o in outcomes}
    undefined = [name for name, value in actual.items() if value is None]
    if undefined:
        raise MlirbenchError(f"{expectations.path}: not updated, no value in the run for {', '.join(undefined)}")
    conditions = [replace(c, expected=round(actual[c.name], c.digits)) if c.name in actual else c
                  for c in expectations.conditions]
    prov = provenance(argv)
    block = {
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "updated_conditions": "all" if len(actual) == len(conditions) else sorted(actual),
        "command": prov["command"],
        "git": prov["git"],
        "mlirbench_version": prov["mlirbench_version"],
        "python": prov["hardware"]["python"],
        "packages": prov["packages"],
        "hardware": {k: v for k, v in prov["hardware"].items() if k != "python"},
    }
    doc = {"provenance": block, "conditions": [c.to_yaml() for c in conditions]}
    with atomic_open(expectations.path, "w", encoding="utf-8") as fh:
        fh.write(HEADER)
        yaml.dump(doc, fh, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    expectations.conditions = conditions


def regress(path: Path | None, names: Sequence[str], tier: str, data_dirs: Sequence[str], *,
            do_update: bool, cache: bool, argv: list[str] | None, echo: Callable[[str], None]) -> bool:
    """Check (or with ``do_update`` rewrite) the selected conditions; True when all passed."""
    expectations = load_expectations(path or DEFAULT_FILE)
    chosen = select(expectations.conditions, names, tier)
    if not chosen:
        raise MlirbenchError(f"{expectations.path}: no conditions in tier {tier!r}")
    outcomes = run_conditions(chosen, expectations.root, data_overrides(data_dirs), cache=cache,
                              argv=argv, echo=echo)
    echo(summary(outcomes))
    if do_update:
        update(expectations, outcomes, argv)
        echo(f"updated {len(outcomes)} expectation(s) in {expectations.path}")
        return True
    return all(o.passed for o in outcomes)
