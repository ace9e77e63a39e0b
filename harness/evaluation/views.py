"""Settings as views over one collection (DESIGN.md).

A view is (query rows, doc rows): monolingual X->X, cross-lingual X->Y (X != Y, one corpus
language) and multilingual X->pooled corpus. Its qrels are the full qrels restricted to its docs;
queries with no relevant doc in a view are left out of it (MLQA-R questions missing in Y).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlirbench.data.collection import Collection
from mlirbench.data.task import SETTINGS

POOLED = "all"


@dataclass(frozen=True)
class View:
    setting: str  # "mono" | "cross" | "multi"
    query_lang: str
    corpus: str  # a language code, or POOLED
    query_rows: np.ndarray  # rows of collection.queries
    doc_rows: np.ndarray  # rows of collection.docs, ascending

    @property
    def key(self) -> str:
        return f"{self.query_lang}-{self.corpus}"


def build_views(collection: Collection, settings: tuple[str, ...] = SETTINGS) -> list[View]:
    """All views of the requested settings, in a fixed order (setting, query lang, corpus)."""
    langs = collection.languages
    q_langs = np.asarray(collection.queries.langs)
    d_langs = np.asarray(collection.docs.langs)
    q_rows = {lang: np.flatnonzero(q_langs == lang) for lang in langs}
    d_rows = {lang: np.flatnonzero(d_langs == lang) for lang in langs}
    all_docs = np.arange(len(collection.docs))
    views: list[View] = []
    for setting in settings:
        for x in langs:
            if setting == "mono":
                views.append(View(setting, x, x, q_rows[x], d_rows[x]))
            elif setting == "cross":
                views.extend(View(setting, x, y, q_rows[x], d_rows[y]) for y in langs if y != x)
            elif setting == "multi":
                views.append(View(setting, x, POOLED, q_rows[x], all_docs))
            else:
                raise ValueError(f"unknown setting {setting!r}")
    return views
