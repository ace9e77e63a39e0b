"""X-X-mono, X-Y and hybrid(alpha) batches over parallel rows (arXiv 2408.10536, section 2.2).

A *row* is one (group, language) of the training file. A *pair* is a query row with its positive:

- in an X-X-mono batch the positive is the query row's own passage (same language);
- in an X-Y batch the positive is the passage of another row of the same group, its language
  drawn uniformly among the group's other languages, so query language != passage language.

An epoch shows every query row exactly once (the positive side of X-Y pairs is random, so over
epochs every ordered language pair of a group comes up). One planner covers the three batchings:

- ``alpha == 1`` (X-X-mono): each language's rows are shuffled and cut into batches (the last
  one of a language may be short); the batch order is shuffled, so a batch's language is uniform
  over languages when the data is parallel (equal rows per language).
- ``alpha < 1``: N = ceil(rows / B) batches. The number of mono batches is Binomial(N, alpha) and
  their places are a random subset, i.e. each batch is mono with probability alpha, independently
  (hybrid; alpha = 0 is X-Y). A mono batch takes B rows of one language drawn uniformly among the
  languages that still have B unused rows, preferring groups with the most unused rows (this
  keeps groups even for the X-Y part). The remaining rows are laid out group by group and dealt
  round-robin into the K = N - mono X-Y batches, so a group's rows land in different batches
  (sizes differ by at most one, never above B). Rows of single-language groups cannot be X-Y
  queries and are left out; a row that would be a group's (K+1)-th in the X-Y part (only possible
  when alpha is close to 1 and data is small) waits for the next epoch.

No batch holds two rows of one group: such a pair would be an in-batch "negative" that is in fact
a translation of the positive. The plan depends only on (seed, epoch), so resuming replays it.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np

Pair = tuple[int, int]  # (query row, positive row)


def plan_epoch(groups: Sequence[str], langs: Sequence[str], batch_size: int, alpha: float,
               rng: np.random.Generator) -> list[list[Pair]]:
    """The batches of one epoch as lists of (query row, positive row)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if alpha == 1:
        return _mono_epoch(langs, batch_size, rng)
    rows_of: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        rows_of[g].append(i)
    eligible = [i for i in range(len(groups)) if len(rows_of[groups[i]]) > 1]
    n_batches = math.ceil(len(eligible) / batch_size)
    n_mono = int(rng.binomial(n_batches, alpha)) if alpha > 0 else 0
    unused_in_group = {g: len(rows) for g, rows in rows_of.items() if len(rows) > 1}
    free_by_lang: dict[str, set[int]] = defaultdict(set)
    for i in eligible:
        free_by_lang[langs[i]].add(i)
    mono: list[list[Pair]] = []
    for _ in range(n_mono):
        ready = sorted(lang for lang, free in free_by_lang.items() if len(free) >= batch_size)
        if not ready:
            break
        lang = ready[rng.integers(len(ready))]
        free = sorted(free_by_lang[lang])
        keys = rng.random(len(free))
        order = sorted(range(len(free)), key=lambda k: (-unused_in_group[groups[free[k]]], keys[k]))
        chosen = [free[k] for k in order[:batch_size]]
        for i in chosen:
            free_by_lang[lang].discard(i)
            unused_in_group[groups[i]] -= 1
        mono.append([(i, i) for i in chosen])
    n_xy = n_batches - len(mono)
    xy: list[list[Pair]] = [[] for _ in range(n_xy)]
    rest = sorted(i for free in free_by_lang.values() for i in free)
    if rest:
        by_group: dict[str, list[int]] = defaultdict(list)
        for i in rest:
            by_group[groups[i]].append(i)
        laid_out: list[int] = []
        for g in (sorted(by_group)[k] for k in rng.permutation(len(by_group))):
            rows = [by_group[g][k] for k in rng.permutation(len(by_group[g]))]
            laid_out.extend(rows[:n_xy])  # at most one row of a group per X-Y batch
        for k, i in enumerate(laid_out):
            others = [j for j in rows_of[groups[i]] if j != i]
            xy[k % n_xy].append((i, others[rng.integers(len(others))]))
    batches = mono + [b for b in xy if b]
    for b in batches:
        rng.shuffle(b)
    return [batches[k] for k in rng.permutation(len(batches))]


def _mono_epoch(langs: Sequence[str], batch_size: int, rng: np.random.Generator) -> list[list[Pair]]:
    by_lang: dict[str, list[int]] = defaultdict(list)
    for i, lang in enumerate(langs):
        by_lang[lang].append(i)
    batches = []
    for lang in sorted(by_lang):
        rows = [by_lang[lang][k] for k in rng.permutation(len(by_lang[lang]))]
        batches.extend([(i, i) for i in rows[s:s + batch_size]] for s in range(0, len(rows), batch_size))
    return [batches[k] for k in rng.permutation(len(batches))]


def epoch_length(groups: Sequence[str], langs: Sequence[str], batch_size: int, alpha: float) -> int:
    """Batches per epoch: the same for every epoch (the trainer sizes its schedule from it)."""
    if alpha == 1:
        counts: dict[str, int] = defaultdict(int)
        for lang in langs:
            counts[lang] += 1
        return sum(math.ceil(c / batch_size) for c in counts.values())
    sizes: dict[str, int] = defaultdict(int)
    for g in groups:
        sizes[g] += 1
    return math.ceil(sum(1 for g in groups if sizes[g] > 1) / batch_size)


def make_batch_sampler(base: type):
    """The sentence-transformers batch sampler class (built lazily: the stack is an optional dependency).

    It yields ``[query rows..., positive rows...]`` (2 x pairs indices into the dataset); the
    collator in ``trainer.py`` splits the list in halves and pairs them up.
    """

    class ParallelBatchSampler(base):
        def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None,
                     generator=None, seed: int = 0, *, alpha: float) -> None:
            super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                             valid_label_columns=valid_label_columns, generator=generator, seed=seed)
            self.groups = list(dataset["group"])
            self.langs = list(dataset["lang"])
            self.alpha = alpha
            self._length = epoch_length(self.groups, self.langs, batch_size, alpha)

        def __iter__(self) -> Iterator[list[int]]:
            rng = np.random.default_rng([self.seed or 0, self.epoch])
            for batch in plan_epoch(self.groups, self.langs, self.batch_size, self.alpha, rng):
                yield [q for q, _ in batch] + [p for _, p in batch]

        def __len__(self) -> int:
            return self._length

    return ParallelBatchSampler
