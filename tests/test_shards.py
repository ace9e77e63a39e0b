"""Sharded encoding (shards.py) and FAISS search (faiss_search.py) on synthetic corpora:
exactness against brute force, resume after damage, corpus changes and a SIGKILL mid-encoding."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faiss")

from mlirbench._io.cache import refreshed  # noqa: E402
from mlirbench._io.hashing import sha256_file  # noqa: E402
from mlirbench.adapters.random_encoder import RandomEncoder  # noqa: E402
from mlirbench.data.corpus import SyntheticCorpus  # noqa: E402
from mlirbench.errors import MlirbenchError  # noqa: E402
from mlirbench.retrieval.faiss_search import SearchConfig, merge_topk, search_shards  # noqa: E402
from mlirbench.retrieval.shards import encode_corpus  # noqa: E402

TESTS = Path(__file__).resolve().parent
CORPUS = SyntheticCorpus(("en",), size=203, words=12)


class SlowEncoder(RandomEncoder):
    """Random embeddings, ``delay`` seconds per call: a window to kill a run mid-encoding."""

    name = "slow"

    def __init__(self, delay: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.delay = delay
        self.calls = 0

    def encode(self, texts, *, role, lang):
        self.calls += 1
        time.sleep(self.delay)
        return super().encode(texts, role=role, lang=lang)


def all_texts(corpus: SyntheticCorpus, lang: str = "en") -> tuple[list[str], list[str]]:
    ids, texts = [], []
    for i, t in corpus.batches(lang, 1000):
        ids += i
        texts += t
    return ids, texts


def brute_force(docs: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ docs.T
    order = np.lexsort((np.broadcast_to(np.arange(len(docs)), scores.shape), -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


def test_shards_hold_the_encoder_output(tmp_path: Path) -> None:
    enc = RandomEncoder(dim=16)
    shards, stats = encode_corpus(enc, CORPUS, "en", shard_size=50, encode_batch=16, root=tmp_path, progress=False)
    assert stats["shards"] == 5 and stats["shards_encoded"] == 5 and shards.n_docs == 203
    ids, texts = all_texts(CORPUS)
    got = np.concatenate([shards.embeddings(i) for i in range(5)])
    np.testing.assert_array_equal(got, enc.encode(texts, role="passage", lang="en"))
    rows = np.array([[0, 49, 50, 202], [-1, 151, 3, -1]])
    assert shards.doc_ids(rows).tolist() == [[ids[0], ids[49], ids[50], ids[202]], ["", ids[151], ids[3], ""]]
    half, _ = encode_corpus(enc, CORPUS, "en", shard_size=50, dtype="float16", root=tmp_path / "h", progress=False)
    assert half.embeddings(0).dtype == np.float16
    np.testing.assert_allclose(half.embeddings(0), got[:50], atol=1e-3)


@pytest.mark.parametrize("shard_size", [1000, 50, 7])
def test_flat_search_is_exact_and_independent_of_sharding(tmp_path: Path, shard_size: int) -> None:
    enc = RandomEncoder(dim=16)
    shards, _ = encode_corpus(enc, CORPUS, "en", shard_size=shard_size, root=tmp_path, progress=False)
    _, texts = all_texts(CORPUS)
    docs = enc.encode(texts, role="passage", lang="en")
    queries = enc.encode([f"query {i}" for i in range(9)] + [texts[5]], role="query", lang="en")
    scores, rows, _ = search_shards(shards, queries, 20, progress=False)
    want_s, want_r = brute_force(docs, queries, 20)
    np.testing.assert_array_equal(rows, want_r)
    np.testing.assert_allclose(scores, want_s, rtol=1e-5, atol=1e-6)
    assert rows[-1, 0] == 5  # a query equal to doc 5's text finds it first
    _, deep, _ = search_shards(shards, queries[:1], 300, progress=False)  # k > corpus: padded with -1
    assert (deep[0, :203] >= 0).all() and (deep[0, 203:] == -1).all()


def test_merge_breaks_ties_by_row() -> None:
    scores = np.array([[1.0, 2.0, 2.0, -np.inf]], dtype=np.float32)
    rows = np.array([[4, 9, 3, -1]])
    s, r = merge_topk(scores, rows, 3)
    assert r.tolist() == [[3, 9, 4]] and s.tolist() == [[2.0, 2.0, 1.0]]


@pytest.mark.parametrize("spec, params", [("ivf:nlist=4,nprobe=4", {"nlist": 4, "nprobe": 4}),
                                          ("hnsw:m=16,ef_search=64", {"m": 16, "ef_search": 64})])
def test_approximate_indexes_record_parameters_and_are_reused(tmp_path: Path, spec: str, params: dict) -> None:
    enc = RandomEncoder(dim=16)
    corpus = SyntheticCorpus(("en",), size=400, words=12)
    shards, _ = encode_corpus(enc, corpus, "en", shard_size=200, root=tmp_path, progress=False)
    config = SearchConfig.parse(spec)
    queries = enc.encode([f"q{i}" for i in range(20)], role="query", lang="en")
    _, exact, _ = search_shards(shards, queries, 10, progress=False)
    _, approx, _ = search_shards(shards, queries, 10, config, progress=False)
    overlap = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert overlap >= 0.9  # nprobe = nlist makes IVF exact; HNSW at this size nearly so
    assert len(list(tmp_path.glob("shard-*.faiss"))) == 2
    _, again, _ = search_shards(shards, queries, 10, config, progress=False)  # read back from disk
    np.testing.assert_array_equal(again, approx)
    meta = config.metadata()
    assert meta["kind"] == spec.split(":")[0] and not meta["exact"] and params.items() <= meta.items()
    assert SearchConfig().metadata()["exact"] is True


@pytest.mark.parametrize("spec, problem", [
    ("lsh", "kind must be one of flat, ivf, hnsw, got 'lsh'"),
    ("ivf:nlists=3", "faiss option 'nlists=3': expected key=value with key among nlist, nprobe, query_batch for ivf"),
    ("hnsw:nprobe=3", "faiss option 'nprobe=3': expected key=value with key among m, ef_construction, ef_search"),
    ("ivf:nlist=many", "faiss option 'nlist=many': 'many' is not an integer"),
    ("hnsw:ef_search=0", "faiss ef_search must be >= 1, got 0"),
    ("flat:device=cpu", "faiss option 'device=cpu'"),  # the device is not part of the index spec
])
def test_bad_search_options_are_one_line(spec: str, problem: str) -> None:
    with pytest.raises(MlirbenchError) as info:
        SearchConfig.parse(spec)
    assert problem in str(info.value) and "\n" not in str(info.value)


def test_damaged_shard_is_encoded_again(tmp_path: Path) -> None:
    enc = SlowEncoder(dim=8)
    first, _ = encode_corpus(enc, CORPUS, "en", shard_size=50, encode_batch=50, root=tmp_path, progress=False)
    reference = [sha256_file(tmp_path / f"shard-{i:05d}.npy") for i in range(5)]
    with open(tmp_path / "shard-00002.npy", "r+b") as fh:  # flip bytes inside the data
        fh.seek(-8, os.SEEK_END)
        fh.write(b"\xff" * 8)
    (tmp_path / "shard-00004.json").unlink()  # a shard killed after its .npy, before its marker
    enc.calls = 0
    _, stats = encode_corpus(enc, CORPUS, "en", shard_size=50, encode_batch=50, root=tmp_path, progress=False)
    assert stats["shards_reused"] == 3 and stats["shards_encoded"] == 2 and enc.calls == 2
    assert [sha256_file(tmp_path / f"shard-{i:05d}.npy") for i in range(5)] == reference



def test_refreshed_encodes_every_shard_again(tmp_path: Path) -> None:
    """--no-cache (``refreshed``): finished shards are not reused, the rebuilt ones are identical."""
    enc = SlowEncoder(dim=8)
    encode_corpus(enc, CORPUS, "en", shard_size=50, encode_batch=50, root=tmp_path, progress=False)
    reference = [sha256_file(tmp_path / f"shard-{i:05d}.npy") for i in range(5)]
    enc.calls = 0
    with refreshed():
        _, stats = encode_corpus(enc, CORPUS, "en", shard_size=50, encode_batch=50, root=tmp_path, progress=False)
    assert stats["shards_reused"] == 0 and stats["shards_encoded"] == 5 and enc.calls == 5
    assert [sha256_file(tmp_path / f"shard-{i:05d}.npy") for i in range(5)] == reference

def test_changed_corpus_is_not_reused(tmp_path: Path) -> None:
    """Other doc ids in a shard's place: encoded again. Same ids with other texts cannot be told
    apart by the ids check, which is why the default shard folder hashes the corpus fingerprint."""
    from mlirbench.retrieval.shards import shard_root
    enc = RandomEncoder(dim=8)
    encode_corpus(enc, CORPUS, "en", shard_size=50, root=tmp_path, progress=False)
    other = SyntheticCorpus(("de",), size=203, words=12)
    _, stats = encode_corpus(enc, _AsLang(other, "de"), "en", shard_size=50, root=tmp_path, progress=False)
    assert stats["shards_reused"] == 0 and stats["shards_encoded"] == 5
    reseeded = SyntheticCorpus(("en",), size=203, words=12, seed=1)
    assert shard_root(enc, CORPUS, "en", 50, "float32") != \
        shard_root(enc, reseeded, "en", 50, "float32")


class _AsLang:
    """A corpus read under another language code (its doc ids differ from the ``en`` corpus)."""

    def __init__(self, corpus: SyntheticCorpus, lang: str) -> None:
        self.corpus, self.lang = corpus, lang

    def count(self, lang: str) -> int:
        return self.corpus.count(self.lang)

    def batches(self, lang: str, size: int):
        return self.corpus.batches(self.lang, size)

    def fingerprint(self, lang: str) -> str:
        return self.corpus.fingerprint(self.lang)


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_shards import SlowEncoder
    from mlirbench.data.corpus import SyntheticCorpus
    from mlirbench.retrieval.shards import encode_corpus
    encode_corpus(SlowEncoder(delay=0.2, dim=8), SyntheticCorpus(("en",), size=200, words=12), "en",
                  shard_size=20, encode_batch=10, root=Path({root!r}), progress=False)
""")


@pytest.mark.slow
def test_sigkill_mid_encoding_resumes_with_identical_results(tmp_path: Path) -> None:
    """10 shards of 2 slow encode calls each; SIGKILL once >= 3 are done; the rerun encodes only
    the rest, and shards and search results equal an uninterrupted run's."""
    root, ref = tmp_path / "killed", tmp_path / "ref"
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(tests=str(TESTS), root=str(root))])
    deadline = time.monotonic() + 60
    while len(list(root.glob("shard-*.json"))) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, "child ended or stalled before the kill"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = len(list(root.glob("shard-*.json")))
    assert 3 <= saved < 10
    corpus = SyntheticCorpus(("en",), size=200, words=12)
    enc = SlowEncoder(dim=8)
    resumed, stats = encode_corpus(enc, corpus, "en", shard_size=20, encode_batch=10, root=root, progress=False)
    assert stats["shards_reused"] == saved and stats["shards_encoded"] == 10 - saved
    assert enc.calls == 2 * (10 - saved)
    assert not list(root.glob(".shard-*.tmp"))
    full, _ = encode_corpus(SlowEncoder(dim=8), corpus, "en", shard_size=20, encode_batch=10, root=ref, progress=False)
    for i in range(10):
        assert sha256_file(root / f"shard-{i:05d}.npy") == sha256_file(ref / f"shard-{i:05d}.npy")
        assert (root / f"shard-{i:05d}.ids").read_bytes() == (ref / f"shard-{i:05d}.ids").read_bytes()
    queries = enc.encode([f"q{i}" for i in range(5)], role="query", lang="en")
    got, want = search_shards(resumed, queries, 15, progress=False), search_shards(full, queries, 15, progress=False)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
