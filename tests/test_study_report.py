"""The batching study's report (report/study.py) on random-model records standing in for the grid's."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from results_fixture import dataset, run_random

from mlirbench.report.study import arm_summary, finished_runs, paired_tests, study_section

ARMS = [("x-x-mono", None), ("x-y", None), ("hybrid", 0.5), ("hybrid", 0.25)]


def build_study(root: Path) -> Path:
    """A study folder: three seeds of x-x-mono, x-y and hybrid 0.5, one of hybrid 0.25 (random model, its seed
    standing in for the training seed), one run listed but not finished."""
    data = dataset(root / "data")
    exp = root / "results" / "study"
    exp.mkdir(parents=True)
    runs = []
    for k, (batching, alpha) in enumerate(ARMS):
        for seed in (0, 1, 2) if alpha != 0.25 else (0,):
            name = f"dense--m-{batching}{alpha or ''}-s{seed}"
            run_random(data, exp, name, seed=10 * k + seed)
            runs.append({"record": name, "batching": batching, "alpha": alpha, "seed": seed, "commands": []})
    runs.append({"record": "dense--m-hybrid0.75-s0", "batching": "hybrid", "alpha": 0.75, "seed": 0, "commands": []})
    (exp / "experiment.json").write_text(json.dumps({"title": "t", "description": "d", "reading": "r",
                                                     "study": {"task": "mlqa-r", "runs": runs}}), encoding="utf-8")
    shutil.rmtree(root / "data")
    return exp


def test_arms_seeds_tests_and_alpha_curve(tmp_path: Path) -> None:
    exp = build_study(tmp_path)
    runs = finished_runs(exp)
    assert len(runs) == 10  # the unfinished hybrid 0.75 is left out
    summary = arm_summary(runs)
    assert list(summary) == ["x-x-mono", "x-y", "hybrid a=0.5", "hybrid a=0.25"]
    mono = summary["x-x-mono"]
    assert mono["seeds"] == [0, 1, 2] and mono["alpha"] == 1.0 and summary["x-y"]["alpha"] == 0.0
    assert mono["multi"][1] > 0 and summary["hybrid a=0.25"]["multi"][1] is None  # one seed: no std
    tests = paired_tests(runs)
    assert len(tests) == 9 and all(t["seeds"] == [0, 1, 2] for t in tests)
    assert all(t["p"] <= t["p_holm"] <= 1 for t in tests)
    lines = study_section(exp, tmp_path, None, None)
    text = "\n".join(lines)
    assert "| hybrid a=0.25 | 0 |" in text and "p (Holm)" in text
    assert (exp / "alpha-curve.png").stat().st_size > 1000 and "](results/study/alpha-curve.png)" in text
