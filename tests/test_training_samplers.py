"""Properties of the X-X-mono, X-Y and hybrid batch planner, checked over many generated datasets."""
from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mlirbench.training.samplers import epoch_length, plan_epoch

LANGS = ["ar", "de", "en", "es", "hi", "ru", "th", "zh"]


@st.composite
def datasets(draw, parallel: bool = False):
    """(groups, langs) of rows; non-parallel data drops some (group, lang) rows (MLQA-like)."""
    n_langs = draw(st.integers(2, 6))
    n_groups = draw(st.integers(2, 40))
    groups, langs = [], []
    for g in range(n_groups):
        present = LANGS[:n_langs] if parallel else [
            lang for lang in LANGS[:n_langs] if draw(st.booleans()) or lang == LANGS[0]]
        for lang in present:
            groups.append(f"g{g}")
            langs.append(lang)
    order = draw(st.permutations(range(len(groups))))
    return [groups[i] for i in order], [langs[i] for i in order]


def check_batches(batches, groups, langs, batch_size):
    """Invariants of every batching: pair kinds, one language per mono batch, no duplicate groups."""
    kinds = []
    for batch in batches:
        assert 0 < len(batch) <= batch_size
        batch_groups = [groups[q] for q, _ in batch]
        assert len(set(batch_groups)) == len(batch_groups), "two pairs of one group in a batch"
        mono = [q == p for q, p in batch]
        assert all(mono) or not any(mono), "a batch mixes mono and X-Y pairs"
        if all(mono):
            assert len({langs[q] for q, _ in batch}) == 1, "mono batch with several languages"
        for q, p in batch:
            assert groups[q] == groups[p], "positive from another group"
            if q != p:
                assert langs[q] != langs[p], "X-Y pair with query language == passage language"
        kinds.append("mono" if all(mono) else "xy")
    return kinds


@settings(max_examples=150, deadline=None)
@given(data=datasets(), batch_size=st.integers(2, 12), alpha=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_invariants_and_each_query_at_most_once(data, batch_size, alpha, seed) -> None:
    groups, langs = data
    batches = plan_epoch(groups, langs, batch_size, alpha, np.random.default_rng(seed))
    kinds = check_batches(batches, groups, langs, batch_size)
    queries = Counter(q for batch in batches for q, _ in batch)
    assert max(queries.values(), default=1) == 1, "a query row twice in one epoch"
    if alpha == 0:
        assert set(kinds) <= {"xy"}


@settings(max_examples=100, deadline=None)
@given(data=datasets(), batch_size=st.integers(2, 12), seed=st.integers(0, 2**32 - 1))
def test_mono_epoch_covers_every_row_once(data, batch_size, seed) -> None:
    groups, langs = data
    batches = plan_epoch(groups, langs, batch_size, 1.0, np.random.default_rng(seed))
    assert set(check_batches(batches, groups, langs, batch_size)) == {"mono"}
    assert sorted(q for batch in batches for q, _ in batch) == list(range(len(groups)))
    assert len(batches) == epoch_length(groups, langs, batch_size, 1.0)


@settings(max_examples=100, deadline=None)
@given(data=datasets(), batch_size=st.integers(2, 12), seed=st.integers(0, 2**32 - 1))
def test_xy_epoch_covers_every_multilingual_row_once(data, batch_size, seed) -> None:
    """A pair of X-Y is a query row; its positive is another language of its group."""
    groups, langs = data
    sizes = Counter(groups)
    eligible = [i for i, g in enumerate(groups) if sizes[g] > 1]
    n_batches = epoch_length(groups, langs, batch_size, 0.0)
    assume(eligible and max(sizes.values()) <= n_batches)  # else a group cannot spread over the batches
    batches = plan_epoch(groups, langs, batch_size, 0.0, np.random.default_rng(seed))
    assert set(check_batches(batches, groups, langs, batch_size)) == {"xy"}
    assert sorted(q for batch in batches for q, _ in batch) == eligible
    assert len(batches) == n_batches
    assert max(map(len, batches)) - min(map(len, batches)) <= 1


@settings(max_examples=25, deadline=None)
@given(blocks=st.integers(2, 5), n_langs=st.integers(2, 6), batch_size=st.sampled_from([4, 8]),
       alpha=st.floats(0.05, 0.95), seed=st.integers(0, 2**32 - 1))
def test_hybrid_share_of_mono_batches_is_alpha(blocks, n_langs, batch_size, alpha, seed) -> None:
    """Each batch is mono with probability alpha: over many epochs the share lies within 5 sigma.

    Groups fill whole batches per language here: with a ragged tail a language may run out of
    full mono batches late in an epoch (then the batch is X-Y), a bias of a few batches per epoch.
    """
    n_groups = blocks * batch_size
    groups = [f"g{g}" for g in range(n_groups) for _ in range(n_langs)]
    langs = [lang for _ in range(n_groups) for lang in LANGS[:n_langs]]
    rng = np.random.default_rng(seed)
    kinds, mono_langs, covered = [], Counter(), 0
    for _ in range(60):
        batches = plan_epoch(groups, langs, batch_size, alpha, rng)
        epoch_kinds = check_batches(batches, groups, langs, batch_size)
        kinds += epoch_kinds
        mono_langs.update(langs[b[0][0]] for b, k in zip(batches, epoch_kinds) if k == "mono")
        covered += sum(len(b) for b in batches)
    n = len(kinds)
    share = kinds.count("mono") / n
    assert abs(share - alpha) <= 5 * np.sqrt(alpha * (1 - alpha) / n) + 2 / n
    assert covered >= 0.99 * 60 * len(groups)  # nearly every query every epoch (exactly, unless alpha ~ 1)
    if mono_langs and sum(mono_langs.values()) >= 50 * n_langs:  # the language of a mono batch: uniform
        expected = sum(mono_langs.values()) / n_langs
        assert all(abs(c - expected) <= 5 * np.sqrt(expected) + 2 for c in mono_langs.values())


def test_plan_depends_only_on_seed_and_epoch() -> None:
    groups = [f"g{g}" for g in range(20) for _ in range(3)]
    langs = ["de", "en", "zh"] * 20
    first = plan_epoch(groups, langs, 4, 0.5, np.random.default_rng([7, 1]))
    assert first == plan_epoch(groups, langs, 4, 0.5, np.random.default_rng([7, 1]))
    assert first != plan_epoch(groups, langs, 4, 0.5, np.random.default_rng([7, 2]))
