"""Deterministic random embeddings: the chance baseline and the harness's self-test.

Each text's vector depends only on (seed, text), so results are reproducible across runs and
machines, and identical texts get identical vectors (ties behave like a real encoder's).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from mlirbench.retrieval.arguments import Arg, adapter
from mlirbench.retrieval.protocols import Role


@adapter
class RandomEncoder:
    name = "random"
    ARGUMENTS = (Arg("dim", int, "embedding size", low=1), Arg("seed", int, "seed of every text's vector"))
    PACKAGES = ()

    def __init__(self, dim: int = 64, seed: int = 0) -> None:
        self.dim = dim
        self.seed = seed

    def encode(self, texts: Sequence[str], *, role: Role, lang: str) -> np.ndarray:
        """Role and language are ignored: the baseline knows nothing about either."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            digest = hashlib.sha256(f"{self.seed}\0{text}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            vec = rng.standard_normal(self.dim)
            out[i] = vec / np.linalg.norm(vec)
        return out

    def metadata(self) -> dict:
        return {"name": self.name, "dim": self.dim, "seed": self.seed, "similarity": "cosine",
                "revision": "sha256-seeded-v1"}
