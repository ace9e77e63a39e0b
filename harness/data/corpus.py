"""Corpora too large for memory: read in order, one batch at a time, one language at a time.

A top-k task (``TaskMetadata.retrieval == "topk"``, e.g. MIRACL: 33M English passages) hands the
pipeline a ``StreamedCollection``: queries and qrels in memory (small), the corpus as a
``Corpus`` that yields (ids, texts) batches in a fixed order. Shard boundaries are row ranges of
that order, which is what makes a killed encoding resumable shard by shard.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from mlirbench.data.collection import Qrels, TextTable

Batch = tuple[list[str], list[str]]  # (doc ids, texts)


class Corpus(Protocol):
    languages: tuple[str, ...]

    def count(self, lang: str) -> int:
        """Number of documents of a language."""
        ...

    def batches(self, lang: str, size: int) -> Iterator[Batch]:
        """Consecutive batches of ``size`` docs (the last may be shorter), always in the same order."""
        ...

    def fingerprint(self, lang: str) -> str:
        """Changes whenever the docs of ``lang`` (or how their text is built) may have changed."""
        ...


@dataclass(frozen=True)
class StreamedCollection:
    """Like ``Collection``, but the documents stay on disk behind ``corpus``."""

    name: str
    languages: tuple[str, ...]
    queries: TextTable
    query_groups: list[str]
    qrels: Qrels
    corpus: Corpus
    source: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SyntheticCorpus:
    """Deterministic generated passages (benchmarks and tests): doc ``i`` of a language is the
    same text on every call and machine, and nothing is held in memory."""

    languages: tuple[str, ...]
    size: int
    words: int = 40
    seed: int = 0

    def count(self, lang: str) -> int:
        return self.size

    def doc_id(self, lang: str, i: int) -> str:
        return f"{lang}:{i}"

    def text(self, lang: str, i: int) -> str:
        digest = hashlib.blake2b(f"{self.seed}\0{lang}\0{i}".encode(), digest_size=64).digest()
        vocab = [f"w{b}" for b in digest]
        return " ".join(vocab[(j * 7) % len(vocab)] for j in range(self.words))

    def batches(self, lang: str, size: int) -> Iterator[Batch]:
        for start in range(0, self.size, size):
            rows = range(start, min(start + size, self.size))
            yield [self.doc_id(lang, i) for i in rows], [self.text(lang, i) for i in rows]

    def fingerprint(self, lang: str) -> str:
        return json.dumps(["synthetic-v1", lang, self.size, self.words, self.seed])
