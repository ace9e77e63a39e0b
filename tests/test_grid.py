"""The study grid (``mlirbench.grid``): the paper profile's commands end to end on tiny random models."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")
pytest.importorskip("datasets", reason="the trainer needs datasets: pip install 'mlirbench[train]'")
pytest.importorskip("nano_laser")

from tiny_models import build_dense_model, build_laser_dir, build_mbart_model  # noqa: E402

from mlirbench.adapters.laser3 import ISO639_1  # noqa: E402
from mlirbench.grid import Grid, cpu_profile, paper_profile  # noqa: E402
from mlirbench.registry import get_task  # noqa: E402
from mlirbench.report.leaderboard import write_leaderboard  # noqa: E402

XQUAD_R_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")


def test_cpu_profile_order_and_budget() -> None:
    """Seed 0 of the three batchings and zero-shot on both splits first, then the alphas, then seeds 1-2."""
    profile = cpu_profile()
    cells = [(r.experiment.rsplit("-", 1)[-1], r.batching, r.alpha, r.seed) for r in profile.runs]
    assert cells[:10] == [("heldout", "x-x-mono", None, 0), ("heldout", "x-y", None, 0),
                          ("heldout", "hybrid", 0.5, 0), ("heldout", None, None, None),
                          ("science", None, None, None), ("science", "x-x-mono", None, 0),
                          ("science", "x-y", None, 0), ("science", "hybrid", 0.5, 0),
                          ("heldout", "hybrid", 0.25, 0), ("heldout", "hybrid", 0.75, 0)]
    for exp in ("heldout", "science"):
        for batching, alpha in (("x-x-mono", None), ("x-y", None), ("hybrid", 0.5)):
            assert sorted(c[3] for c in cells if c[:3] == (exp, batching, alpha)) == [0, 1, 2]
    assert len(profile.runs) == 12 + 10
    names = [r.name for r in profile.runs if r.batching]
    assert len(names) == len(set((r.experiment, r.name) for r in profile.runs if r.batching))


def test_paper_grid_runs_mbart_and_laser3_end_to_end(xquad_r_dir: Path, tmp_path: Path) -> None:
    """The paper profile's commands (fine-tuned mBART with X-X-mono, LASER3 zero-shot, a hybrid base)
    on tiny random models: data, training, evaluation, training metadata beside the record, manifest;
    a second pass finds everything done."""
    xlmr = build_dense_model(tmp_path / "xlmr")
    mbart = build_mbart_model(tmp_path / "mbart")
    laser = build_laser_dir(tmp_path / "laser", laser3_codes=tuple(ISO639_1[lang] for lang in XQUAD_R_LANGS))
    profile = paper_profile(xlmr=str(xlmr), labse=str(tmp_path / "labse"), mbart=f"mbart:{mbart}",
                            laser3=("laser3", (("model_dir", str(laser)),)), seeds=(0,),
                            train={"epochs": 1, "max-steps": 2, "batch-size": 8, "eval-steps": 1, "max-seq-length": 64,
                                   "val-fraction": 0.01})
    exp = profile.experiments[0].name
    wanted = {("laser3", None), (f"mbart:{mbart}", "x-x-mono"), (str(xlmr), "hybrid")}
    profile.runs = [r for r in profile.runs if r.experiment == exp and (r.model, r.batching) in wanted
                    and r.alpha in (None, 0.5)]
    assert len(profile.runs) == 3
    results = tmp_path / "results"
    grid = Grid(profile, tmp_path / "work", xquad_r_dir, results, commit=False)
    grid.run_all()
    manifest = json.loads((results / exp / "experiment.json").read_text(encoding="utf-8"))
    runs = manifest["study"]["runs"]
    assert [r["batching"] for r in runs] == [None, "hybrid", "x-x-mono"]
    assert all(r["commands"][-1].startswith("mlirbench run --model ") for r in runs)
    assert "--batch-size 8" in runs[2]["commands"][0] and "--batching x-x-mono" in runs[2]["commands"][0]
    for run in runs:
        record = json.loads((results / exp / run["record"] / "xquad-r.json").read_text(encoding="utf-8"))
        assert set(record["aggregate"]) >= {"mono", "cross", "multi"}
        if run["batching"]:
            meta = json.loads((results / exp / run["record"] / "mlirbench_training.json").read_text(encoding="utf-8"))
            assert meta["status"] == "finished" and meta["loss_curve"]["eval"]
    assert not list((tmp_path / "work" / "models").glob("*/*/checkpoint-*"))
    # the leaderboard reads the experiment with the training metadata beside its records (a side file, not a record)
    board = write_leaderboard(results, tmp_path / "LB.md", {"xquad-r": get_task("xquad-r").metadata})
    assert f"### Study ({exp}): batchings over seeds" in board.read_text(encoding="utf-8")
    models = tmp_path / "work" / "models"
    stamp = {p: p.stat().st_mtime_ns for p in models.glob("*/*/*")}
    grid.run_all()  # resumable: finished runs are skipped, nothing is trained again
    assert stamp == {p: p.stat().st_mtime_ns for p in models.glob("*/*/*")}
