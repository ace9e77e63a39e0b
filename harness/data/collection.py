"""The collection contract every task produces and every model consumes (beir-style).

Doc and query ids are unique across languages (the loaders prefix the language), so views never
rely on id collisions. Texts are held as parallel lists: the harness works on row indices and
encodes every text once.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Qrels = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class TextTable:
    """Parallel lists of ids, language codes and texts (documents or queries)."""

    ids: list[str]
    langs: list[str]
    texts: list[str]

    def __post_init__(self) -> None:
        if not (len(self.ids) == len(self.langs) == len(self.texts)):
            raise ValueError("ids, langs and texts must have the same length")

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, lang: str) -> list[int]:
        """Row indices of one language, in table order."""
        return [i for i, lg in enumerate(self.langs) if lg == lang]


@dataclass(frozen=True)
class Collection:
    """Docs, queries and graded relevance of one task instance.

    ``query_groups[i]`` links parallel queries across languages (the shared source id);
    ``source`` records where the data came from (paths, sha256s, revision) for provenance.
    """

    name: str
    languages: tuple[str, ...]
    docs: TextTable
    queries: TextTable
    query_groups: list[str]
    qrels: Qrels
    source: dict = field(default_factory=dict)
