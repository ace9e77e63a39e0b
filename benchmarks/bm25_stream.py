"""BM25 over a corpus too large for memory: index one language from a stream of batches
(``BM25Searcher.index_corpus``), then search it (``search_top``). Measures indexing throughput,
search time and peak RSS against the baseline (JVM and model-free process), which must not grow
with the corpus. Prints one JSON object, with a projection for MIRACL English labelled as such.

    python benchmarks/bm25_stream.py --docs 300000 --queries 200
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from mlirbench.adapters.bm25 import BM25Searcher
from mlirbench.data.collection import TextTable
from mlirbench.data.corpus import SyntheticCorpus

MIRACL_EN_DOCS = 32_893_221


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=300_000)
    ap.add_argument("--words", type=int, default=75, help="words per synthetic passage (MIRACL en: ~75)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=1000)
    args = ap.parse_args()
    corpus = SyntheticCorpus(("en",), size=args.docs, words=args.words)
    work = Path(tempfile.mkdtemp(prefix="mlirbench-bm25-"))
    try:
        searcher = BM25Searcher(index_root=str(work), show_progress=True)
        small = SyntheticCorpus(("en",), size=100, words=args.words, seed=1)
        searcher.index_corpus(small, "en")  # JVM, analyzers, Lucene classes: part of the baseline
        baseline = peak_rss_mb()
        t0 = time.perf_counter()
        searcher.index_corpus(corpus, "en")
        index_s = time.perf_counter() - t0
        after_index = peak_rss_mb()
        queries = TextTable([f"q{i}" for i in range(args.queries)], ["en"] * args.queries,
                            [" ".join(corpus.text("en", i * 7).split()[:6]) for i in range(args.queries)])
        t0 = time.perf_counter()
        ids, _ = searcher.search_top(queries, args.k)
        search_s = time.perf_counter() - t0
        found = sum(ids[i, 0] == corpus.doc_id("en", i * 7) for i in range(args.queries))
        rate = args.docs / index_s
        out = {"docs": args.docs, "words": args.words,
               "index": {"seconds": index_s, "docs_per_s": rate,
                         "disk_mb": sum(p.stat().st_size for p in work.rglob("*") if p.is_file()) / 2**20},
               "search": {"queries": args.queries, "k": args.k, "seconds": search_s,
                          "ms_per_query": 1000 * search_s / args.queries, "source_doc_ranked_first": found},
               "memory": {"baseline_rss_mb": baseline, "peak_rss_mb_after_index": after_index,
                          "peak_rss_mb": peak_rss_mb()},
               "metadata": {k: v for k, v in searcher.metadata().items() if k in ("analyzers", "pyserini", "java")},
               "projection": {"note": "PROJECTION on paper from the measured rate, one process, not a measurement",
                              "miracl_en_index_hours": MIRACL_EN_DOCS / rate / 3600}}
        searcher.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
