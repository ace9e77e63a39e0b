"""The two protocols a contender implements (see DESIGN.md).

* ``Encoder`` (dense systems): ``encode(texts, role=..., lang=...)`` returns float32 embeddings;
  the harness encodes every text once and scores all views from one score matrix.
* ``Searcher`` (lexical systems such as BM25): ``index(docs)`` then ``search(queries, k)``
  returning a sparse (n_queries x n_docs) score matrix; absent entries are "not retrieved".
"""
from __future__ import annotations

from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np
import scipy.sparse

from .collection import TextTable

Role = Literal["query", "passage"]


@runtime_checkable
class Encoder(Protocol):
    """A dense text encoder; similarity is the inner product of the returned vectors."""

    name: str

    def encode(self, texts: Sequence[str], *, role: Role, lang: str) -> np.ndarray:
        """Embed texts of one language and role: float32 array of shape (len(texts), dim)."""
        ...

    def metadata(self) -> dict:
        """Name, revision or weights hash, dim, similarity, max length, arguments."""
        ...


@runtime_checkable
class Searcher(Protocol):
    """A retrieval system that scores documents itself (no embeddings)."""

    name: str

    def index(self, docs: TextTable) -> None:
        """Build (or reuse) the index over ``docs``; doc rows keep their order."""
        ...

    def search(self, queries: TextTable, k: int | None = None) -> scipy.sparse.csr_matrix:
        """Score queries against the indexed docs.

        Returns a float32 CSR matrix (len(queries) x len(docs)) holding the score of every
        retrieved doc; docs a query does not retrieve are absent. ``k=None`` retrieves every
        doc the system can score, which the harness needs for full rankings (mAP, rank distance).
        """
        ...

    def metadata(self) -> dict:
        """Name, parameters (e.g. k1, b), analyzers, versions."""
        ...
