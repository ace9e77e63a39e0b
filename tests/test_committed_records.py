"""Every committed full-ranking record equals an independent recomputation from its own ranks file.

The ranks file lists, for every (view, query, relevant doc), the doc's rank in the view's full
ranking; mAP and nDCG@10 follow from it with the textbook formulas, without ranx and without
re-running the model. A record whose numbers drift from its side file (a hand edit, a partial
write, a bug in the aggregation) fails here in CI.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from test_cli import independent_map

from mlirbench.records.side_files import read_ranks

RESULTS = Path(__file__).resolve().parents[1] / "results"


def committed_records() -> list[Path]:
    out = []
    for path in sorted(RESULTS.rglob("*.json")):
        record = json.loads(path.read_text())
        if isinstance(record, dict) and "ranks" in record.get("run_files", {}) and "views" in record:
            out.append(path)
    return out


def independent_ndcg10(rows: list[dict]) -> dict[tuple[str, str], float]:
    """nDCG@10 per view with binary or graded gains, ideal = the relevant docs sorted by grade."""
    per_query: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    for row in rows:
        per_query.setdefault((row["query_lang"], row["corpus"], row["query_id"]), []).append((row["rank"], row["grade"]))
    per_view: dict[tuple[str, str], list[float]] = {}
    for (ql, corpus, _), rel in per_query.items():
        dcg = sum((2**g - 1) / math.log2(r + 1) for r, g in rel if 0 < r <= 10)
        ideal = sorted((g for _, g in rel), reverse=True)[:10]
        idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
        per_view.setdefault((ql, corpus), []).append(dcg / idcg if idcg else 0.0)
    return {k: float(np.mean(v)) for k, v in per_view.items()}


@pytest.mark.parametrize("path", committed_records(), ids=lambda p: str(p.relative_to(RESULTS)))
def test_record_equals_its_ranks_file(path: Path) -> None:
    record = json.loads(path.read_text())
    rows = read_ranks(path.parent / Path(record["run_files"]["ranks"]["path"]).name)
    recomputed = {"map": independent_map(rows), "ndcg@10": independent_ndcg10(rows)}
    checked = 0
    for views in record["views"].values():
        for key, entry in views.items():
            view = tuple(key.split("-", 1))
            for metric, values in recomputed.items():
                if metric in entry:
                    assert entry[metric] == pytest.approx(values[view], abs=1e-9), (key, metric)
                    checked += 1
    assert checked > 0
