"""Top-k inner-product search over encoded shards with FAISS, merged across shards.

Why per shard: one shard's vectors (converted to float32) are the most that is ever in memory,
so search memory is bounded like encoding memory. Each shard is searched for the top k and the
running top k is merged with it, ordered by score descending, then by corpus row (the harness's
tie rule), so the result does not depend on the number of shards for exact search.

Index kinds: ``flat`` (exact inner product, the default: the reported numbers are exact),
``ivf`` (IVF-Flat, ``nlist`` lists trained per shard, ``nprobe`` searched) and ``hnsw``
(HNSW-Flat, ``m`` links, ``ef_construction``, ``ef_search``). Approximate indexes are saved
beside their shard (the name holds the parameters) and reused. The parameters and the device are
recorded with every run (``SearchConfig.metadata``). GPU FAISS is used for flat and IVF when the
installed faiss has GPU support and sees a GPU (``device="auto"``). The index spec (``parse``)
names the index only; the device is set on its own (``mlirbench run --faiss-device``).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from tqdm.auto import tqdm

from mlirbench.errors import MissingDependencyError, MlirbenchError
from mlirbench.retrieval.shards import ShardSet

KINDS = ("flat", "ivf", "hnsw")
PARAMS = {"flat": (), "ivf": ("nlist", "nprobe"), "hnsw": ("m", "ef_construction", "ef_search")}  # per kind


def import_faiss():
    try:
        import faiss
    except ImportError:
        raise MissingDependencyError("dense top-k search needs FAISS: pip install 'mlirbench[scale]' "
                                     "(faiss-cpu, or faiss-gpu on CUDA machines)") from None
    return faiss


@dataclass(frozen=True)
class SearchConfig:
    kind: str = "flat"
    nlist: int = 1024
    nprobe: int = 32
    m: int = 32
    ef_construction: int = 200
    ef_search: int = 256
    device: str = "auto"  # auto | cpu | gpu
    query_batch: int = 4096

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MlirbenchError(f"faiss index kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.device not in ("auto", "cpu", "gpu"):
            raise MlirbenchError(f"faiss device must be auto, cpu or gpu, got {self.device!r}")
        for key in ("query_batch", *PARAMS[self.kind]):
            if getattr(self, key) < 1:
                raise MlirbenchError(f"faiss {key} must be >= 1, got {getattr(self, key)}")

    @classmethod
    def parse(cls, spec: str) -> SearchConfig:
        """``flat``, ``ivf:nlist=4096,nprobe=64``, ``hnsw:m=32,ef_search=128``: integer parameters of
        that kind only, so a typo or a parameter of another kind fails instead of being ignored."""
        kind, _, rest = spec.partition(":")
        kind = kind or "flat"
        if kind not in KINDS:
            raise MlirbenchError(f"faiss index kind must be one of {', '.join(KINDS)}, got {kind!r}")
        allowed = (*PARAMS[kind], "query_batch")
        kwargs: dict[str, int] = {}
        for item in filter(None, rest.split(",")):
            key, sep, value = item.partition("=")
            if not sep or key not in allowed:
                raise MlirbenchError(f"faiss option {item!r}: expected key=value with key among "
                                     f"{', '.join(allowed)} for {kind}")
            try:
                kwargs[key] = int(value)
            except ValueError:
                raise MlirbenchError(f"faiss option {item!r}: {value!r} is not an integer") from None
        return cls(kind=kind, **kwargs)

    def use_gpu(self, faiss) -> bool:
        has_gpu = hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
        if self.device == "gpu" and not has_gpu:
            raise MlirbenchError("faiss device=gpu, but this faiss has no GPU support or sees no GPU")
        return self.kind != "hnsw" and has_gpu and self.device != "cpu"

    def metadata(self) -> dict:
        faiss = import_faiss()
        kept = {k: v for k, v in asdict(self).items() if k in PARAMS[self.kind]}
        return {"kind": self.kind, "exact": self.kind == "flat", "metric": "inner_product", **kept,
                "device": "gpu" if self.use_gpu(faiss) else "cpu", "faiss": faiss.__version__}


def _shard_index(faiss, shards: ShardSet, i: int, vectors: np.ndarray, config: SearchConfig):
    dim = vectors.shape[1]
    if config.kind == "flat":
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index
    if config.kind == "ivf":
        nlist = max(1, min(config.nlist, len(vectors) // 39))  # FAISS wants >= 39 training points per list
        path = shards.root / f"shard-{i:05d}.ivf{nlist}.faiss"
        if path.is_file():
            index = faiss.read_index(str(path))
        else:
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors)
            index.add(vectors)
            faiss.write_index(index, str(path))
        index.nprobe = min(config.nprobe, nlist)
        return index
    path = shards.root / f"shard-{i:05d}.hnsw{config.m}-{config.ef_construction}.faiss"
    if path.is_file():
        index = faiss.read_index(str(path))
    else:
        index = faiss.IndexHNSWFlat(dim, config.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.ef_construction
        index.add(vectors)
        faiss.write_index(index, str(path))
    index.hnsw.efSearch = config.ef_search
    return index


def merge_topk(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k per query row of (scores, rows) candidates: score descending, then row ascending;
    empty slots (row -1) last."""
    scores = np.where(rows >= 0, scores, -np.inf)
    sort_rows = np.where(rows >= 0, rows, np.iinfo(np.int64).max)
    order = np.lexsort((sort_rows, -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


def search_shards(shards: ShardSet, queries: np.ndarray, k: int, config: SearchConfig = SearchConfig(),
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
    """(scores float32 (n_q, k), global rows int64 (n_q, k), timings); rows -1 where the corpus has
    fewer than k docs."""
    faiss = import_faiss()
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_r = np.full((len(queries), k), -1, dtype=np.int64)
    gpu = faiss.StandardGpuResources() if config.use_gpu(faiss) else None
    build_s = search_s = 0.0
    for info in tqdm(shards.shards, desc="faiss search", unit="shard", disable=not progress):
        t0 = time.perf_counter()
        vectors = np.ascontiguousarray(shards.embeddings(info.index), dtype=np.float32)
        index = _shard_index(faiss, shards, info.index, vectors, config)
        del vectors
        if gpu is not None:
            index = faiss.index_cpu_to_gpu(gpu, 0, index)
        t1 = time.perf_counter()
        kk = min(k, info.count)
        for q in range(0, len(queries), config.query_batch):
            s, r = index.search(queries[q:q + config.query_batch], kk)
            r = np.where(r >= 0, r + info.start, -1)
            cand_s = np.concatenate([best_s[q:q + len(s)], s.astype(np.float32)], axis=1)
            cand_r = np.concatenate([best_r[q:q + len(s)], r], axis=1)
            best_s[q:q + len(s)], best_r[q:q + len(s)] = merge_topk(cand_s, cand_r, k)
        build_s += t1 - t0
        search_s += time.perf_counter() - t1
        del index
    return best_s, best_r, {"faiss_load_build_s": build_s, "faiss_search_s": search_s}
