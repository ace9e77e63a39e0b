"""Paired randomisation tests and bootstrap intervals that resample question *groups*.

XQuAD-R's 13,090 questions are 1,190 questions in 11 translations (MLQA-R: 2-4); the scores of
one group are strongly correlated, so a test or interval that treats its queries as independent
overstates the evidence. Here the unit that is permuted or resampled is the group (the id
parallel translations share, ``SettingRanks.groups``): all its queries move together, in every
view of the setting -- for cross, the question's queries in every ordered pair, since X->Y,
Y->X and X->Z of one question are as correlated as its translations are in mono.

The statistic is the setting's aggregate as the record computes it: the mean over views
(query language, corpus) of the view's mean over its queries (NaN values, e.g. rank distance of
a query with one relevant doc, left out). Both procedures work on per-(unit, view) sums:

* ``paired_test``: the difference of two systems' aggregates is linear in the per-query
  differences, with view sizes fixed under relabelling, so each unit contributes one number;
  scipy's paired permutation test swaps the two systems' labels per unit (sign flips), two-sided,
  with its conservative +1 correction; exact where the units allow few enough relabellings.
* ``bootstrap_interval``: percentile interval of the aggregate over units drawn with replacement
  (scipy.stats.bootstrap), the aggregate of a resample recomputed from the sums of its units.

Both are seeded (``SEED``) and reproducible. With ``unit="query"`` every query is its own unit,
which is the independent-queries assumption the group unit corrects.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.stats import bootstrap, permutation_test

from mlirbench.errors import MlirbenchError
from mlirbench.records.saved_ranks import SettingRanks

UNITS = ("group", "query")
N_PERMUTATIONS = 10_000
N_BOOTSTRAP = 1_000
LEVEL = 0.95
SEED = 0


@dataclass(frozen=True)
class Design:
    """Per query: the index of its view and of its resampling unit."""

    views: np.ndarray
    units: np.ndarray
    n_views: int
    n_units: int


def make_design(query_langs: list[str], corpora: list[str], groups: list[str], unit: str = "group") -> Design:
    if unit not in UNITS:
        raise MlirbenchError(f"resampling unit {unit!r} is none of {', '.join(UNITS)}")
    views, view_names = pd.factorize(pd.Series(query_langs) + "\0" + pd.Series(corpora), sort=True)
    units = (pd.factorize(pd.Series(groups), sort=True)[0] if unit == "group"
             else np.arange(len(groups)))
    return Design(views.astype(np.int64), np.asarray(units, dtype=np.int64), len(view_names),
                  int(units.max()) + 1 if len(units) else 0)


def design_of(ranks: SettingRanks, unit: str = "group") -> Design:
    return make_design(ranks.query_langs, ranks.corpora, ranks.groups, unit)


def unit_sums(design: Design, values: np.ndarray) -> tuple[csr_matrix, csr_matrix]:
    """(sums, counts), each sparse (units x views), over the queries whose value is not NaN."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape != design.units.shape:
        raise ValueError(f"{values.shape[0]} values for {design.units.shape[0]} queries")
    ok = ~np.isnan(values)
    cells, shape = (design.units[ok], design.views[ok]), (design.n_units, design.n_views)
    return csr_matrix((values[ok], cells), shape=shape), csr_matrix((np.ones(int(ok.sum())), cells), shape=shape)


def macro(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean over views (last axis) of sum / count, views without a query left out."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample without any query: NaN
        return np.nanmean(sums / counts, axis=-1)


def aggregate(design: Design, values: np.ndarray) -> float:
    sums, counts = unit_sums(design, values)
    return float(macro(np.asarray(sums.sum(axis=0)).ravel(), np.asarray(counts.sum(axis=0)).ravel()))


def paired_test(design: Design, a: np.ndarray, b: np.ndarray, n_resamples: int = N_PERMUTATIONS,
                seed: int = SEED) -> float:
    """Two-sided p-value of aggregate(a) - aggregate(b) under relabelling the systems per unit."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = ~np.isnan(a)
    if not np.array_equal(ok, ~np.isnan(b)):
        raise ValueError("paired values must be defined for the same queries")
    per_view = np.bincount(design.views[ok], minlength=design.n_views).astype(np.float64)
    present = per_view > 0
    if not present.any():
        return 1.0
    # query q adds value / (queries in its view) / (views) to the aggregate; a unit, the sum of its queries'
    share = np.zeros_like(per_view)
    share[present] = 1.0 / (per_view[present] * present.sum())
    weight = share[design.views[ok]]
    units = design.units[ok]
    contribution = [np.bincount(units, weights=v[ok] * weight, minlength=design.n_units) for v in (a, b)]
    result = permutation_test(contribution, _sum_difference, permutation_type="samples", vectorized=True,
                              n_resamples=n_resamples, batch=_batch(design.n_units), rng=seed)
    return float(min(1.0, result.pvalue))


def _batch(n_units: int) -> int:
    """Resamples per vectorised call: bounds memory at about 2**21 floats."""
    return max(1, 2**21 // max(n_units, 1))


def _sum_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(x - y, axis=axis)


def bootstrap_interval(design: Design, values: np.ndarray, n_resamples: int = N_BOOTSTRAP,
                       seed: int = SEED, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of the aggregate, units drawn with replacement."""
    sums, counts = unit_sums(design, values)
    n = design.n_units
    if n == 0:
        return float("nan"), float("nan")

    def statistic(drawn: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = np.atleast_2d(drawn)  # (resamples, units): indices of the drawn units
        flat = (rows + n * np.arange(rows.shape[0])[:, None]).ravel()
        times = np.bincount(flat, minlength=rows.shape[0] * n).reshape(rows.shape[0], n).astype(np.float64)
        value = macro(times @ sums, times @ counts)  # ndarray @ sparse: dense (resamples x views)
        return value if drawn.ndim > 1 else value[0]

    result = bootstrap((np.arange(n),), statistic, n_resamples=n_resamples, batch=_batch(n), vectorized=True,
                       method="percentile", confidence_level=level, rng=seed)
    interval = result.confidence_interval
    return float(interval.low), float(interval.high)
