"""The two protocols a model implements (see DESIGN.md).

* ``Encoder`` (dense models): ``encode(texts, role=..., lang=...)`` returns float32 embeddings;
  the harness encodes every text once and scores all views from one score matrix.
* ``Searcher`` (lexical models such as BM25): ``index(docs)`` then ``search(queries, k)``
  returning a sparse (n_queries x n_docs) score matrix; absent entries are "not retrieved".
* ``CorpusSearcher`` (a Searcher for corpora too large for memory, e.g. MIRACL's 33M English
  passages): ``index_corpus(corpus, lang)`` indexes one language from a stream of batches, then
  ``search_top(queries, k)`` returns the top k doc ids and scores per query.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

from mlirbench.data.collection import TextTable
from mlirbench.data.corpus import Corpus

if TYPE_CHECKING:
    import scipy.sparse

Role = Literal["query", "passage"]
Hits = tuple[np.ndarray, np.ndarray]  # doc ids (n_queries, k), object, "" = none; float32 scores, -inf = none


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
    """A retrieval model that scores documents itself (no embeddings)."""

    name: str

    def index(self, docs: TextTable) -> None:
        """Build (or reuse) the index over ``docs``; doc rows keep their order."""
        ...

    def search(self, queries: TextTable, k: int | None = None) -> scipy.sparse.csr_matrix:
        """Score queries against the indexed docs.

        Returns a float32 CSR matrix (len(queries) x len(docs)) holding the score of every
        retrieved doc; docs a query does not retrieve are absent. ``k=None`` retrieves every
        doc the model can score, which the harness needs for full rankings (mAP, rank distance).
        """
        ...

    def metadata(self) -> dict:
        """Name, parameters (e.g. k1, b), analyzers, versions."""
        ...


@runtime_checkable
class CorpusSearcher(Searcher, Protocol):
    """A Searcher that can also index one language of a streamed corpus (memory bounded by a
    batch, never the corpus) and return top-k lists by doc id."""

    def index_corpus(self, corpus: Corpus, lang: str) -> None:
        """Build (or reuse, keyed by ``corpus.fingerprint(lang)``) the index of ``lang``'s docs."""
        ...

    def search_top(self, queries: TextTable, k: int) -> Hits:
        """Top ``k`` per query of the language last indexed: ids and scores, best first."""
        ...
