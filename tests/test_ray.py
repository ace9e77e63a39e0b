"""Shard encoding on a local Ray cluster (2 CPU workers) equals the single-process path, byte for
byte, and so do the search results and a whole MIRACL-fixture evaluation."""
from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'mlirbench[ray]'")
pytest.importorskip("faiss")

from miracl_fixture import write_miracl  # noqa: E402

from mlirbench._io.cache import refreshed  # noqa: E402
from mlirbench._io.hashing import sha256_file  # noqa: E402
from mlirbench.adapters.random_encoder import RandomEncoder  # noqa: E402
from mlirbench.data.corpus import SyntheticCorpus  # noqa: E402
from mlirbench.evaluation.topk import ScaleOptions, evaluate_topk  # noqa: E402
from mlirbench.registry import ModelSpec, build_model  # noqa: E402
from mlirbench.retrieval.faiss_search import search_shards  # noqa: E402
from mlirbench.retrieval.ray_pool import RayShardPool  # noqa: E402
from mlirbench.retrieval.shards import encode_corpus  # noqa: E402
from mlirbench.tasks.miracl import MIRACL, miracl  # noqa: E402

pytestmark = pytest.mark.slow
SPEC = ModelSpec("random", {"dim": 16})
FACTORY = partial(build_model, SPEC, progress=False)
# Ray's core worker installs its own SIGSEGV handler, which turns the JVM's (pyserini's) internal,
# handled SIGSEGVs into crashes of the whole process. So the Ray tests run in a child pytest.
IN_CHILD = os.environ.get("MLIRBENCH_RAY_CHILD") == "1"
in_child = pytest.mark.skipif(not IN_CHILD, reason="runs in a child process (test_ray_in_a_child_process)")


@pytest.mark.skipif(IN_CHILD, reason="this is the child")
def test_ray_in_a_child_process() -> None:
    env = dict(os.environ, MLIRBENCH_RAY_CHILD="1")
    child = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
                           env=env, capture_output=True, text=True, timeout=900)
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-2000:]
    assert "2 passed" in child.stdout


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@in_child
def test_ray_shards_equal_single_process(cluster, tmp_path: Path) -> None:
    corpus = SyntheticCorpus(("en",), size=1000, words=16)
    pool = RayShardPool(FACTORY, 2)
    try:
        dist, stats = encode_corpus(RandomEncoder(dim=16), corpus, "en", shard_size=90, encode_batch=32,
                                    root=tmp_path / "ray", pool=pool, progress=False)
    finally:
        pool.shutdown()
    single, _ = encode_corpus(RandomEncoder(dim=16), corpus, "en", shard_size=90, encode_batch=32,
                              root=tmp_path / "one", progress=False)
    assert stats["shards_encoded"] == 12 and dist.n_docs == single.n_docs == 1000
    for i in range(12):
        assert sha256_file(tmp_path / "ray" / f"shard-{i:05d}.npy") == sha256_file(tmp_path / "one" / f"shard-{i:05d}.npy")
        assert dist.ids(i) == single.ids(i)
    queries = RandomEncoder(dim=16).encode([f"q{i}" for i in range(7)], role="query", lang="en")
    got, want = search_shards(dist, queries, 50, progress=False), search_shards(single, queries, 50, progress=False)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@in_child
def test_ray_evaluation_equals_single_process(cluster, tmp_path: Path) -> None:
    data = miracl().load(write_miracl(tmp_path / "m"))
    enc = RandomEncoder(dim=16)
    with refreshed():
        runs = {workers: evaluate_topk(enc, data, MIRACL, factory=FACTORY,
                                       options=ScaleOptions(shard_size=8, ray_workers=workers), progress=False)
                for workers in (0, 2)}
    assert runs[2].evaluation.views == runs[0].evaluation.views
    assert runs[2].retrieval["distributed"]["workers"] == 2 and runs[0].retrieval["distributed"] is None
