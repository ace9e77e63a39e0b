"""Shard encoding spread over Ray workers (optional extra: ``pip install 'mlirbench[ray]'``).

Why Ray: scheduling, fault reporting and multi-machine placement are Ray's job, not ours. Each
worker is an actor that builds the model once (one GPU each where the cluster has GPUs) and
encodes whole shards with the same ``shards.write_shard`` as the single-process path, so the
files, markers and resume rules are identical. The driver streams the corpus and keeps at most
``2 x workers`` shards in flight, so driver memory stays bounded by shard size. Workers write
the shard files themselves: on a multi-machine cluster the shard folder must be on a file
model every node sees (set ``MLIRBENCH_CACHE`` to it).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from mlirbench.errors import MissingDependencyError, MlirbenchError
from mlirbench.retrieval.protocols import Encoder
from mlirbench.retrieval.shards import Job, ShardInfo, write_shard


def import_ray():
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("distributed encoding needs Ray: pip install 'mlirbench[ray]'") from None
    return ray


class _Worker:
    """Ray actor body: one model, many shards."""

    def __init__(self, factory: Callable[[], Encoder]) -> None:
        self.encoder = factory()

    def encode(self, root: str, job: Job, lang: str, dtype: str, encode_batch: int) -> ShardInfo:
        return write_shard(Path(root), job, self.encoder, lang, dtype, encode_batch)


class RayShardPool:
    """``workers`` actors on the Ray cluster at ``address`` (None: start a local one); each builds its
    encoder with ``factory`` (picklable, e.g. ``functools.partial(build_model, spec)``)."""

    def __init__(self, factory: Callable[[], Encoder], workers: int, *, address: str | None = None,
                 gpus_per_worker: float | None = None, cpus_per_worker: float = 1) -> None:
        if workers < 1:
            raise MlirbenchError(f"ray workers must be >= 1, got {workers}")
        ray = import_ray()
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=None if address else max(workers, 1) * cpus_per_worker,
                     include_dashboard=False, log_to_driver=False)
        if gpus_per_worker is None:
            gpus_per_worker = 1.0 if ray.cluster_resources().get("GPU", 0) >= workers else 0.0
        actor = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker)(_Worker)
        self.ray = ray
        self.workers = [actor.remote(factory) for _ in range(workers)]
        self.n_workers = workers
        self.address = address
        self.gpus_per_worker = gpus_per_worker

    def run(self, root: Path, jobs: Iterator[Job], lang: str, dtype: str, encode_batch: int,
            done: Callable[[ShardInfo], None]) -> None:
        """Feed idle workers until ``jobs`` runs out; a failed shard raises here (its files are
        not published, so a rerun encodes it again)."""
        ray = self.ray
        in_flight: dict = {}  # object ref -> worker
        idle = list(self.workers) * 2  # two queued shards per worker keep it busy
        for job in jobs:
            if not idle:
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                idle.append(in_flight.pop(ready[0]))
                done(ray.get(ready[0]))
            worker = idle.pop(0)
            in_flight[worker.encode.remote(str(root), job, lang, dtype, encode_batch)] = worker
        for ref in list(in_flight):
            done(ray.get(ref))

    def metadata(self) -> dict:
        return {"engine": "ray", "ray": self.ray.__version__, "workers": self.n_workers,
                "gpus_per_worker": self.gpus_per_worker, "address": self.address}  # None: a local cluster

    def shutdown(self) -> None:
        for worker in self.workers:
            self.ray.kill(worker)
        self.workers = []
