"""The batching study's report (``mlirbench.grid`` experiments): seeds, paired tests, alpha curve, shift.

An experiment whose manifest has a ``study`` block lists its runs (record folder, batching,
alpha, seed). Runs are grouped by *arm*: ``x-x-mono``, ``x-y``, ``hybrid a=<alpha>`` and
``zero-shot <model>``. Per arm: mean and sample standard deviation over its seeds of mono /
cross / multi mAP, multilingual rank distance and the top-10 own-language share (bias.py).

Paired tests between arms use the per-query average precision of each arm averaged over the
seeds both arms have (the seed-averaged system: seed noise is averaged into each query's score,
not treated as more queries), then the paired randomisation test over question groups
(resampling.py: the 11 translations of a question move together), Holm-corrected over every
(pair, setting) tested. The alpha curve puts X-Y at alpha 0 and X-X-mono at alpha 1 (they are
hybrid(0) and hybrid(1)); points are seed means, bars one standard deviation.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from mlirbench._io.atomic import atomic_path
from mlirbench.data.domains import query_domains
from mlirbench.errors import DataError
from mlirbench.records.record import EXPERIMENT, load_record, score
from mlirbench.records.saved_ranks import per_query, record_ranks
from mlirbench.report.bias import language_bias
from mlirbench.report.resampling import aggregate, design_of, paired_test
from mlirbench.report.robustness import shift_summary
from mlirbench.report.significance import holm

SETTINGS = ("mono", "cross", "multi")
COLUMNS = ("mono", "cross", "multi", "rank_distance", "own_language_top10")
PAIRS = (("hybrid a=0.5", "x-x-mono"), ("hybrid a=0.5", "x-y"), ("x-x-mono", "x-y"))


def arm(run: dict) -> str:
    """The arm a manifest run belongs to."""
    if run["batching"] is None:
        return f"zero-shot {run['record']}"
    return f"hybrid a={run['alpha']:g}" if run["batching"] == "hybrid" else run["batching"]


def finished_runs(exp_dir: Path) -> list[dict]:
    """The manifest's runs whose record exists, with ``path`` (the record file) added."""
    manifest = exp_dir / EXPERIMENT
    study = json.loads(manifest.read_text(encoding="utf-8")).get("study")
    if not isinstance(study, dict) or not isinstance(study.get("runs"), list):
        raise DataError(manifest, "no 'study' block with a 'runs' list (written by mlirbench.grid)")
    task = study.get("task", "xquad-r")
    runs = [dict(r, path=exp_dir / r["record"] / f"{task}.json") for r in study["runs"]]
    return [r for r in runs if r["path"].is_file()]


def run_scores(path: Path) -> dict[str, float | None]:
    record = load_record(path)
    values = {s: score(record, s, "map") for s in SETTINGS}
    values["rank_distance"] = score(record, "multi", "rank_distance")
    values["own_language_top10"] = language_bias(path)["observed"]
    return values


def arm_summary(runs: list[dict]) -> dict[str, dict]:
    """{arm: {"seeds": [...], column: (mean, std or None)}} in the order arms first appear."""
    grouped: dict[str, list[dict]] = {}
    for run in runs:
        grouped.setdefault(arm(run), []).append(run)
    out = {}
    for name, members in grouped.items():
        scores = [run_scores(r["path"]) for r in members]
        entry: dict = {"seeds": [r["seed"] for r in members], "alpha": _alpha(members[0])}
        for column in COLUMNS:
            values = np.array([s[column] for s in scores if s[column] is not None], dtype=float)
            entry[column] = (float(values.mean()) if len(values) else None,
                             float(values.std(ddof=1)) if len(values) > 1 else None)
        out[name] = entry
    return out


def _alpha(run: dict) -> float | None:
    return {"x-y": 0.0, "x-x-mono": 1.0}.get(run["batching"], run["alpha"])


def _seed_mean_ap(runs: list[dict], seeds: list[int]) -> dict:
    """{setting: (ranks of the first run, per-query AP averaged over ``seeds``)}."""
    chosen = [r for r in runs if r["seed"] in seeds]
    ranks = [record_ranks(r["path"]) for r in chosen]
    out = {}
    for setting in SETTINGS:
        base = ranks[0][setting]
        if not all(rk[setting].same_qrels(base) for rk in ranks):
            raise DataError(chosen[0]["path"], f"{setting}: the seeds' records do not share their queries")
        out[setting] = (base, np.mean([per_query(rk[setting], ["map"])["map"] for rk in ranks], axis=0))
    return out


def paired_tests(runs: list[dict], pairs=PAIRS) -> list[dict]:
    """Per (pair of arms, setting): seeds used, difference of the seed-averaged aggregate mAP, Holm p."""
    by_arm: dict[str, list[dict]] = {}
    for run in runs:
        by_arm.setdefault(arm(run), []).append(run)
    rows = []
    for a, b in pairs:
        if a not in by_arm or b not in by_arm:
            continue
        seeds = sorted({r["seed"] for r in by_arm[a]} & {r["seed"] for r in by_arm[b]})
        if not seeds:
            continue
        left, right = _seed_mean_ap(by_arm[a], seeds), _seed_mean_ap(by_arm[b], seeds)
        for setting in SETTINGS:
            ranks, x = left[setting]
            other, y = right[setting]
            if not ranks.same_qrels(other):
                raise DataError(by_arm[a][0]["path"], f"{setting}: {a} and {b} were not evaluated on the same queries")
            design = design_of(ranks)
            rows.append({"a": a, "b": b, "setting": setting, "seeds": seeds,
                         "difference": aggregate(design, x) - aggregate(design, y),
                         "p": paired_test(design, x, y)})
    for row, p in zip(rows, holm([r["p"] for r in rows])):
        row["p_holm"] = p
    return rows


def write_alpha_curve(path: Path, summary: dict[str, dict], title: str) -> Path | None:
    """PNG: mono / cross / multi mAP and rank distance against alpha (seed means, one-std bars)."""
    points = sorted((e["alpha"], e) for name, e in summary.items() if not name.startswith("zero-shot"))
    if not points:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alphas = [a for a, _ in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=100)
    for column in SETTINGS:
        means = [e[column][0] for _, e in points]
        stds = [e[column][1] or 0.0 for _, e in points]
        left.errorbar(alphas, means, yerr=stds, marker="o", capsize=3, label=f"{column} mAP")
    right.errorbar(alphas, [e["rank_distance"][0] for _, e in points],
                   yerr=[e["rank_distance"][1] or 0.0 for _, e in points], marker="o", capsize=3, color="tab:red")
    for ax, ylabel in ((left, "mAP"), (right, "rank distance (multi, lower = less bias)")):
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0\nX-Y", ".25", ".5", ".75", "1\nX-X-mono"])
        ax.set_xlim(-0.08, 1.08)
        ax.set_xlabel("alpha (share of X-X-mono batches)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
    return path


def shift_drops(runs: list[dict], mapping: dict, held_out: str) -> dict[str, dict[str, tuple]]:
    """{arm: {setting: (mean, std) of the relative drop in mAP, in-domain -> held-out domain}}."""
    drops: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for setting, ranks in record_ranks(run["path"]).items():
            keys = [k.rsplit("@", 1)[0] for k in ranks.keys]
            values = per_query(ranks, ["map"])["map"]
            drop = shift_summary(ranks, values, query_domains(mapping, keys), held_out)["relative_drop"]
            if drop is not None:
                drops.setdefault(arm(run), {}).setdefault(setting, []).append(drop)
    return {name: {s: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else None)
                   for s, v in per.items()} for name, per in drops.items()}


def _cell(pair: tuple, digits: int = 3) -> str:
    mean, std = pair
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def _percent(pair: tuple | None) -> str:
    if pair is None:
        return "–"
    mean, std = pair
    return f"{100 * mean:.1f}%" + ("" if std is None else f" ± {100 * std:.1f}")


def study_section(exp_dir: Path, out_dir: Path, mapping: dict | None, held_out: str | None) -> list[str]:
    """The study's Markdown: arms table, paired tests, alpha curve link, domain-shift drops."""
    runs = finished_runs(exp_dir)
    if not runs:
        return [f"### Study ({exp_dir.name})", "", "No run of the grid has finished yet.", ""]
    summary = arm_summary(runs)
    header = ["Arm", "seeds", "mono mAP", "cross mAP", "multi mAP", "rank distance", "own-language top-10"]
    rows = [[name, ",".join(str(s) for s in e["seeds"] if s is not None) or "–",
             *(_cell(e[c], 1 if c == "rank_distance" else 3) for c in COLUMNS)] for name, e in summary.items()]
    lines = [f"### Study ({exp_dir.name}): batchings over seeds", "",
             "Mean ± sample standard deviation over the seeds listed (no ± with one seed).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows),
             ""]
    tests = paired_tests(runs)
    if tests:
        lines += ["Paired tests: per-query AP averaged over the seeds both arms have, paired randomisation test "
                  "over question groups (10,000 relabellings), Holm-corrected over the rows below.", "",
                  "| A | B | setting | seeds | mAP A - B | p (Holm) |", "|---|---|---|---|---|---|"]
        lines += [f"| {t['a']} | {t['b']} | {t['setting']} | {','.join(map(str, t['seeds']))} | "
                  f"{t['difference']:+.4f} | {t['p_holm']:.4f} |" for t in tests]
        lines.append("")
    png = write_alpha_curve(exp_dir / "alpha-curve.png", summary, f"{exp_dir.name}: batchings against alpha")
    if png is not None:
        lines += [f"Alpha curve: [{png.name}]({os.path.relpath(png.resolve(), out_dir.resolve())}) "
                  "(X-Y = alpha 0, X-X-mono = alpha 1; seed means, one-std bars).", ""]
    if mapping and held_out:
        drops = shift_drops(runs, mapping, held_out)
        lines += [f"Relative mAP drop, in-domain -> *{held_out}* questions, per arm (mean ± std over seeds):", "",
                  "| Arm | mono | cross | multi |", "|---|---|---|---|"]
        lines += [f"| {name} | " + " | ".join(_percent(d.get(s)) for s in SETTINGS) + " |" for name, d in drops.items()]
        lines.append("")
    return lines
