"""Scale benchmark: sharded encoding + FAISS search on a synthetic corpus, single process vs Ray.

Measures encoding throughput (docs/s), FAISS search time, and peak RSS of this process against
the bound the design promises (baseline + one shard's texts + one shard's vectors held twice
during search, since FAISS copies what it indexes), never the whole corpus. Prints one JSON
object; ``--project-docs`` turns the measured throughput into a paper projection for a corpus
the size of MIRACL English on N devices (labelled as a projection).

    python benchmarks/miracl_scale.py --docs 1000000 --model random -a dim=768 --ray-workers 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from mlirbench.data.corpus import SyntheticCorpus
from mlirbench.registry import build_model, parse_model
from mlirbench.retrieval.faiss_search import SearchConfig, import_faiss, search_shards
from mlirbench.retrieval.shards import encode_corpus

MIRACL_EN_DOCS = 32_893_221  # miracl-corpus-v1.0-en passages (pyserini index statistics: ~33M)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_bound_mb(baseline_mb: float, shard_size: int, dim: int, text_bytes: int) -> float:
    """Baseline + shard texts as Python str (~3x UTF-8 with list and object overhead) + the shard's
    float32 vectors twice (our copy and FAISS's) + one more for encode output in flight."""
    return baseline_mb + (shard_size * text_bytes * 3 + 3 * shard_size * dim * 4) / 2**20


def _value(text: str):
    """An adapter argument: JSON where it parses (numbers, booleans), else the string (device=cuda)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def gpu_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def tokens_per_passage(encoder, corpus: SyntheticCorpus) -> float | None:
    """Mean token count of 100 passages (special tokens included) for encoders with a HF tokenizer."""
    tokenizer = getattr(getattr(encoder, "model", None), "tokenizer", None)
    if tokenizer is None:
        return None
    texts = [corpus.text("en", i) for i in range(100)]
    return float(np.mean([len(ids) for ids in tokenizer(texts)["input_ids"]]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--model", default="random", help="registry spec, e.g. random or dense:/path/to/model")
    ap.add_argument("-a", "--model-arg", action="append", default=[], help="key=value adapter argument")
    ap.add_argument("--shard-size", type=int, default=100_000)
    ap.add_argument("--encode-batch", type=int, default=1024)
    ap.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    ap.add_argument("--words", type=int, default=40, help="words per synthetic passage")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--faiss", default="flat")
    ap.add_argument("--ray-workers", type=int, default=0, help="also encode on a local Ray cluster")
    ap.add_argument("--project-docs", type=int, default=MIRACL_EN_DOCS)
    ap.add_argument("--devices", type=int, nargs="*", default=[1, 8, 32])
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    kwargs = {k: _value(v) for k, _, v in (a.partition("=") for a in args.model_arg)}
    spec = parse_model(args.model, kwargs)
    encoder = build_model(spec, progress=False)
    corpus = SyntheticCorpus(("en",), size=args.docs, words=args.words)
    text_bytes = len(corpus.text("en", 0).encode())
    work = Path(args.workdir or tempfile.mkdtemp(prefix="mlirbench-scale-"))
    import_faiss()  # its libraries belong to the baseline, not to the per-shard cost
    encoder.encode(["warm-up"], role="passage", lang="en")
    baseline = peak_rss_mb()
    out: dict = {"docs": args.docs, "model": args.model, "model_args": kwargs, "shard_size": args.shard_size,
                 "dtype": args.dtype, "words": args.words, "tokens_per_passage": tokens_per_passage(encoder, corpus),
                 "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                             "gpu": gpu_name()}}
    try:
        shards, stats = encode_corpus(encoder, corpus, "en", shard_size=args.shard_size, dtype=args.dtype,
                                      encode_batch=args.encode_batch, root=work / "single", progress=True)
        out["single"] = {"encode_s": stats["encode_s"], "docs_per_s": stats["docs_per_s"],
                         "peak_rss_mb_after_encode": peak_rss_mb()}
        queries = encoder.encode([f"query {i} w{i % 97}" for i in range(args.queries)], role="query", lang="en")
        t0 = time.perf_counter()
        scores, rows, timings = search_shards(shards, queries, args.k, SearchConfig.parse(args.faiss), progress=True)
        out["search"] = {"queries": args.queries, "k": args.k, "faiss": SearchConfig.parse(args.faiss).metadata(),
                         "wall_s": time.perf_counter() - t0, **timings}
        dim = shards.dim
        out["memory"] = {"baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb(),
                         "bound_mb": rss_bound_mb(baseline, min(args.shard_size, args.docs), dim, text_bytes),
                         "corpus_vectors_float32_mb": args.docs * dim * 4 / 2**20, "dim": dim,
                         "disk_mb": sum(p.stat().st_size for p in (work / "single").glob("shard-*.npy")) / 2**20}
        if args.ray_workers:
            from mlirbench.retrieval.ray_pool import RayShardPool
            t0 = time.perf_counter()
            pool = RayShardPool(partial(build_model, spec, progress=False), args.ray_workers)
            startup = time.perf_counter() - t0
            try:
                _, rstats = encode_corpus(encoder, corpus, "en", shard_size=args.shard_size, dtype=args.dtype,
                                          encode_batch=args.encode_batch, root=work / "ray", pool=pool, progress=True)
            finally:
                pool.shutdown()
            same = all((work / "ray" / p.name).read_bytes() == p.read_bytes()
                       for p in sorted((work / "single").glob("shard-*.npy")))
            out["ray"] = {"workers": args.ray_workers, "startup_s": startup, "encode_s": rstats["encode_s"],
                          "docs_per_s": rstats["docs_per_s"], "identical_to_single": same}
        rate = out["single"]["docs_per_s"]
        out["projection"] = {
            "note": "PROJECTION on paper from the measured single-process throughput above, not a measurement",
            "docs": args.project_docs,
            "hours_per_device_count": {n: args.project_docs / (rate * n) / 3600 for n in args.devices},
            "disk_gb": args.project_docs * dim * np.dtype(args.dtype).itemsize / 1e9,
        }
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
