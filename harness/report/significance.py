"""``mlirbench compare``: paired significance tests between models, from saved files only.

Per setting, every model's per-query scores come from its ranks file through a
``saved.SkeletonRun`` (exactly the full-ranking values, see saved.py), paired by key
(``<query id>@<corpus>``).

``group`` (the default) is a paired randomisation test over question *groups*
(``resampling.paired_test``): XQuAD-R's 13,090 queries are 1,190 questions in 11 translations,
whose scores are correlated, so the group's queries (in every view of the setting; for cross,
in every language pair) are relabelled together and the statistic is the difference of the
setting's aggregates as the record computes them (mean over views). On data whose groups hold
one query each it is the same test over queries. The per-query tests are kept as options:
``ranx.compare`` runs ``student``, ``fisher`` or ``tukey`` treating every query as independent,
which overstates the evidence when translations are counted as separate samples; their means
are ranx's (over queries), equal to the record's where every view has the same queries.

ranx and the group test report raw p-values: with more than one pair (group, student, fisher)
they are adjusted here with Holm-Bonferroni over the family of pairs compared in that setting
(ranx has no correction of its own); ``tukey`` (Tukey's HSD) already controls the family-wise
error and is left as is. ``student`` is exact, fast and reproducible. ``fisher`` draws 1,000 random
permutations; ranx seeds them, but draws them in numba worker threads whose random state the
seed does not reach, so its p-values vary between calls by the Monte Carlo error (about 0.016
at p = 0.5); it is also slow on the 130,900 cross-lingual queries of XQuAD-R.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ranx import compare as ranx_compare
from tqdm.auto import tqdm

from mlirbench.data.task import SETTINGS
from mlirbench.errors import DataError, MlirbenchError
from mlirbench.evaluation.metrics import check_metric
from mlirbench.names import unknown
from mlirbench.records.record import load_record
from mlirbench.records.saved_ranks import SettingRanks, SkeletonQrels, SkeletonRun, per_query, record_ranks
from mlirbench.report.resampling import N_PERMUTATIONS, SEED, aggregate, design_of, paired_test

TESTS = ("group", "student", "fisher", "tukey")
GROUP_TEST = "group"
TEST_NAMES = {GROUP_TEST: f"two-sided paired randomisation test over question groups ({N_PERMUTATIONS:,} "
                          f"relabellings, seed {SEED})",
              "student": "two-sided paired Student's t-test", "fisher": "Fisher's randomization test",
              "tukey": "Tukey's HSD test"}
PERMUTATIONS = 1000  # Fisher's randomization test: its p-values are multiples of 1 / PERMUTATIONS


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    mean_a: float
    mean_b: float
    p_value: float
    p_adjusted: float
    significant: bool
    wins: int  # queries where a scores higher than b
    ties: int
    losses: int

    def as_dict(self) -> dict:
        return asdict(self)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    order = np.argsort(p_values, kind="stable")
    m = len(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * float(p_values[idx])))
        adjusted[idx] = running
    return adjusted.tolist()


def check_request(models: Sequence[str], test: str) -> None:
    """Fail before any file is read."""
    if test not in TESTS:
        raise unknown("statistical test", test, TESTS)
    if len(models) < 2:
        raise MlirbenchError("a comparison needs at least two models")
    if len(set(models)) != len(models):
        raise MlirbenchError(f"model named twice: {', '.join(models)}")


def load_model_ranks(results: Path, models: Sequence[str], task: str) -> dict[str, dict[str, SettingRanks]]:
    """{model: {setting: ranks}} for ``results/<model>/<task>.json``, checked to share qrels."""
    available = sorted(p.parent.name for p in Path(results).glob(f"*/{task}.json"))
    if not available:
        subsets = sorted({p.name.removesuffix(".json") for p in Path(results).glob(f"*/{task}.*.json")
                          if p.name.count(".") == task.count(".") + 2})  # <task>.<langs>.json, not side files
        hint = f" (records of language subsets: {', '.join(subsets)}; name one with -t)" if subsets else ""
        raise DataError(results, f"no result records for task {task!r}{hint}")
    out = {}
    for model in models:
        if model not in available:
            raise unknown(f"model for task {task}", model, available)
        out[model] = record_ranks(Path(results) / model / f"{task}.json")
    check_paired(out, task)
    return out


def check_paired(by_model: dict[str, dict[str, SettingRanks]], task: str) -> None:
    """Paired tests need the same queries and relevant docs in every setting of every model."""
    first, ranks = next(iter(by_model.items()))
    for model, other in by_model.items():
        if set(other) != set(ranks) or any(not other[s].same_qrels(ranks[s]) for s in ranks):
            raise MlirbenchError(f"{model} and {first} on {task} were not evaluated on the same queries "
                                 f"and relevant docs (different data or languages); no paired test")


def compare_setting(by_model: dict[str, SettingRanks], metric: str, test: str = GROUP_TEST,
                    alpha: float = 0.01, pairs: Sequence[tuple[str, str]] | None = None,
                    seed: int = 42) -> list[Pair]:
    """Tests for ``pairs`` (default: every unordered pair, in the given model order); Holm's
    family is the pairs returned (one pair: no change). ``seed``: ranx's (the group test has its own)."""
    names = list(by_model)
    check_request(names, test)
    pairs = list(pairs) if pairs is not None else [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    if test == GROUP_TEST:
        return _group_tests(by_model, metric, alpha, pairs)
    qrels = SkeletonQrels(next(iter(by_model.values())))
    runs = [SkeletonRun(ranks, name) for name, ranks in by_model.items()]
    report = ranx_compare(qrels, runs, [metric], stat_test=test, max_p=alpha, n_permutations=PERMUTATIONS,
                          random_seed=seed)
    raw = [_p_value(report.comparisons[frozenset((a, b))][metric]["p_value"]) for a, b in pairs]
    adjusted = raw if test == "tukey" else holm(raw)
    out = []
    for (a, b), p, q in zip(pairs, raw, adjusted):
        wtl = report.win_tie_loss[(a, b)][metric]
        out.append(Pair(a, b, float(report.results[a][metric]), float(report.results[b][metric]), p, q,
                        bool(q <= alpha), wtl["W"], wtl["T"], wtl["L"]))
    return out


def _group_tests(by_model: dict[str, SettingRanks], metric: str, alpha: float,
                 pairs: list[tuple[str, str]]) -> list[Pair]:
    """The group test per pair; means are the setting's aggregates (mean over views)."""
    design = design_of(next(iter(by_model.values())))  # same qrels (check_paired): same queries and groups
    values = {name: per_query(ranks, [metric])[metric] for name, ranks in by_model.items()}
    raw = [paired_test(design, values[a], values[b]) for a, b in pairs]
    out = []
    for (a, b), p, q in zip(pairs, raw, holm(raw)):
        va, vb = values[a], values[b]
        out.append(Pair(a, b, aggregate(design, va), aggregate(design, vb), p, q, bool(q <= alpha),
                        int((va > vb).sum()), int((va == vb).sum()), int((va < vb).sum())))
    return out


def _p_value(value: float) -> float:
    """Identical per-query scores leave the t statistic undefined (NaN): no evidence, p = 1."""
    return 1.0 if np.isnan(value) else float(value)


def compare_models(results: Path, models: Sequence[str], task: str, metric: str | None = None,
                   test: str = GROUP_TEST, alpha: float = 0.01,
                   settings: Sequence[str] = SETTINGS, progress: bool = False) -> dict:
    """The ``compare`` command's result as a JSON-ready dict; ``metric`` defaults to the main score
    of the task (as its first model's record names it)."""
    check_request(models, test)
    if metric is not None:
        check_metric(metric)
    by_model = load_model_ranks(results, models, task)
    if metric is None:
        metric = load_record(Path(results) / models[0] / f"{task}.json")["task"]["main_score"]
    first = by_model[models[0]]
    out = {"task": task, "metric": metric, "test": test, "test_name": TEST_NAMES.get(test, test),
           "alpha": alpha, "correction": correction_name(test, len(models) * (len(models) - 1) // 2), "settings": {}}
    for setting in tqdm(settings, desc="compare", unit="setting", disable=not progress):
        if setting not in first:
            continue
        pairs = compare_setting({m: by_model[m][setting] for m in models}, metric, test, alpha)
        out["settings"][setting] = {"n_queries": len(first[setting].keys),
                                    "n_groups": len(set(first[setting].groups)),
                                    "pairs": [p.as_dict() for p in pairs]}
    return out


def correction_name(test: str, n_pairs: int) -> str:
    if test == "tukey":
        return "none needed (Tukey's HSD controls the family-wise error)"
    return f"Holm-Bonferroni over the {n_pairs} pairs of each setting" if n_pairs > 1 else "none (one pair)"


def fmt_p(p: float, test: str = "student") -> str:
    """Two significant digits; p = 0 shown as the bound it stands for."""
    if p == 0:
        return f"<{1 / PERMUTATIONS:g}" if test == "fisher" else "<1e-300"
    return f"{p:.2g}"


def format_comparison(result: dict) -> str:
    """Plain-text table, one line per (setting, pair)."""
    lines = [f"{result['task']}: {result['metric']}, {result['test_name']}, alpha={result['alpha']}, "
             f"correction: {result['correction']}",
             ("Group-aware: a question's translations (in every view of the setting) are relabelled together; "
              "--test student|fisher|tukey tests per query, as if translations were independent (overstated)."
              if result["test"] == GROUP_TEST else
              "Per-query test: translations of one question count as independent queries, which overstates "
              "significance; the default (--test group) relabels question groups."),
             "W/T/L counts queries where A scores higher / the same / lower than B.", ""]
    header = ("setting", "A", "B", "A mean", "B mean", "diff", "p", "p adj.", "sig.", "W/T/L", "queries", "groups")
    rows = []
    for setting, entry in result["settings"].items():
        for p in entry["pairs"]:
            rows.append((setting, p["a"], p["b"], f"{p['mean_a']:.4f}", f"{p['mean_b']:.4f}",
                         f"{p['mean_a'] - p['mean_b']:+.4f}", fmt_p(p["p_value"], result["test"]),
                         fmt_p(p["p_adjusted"], result["test"]),
                         "yes" if p["significant"] else "no", f"{p['wins']}/{p['ties']}/{p['losses']}",
                         str(entry["n_queries"]), str(entry["n_groups"])))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)
