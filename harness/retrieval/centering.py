"""Per-language mean centring: a language-debiasing baseline for any dense model.

Multilingual encoders place each language in its own region of the embedding space; the shared
offset of a language's embeddings pulls a query towards passages of its own language whatever
their content, which is what rank distance measures. Subtracting from every embedding the mean
embedding of its language and re-normalising to unit length is the simplest published remedy
(Libovický et al. 2020, "On the Language Neutrality of Pre-trained Multilingual Representations").
The means come from the texts being evaluated; no labels are used.

The harness encodes a table one language at a time (``scoring.encode_table``: one ``encode``
call holds every query, or every passage, of one language), so the mean of a call is the mean
of that language in that role: queries and passages are centred on their own means, which also
removes the offset a model's role prefixes ("query: " / "passage: ") add. A top-k task encodes
its corpus in shards, whose means are not their language's; centring is for full-ranking tasks.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlirbench.retrieval.protocols import Encoder, Role

CENTERING = ("per-language mean of the evaluated texts subtracted per role (one encode call = one "
             "language, one role), then unit length")


def center(embeddings: np.ndarray) -> np.ndarray:
    """Rows minus their mean, at unit length (a row equal to the mean stays zero); float32."""
    rows = np.asarray(embeddings, dtype=np.float64)
    rows = rows - rows.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class CenteredEncoder:
    """An ``Encoder`` whose embeddings are those of ``encoder``, centred per call (module docstring).

    It holds no state between calls, so it can wrap the embedding cache of the model it centres
    (``encoder`` a ``CachedEncoder``): the centred and the plain rows of one model share one
    encoding."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.name = f"centered-{encoder.name}"

    def encode(self, texts: Sequence[str], *, role: Role, lang: str) -> np.ndarray:
        return center(self.encoder.encode(texts, role=role, lang=lang))

    def metadata(self) -> dict:
        return {**self.encoder.metadata(), "centering": CENTERING}
