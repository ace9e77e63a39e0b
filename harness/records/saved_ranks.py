"""Per-query scores from saved result files, without re-running a model.

The TREC runs beside a record hold only the top 10 docs, too shallow for mAP. The ranks file
(runfiles.py) holds the rank of every relevant doc in each view's *full* ranking, which is all
any metric we report depends on. ``SkeletonRun`` is a ranx ``Run`` rebuilt from it: each query's
ranked list has its relevant docs at their true positions and anonymous placeholders everywhere
else (``kernels.skeleton_lists``, as in metrics.py), so ranx -- ``evaluate`` and ``compare``
alike -- computes exactly the full-ranking values. The lists are built only when ranx asks for
them (``to_typed_list``), so a comparison holds one model's lists in memory at a time.

Query keys are ``<query id>@<corpus>`` (as in the TREC runs): unique within a setting and the
same for every model evaluated on the same data, which is what pairs the queries in a test.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from ranx import Qrels, Run, evaluate

from mlirbench._io.hashing import sha256_file
from mlirbench.errors import DataError
from mlirbench.evaluation.kernels import skeleton_lists
from mlirbench.evaluation.metrics import distance_ranks
from mlirbench.records.record import load_record, run_file
from mlirbench.records.side_files import RANKS_HEADER, read_ranks


@dataclass(frozen=True)
class SettingRanks:
    """Relevant docs of one setting, sorted by (query key, doc id); query i owns entries
    ``offsets[i]:offsets[i + 1]``. ``doc_codes`` number the doc ids in sorted order, so two
    models with the same qrels get identical codes."""

    setting: str
    keys: list[str]
    query_langs: list[str]
    corpora: list[str]
    groups: list[str]  # parallel translations share a group: the unit of resampling (report/resampling.py)
    offsets: np.ndarray
    doc_ids: np.ndarray
    doc_codes: np.ndarray
    grades: np.ndarray
    ranks: np.ndarray
    n_ranked: np.ndarray  # per query: docs the model ranked, and docs in the view (for rank distance)
    n_docs: np.ndarray

    def same_qrels(self, other: SettingRanks) -> bool:
        return (self.keys == other.keys and np.array_equal(self.doc_ids, other.doc_ids)
                and np.array_equal(self.grades, other.grades))

    def lists(self, with_run: bool = True):
        """(qrels, runs) as numba typed lists for ranx; ``with_run=False`` gives empty runs."""
        ranks = self.ranks if with_run else np.zeros_like(self.ranks)
        return skeleton_lists(self.doc_codes, self.grades, ranks, self.offsets)


def read_ranks_table(path: Path) -> pd.DataFrame:
    """The ranks file as a DataFrame, read (and validated) by ``runfiles.read_ranks``."""
    return pd.DataFrame(read_ranks(path), columns=list(RANKS_HEADER))


def setting_ranks(table: pd.DataFrame, setting: str) -> SettingRanks:
    rows = table[table["setting"] == setting]
    keys = rows["query_id"] + "@" + rows["corpus"]
    rows = rows.assign(key=keys).sort_values(["key", "doc_id"], kind="stable")
    first = ~rows["key"].duplicated()
    starts = np.flatnonzero(first.to_numpy())
    doc_ids = rows["doc_id"].to_numpy(dtype=object)
    return SettingRanks(
        setting=setting,
        keys=rows["key"][first].tolist(),
        query_langs=rows["query_lang"][first].tolist(),
        corpora=rows["corpus"][first].tolist(),
        groups=rows["group"][first].tolist(),
        offsets=np.append(starts, len(rows)).astype(np.int64),
        doc_ids=doc_ids,
        doc_codes=pd.factorize(doc_ids, sort=True)[0].astype(np.float64),
        grades=rows["grade"].to_numpy(dtype=np.float64),
        ranks=rows["rank"].to_numpy(dtype=np.int64),
        n_ranked=rows["n_ranked"][first].to_numpy(dtype=np.int64),
        n_docs=rows["n_docs"][first].to_numpy(dtype=np.int64),
    )


def record_ranks(record_path: Path) -> dict[str, SettingRanks]:
    """{setting: SettingRanks} of a result record, from its ranks file."""
    record = load_record(record_path)
    entry = record.get("run_files", {}).get("ranks", {})
    path = run_file(record_path, record, "ranks")
    # record and side files are each written atomically, not as a set: a run killed between them
    # leaves a record whose sha256 no longer matches; refuse to mix the two
    if entry.get("sha256") and path.is_file() and sha256_file(path) != entry["sha256"]:
        raise DataError(path, f"does not match its record {record_path.name} (sha256 differs); rerun the model")
    table = read_ranks_table(path)
    return {s: setting_ranks(table, s) for s in dict.fromkeys(table["setting"])}


class _SkeletonKeys:
    """Query keys of a ``SettingRanks``, as ranx's Qrels and Run report them."""

    _ranks: SettingRanks

    def keys(self) -> list[str]:
        return self._ranks.keys

    def get_query_ids(self) -> list[str]:
        return self._ranks.keys

    def __len__(self) -> int:
        return len(self._ranks.keys)


class SkeletonQrels(_SkeletonKeys, Qrels):
    """ranx Qrels over the relevant docs of a ``SettingRanks`` (doc ids as codes)."""

    def __init__(self, ranks: SettingRanks) -> None:
        super().__init__(name=ranks.setting)
        self._ranks = ranks

    def to_typed_list(self):
        return self._ranks.lists(with_run=False)[0]


class SkeletonRun(_SkeletonKeys, Run):
    """ranx Run whose metric values are those of the full rankings (see module docstring)."""

    def __init__(self, ranks: SettingRanks, name: str) -> None:
        super().__init__(name=name)
        self._ranks = ranks

    def to_typed_list(self):
        return self._ranks.lists()[1]


def per_query(ranks: SettingRanks, metrics: list[str]) -> dict[str, np.ndarray]:
    """{metric: values in ``ranks.keys`` order} through ranx.evaluate."""
    # save_results_in_run=True: without it ranx 0.3 returns one metric with a cutoff (ndcg@10) under
    # the wrong key; the run is a throwaway
    values = evaluate(SkeletonQrels(ranks), SkeletonRun(ranks, "run"), metrics, return_mean=False,
                      save_results_in_run=True)
    if len(metrics) == 1:
        values = {metrics[0]: values}
    return {m: np.asarray(values[m], dtype=np.float64) for m in metrics}


def view_macro(ranks: SettingRanks, values: np.ndarray, select: np.ndarray | None = None) -> float:
    """Mean over views (query language, corpus) of the mean over the view's selected queries,
    as the record aggregates a setting; NaN when no query is selected."""
    frame = pd.DataFrame({"q": ranks.query_langs, "c": ranks.corpora, "v": values})
    if select is not None:
        frame = frame[select]
    if frame.empty:
        return float("nan")
    return float(frame.groupby(["q", "c"], sort=True)["v"].mean().mean())


def rank_distances(ranks: SettingRanks) -> np.ndarray:
    """Per query, rank distance as the record computes it (``metrics.rank_distance``): highest
    minus lowest rank of its relevant docs; NaN for a query with fewer than two."""
    out = np.full(len(ranks.keys), np.nan)
    for i in range(len(ranks.keys)):
        rel = ranks.ranks[ranks.offsets[i]:ranks.offsets[i + 1]]
        if len(rel) >= 2:
            r = distance_ranks(rel, int(ranks.n_ranked[i]), int(ranks.n_docs[i]))
            out[i] = r.max() - r.min()
    return out
