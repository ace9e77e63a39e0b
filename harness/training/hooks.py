"""Our three hooks into sentence-transformers' trainer: batches, collation, step timing.

Imported only when training runs (the stack is an optional dependency, see ``trainer.py``).
"""
from __future__ import annotations

import time
from typing import Any

from sentence_transformers import SentenceTransformerTrainer
from sentence_transformers.base.sampler import DefaultBatchSampler
from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator
from transformers import TrainerCallback

from mlirbench.training.samplers import make_batch_sampler

ParallelBatchSampler = make_batch_sampler(DefaultBatchSampler)


class PairCollator(SentenceTransformerDataCollator):
    """[query rows..., positive rows...] (the sampler's index list) -> anchor / positive / negative_k columns."""

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        half = len(features) // 2
        pairs = []
        for q, p in zip(features[:half], features[half:]):
            pair = {"anchor": q["query"], "positive": p["positive"]}
            pair.update({f"negative_{k + 1}": n for k, n in enumerate(p.get("negatives") or [])})
            pairs.append(pair)
        return super().__call__(pairs)


class StepClock(TrainerCallback):
    """Wall and CPU time inside optimisation steps only: throughput without evaluations and checkpoints.

    CPU time is this process's (all its threads): on a shared machine it tracks the work done
    where wall time tracks the other jobs' load.
    """

    def __init__(self) -> None:
        self.seconds, self.cpu_seconds, self.steps = 0.0, 0.0, 0
        self._start = self._cpu_start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start, self._cpu_start = time.perf_counter(), time.process_time()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds += time.perf_counter() - self._start
        self.cpu_seconds += time.process_time() - self._cpu_start
        self.steps += 1


class ParallelTrainer(SentenceTransformerTrainer):
    """The stock trainer with X-X-mono / X-Y / hybrid(alpha) batches (train and validation alike)."""

    def __init__(self, *args, alpha: float, **kwargs) -> None:
        self.alpha = alpha
        super().__init__(*args, **kwargs)

    def get_batch_sampler(self, dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
        return ParallelBatchSampler(dataset, batch_size, drop_last, valid_label_columns, generator, seed,
                                    alpha=self.alpha)
