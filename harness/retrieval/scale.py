"""Options of top-k runs over corpora too large for memory (``topk.py``), in a module of their own
so that the CLI and the runner can build them without importing the evaluation stack."""
from __future__ import annotations

from dataclasses import dataclass, field

from mlirbench.retrieval.faiss_search import SearchConfig


@dataclass(frozen=True)
class ScaleOptions:
    """How the corpus of a dense top-k run is encoded and searched; they change cost, and (dtype,
    approximate FAISS) the scores, so every run records them."""

    shard_size: int = 100_000
    dtype: str = "float32"  # exact scores; float16 halves the disk (50 GB for MIRACL en at dim 768)
    encode_batch: int = 1024
    search: SearchConfig = field(default_factory=SearchConfig)
    ray_workers: int = 0
    ray_address: str | None = None  # None: start a local Ray cluster
