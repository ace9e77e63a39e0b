"""Query-side stopword removal for BM25: before a query meets another language's index, the
stopwords of its own language go (docs/BM25.md says why and what it measured)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class QueryStopwords:
    """Removes the stopwords of one language's analyzer from query texts (docs/BM25.md).

    A token of the standard tokenizer is a stopword when the analyzer makes no term of it (its
    stop filter is the only filter that drops tokens). The query is cut at whitespace; each
    distinct chunk is tokenized once and each distinct token analysed once (both cached), so
    the cost is two Java calls per new chunk or token, not per query x index. ``prepare`` (the
    language's preprocessor, e.g. Thai segmentation) is applied to the text first.
    """

    def __init__(self, jnius: Any, analyzer: Any, prepare: Callable[[str], str] | None = None) -> None:
        auto = jnius.autoclass
        self._prepare = prepare
        self._analyze = auto("io.anserini.analysis.AnalyzerUtils").analyze
        self._analyzer = analyzer
        self._tokenizer = (auto("org.apache.lucene.analysis.custom.CustomAnalyzer").builder()
                           .withTokenizer("standard", auto("java.util.HashMap")()).build())
        self._chunks: dict[str, str] = {}
        self._is_stop: dict[str, bool] = {}

    def __call__(self, text: str) -> str:
        """``text`` without the stopwords, chunks joined by single spaces ("" if nothing is left)."""
        if self._prepare is not None:
            text = self._prepare(text)
        out = []
        for chunk in text.split():
            kept = self._chunks.get(chunk)
            if kept is None:
                kept = self._chunks[chunk] = self._strip(chunk)
            if kept:
                out.append(kept)
        return " ".join(out)

    def _strip(self, chunk: str) -> str:
        """The chunk with its stopword tokens cut out (the rest verbatim, e.g. CJK runs stay joined)."""
        tokens = self._analyze(self._tokenizer, chunk).toArray()  # surface forms, in text order
        stops = [self._stop(token) for token in tokens]
        if not any(stops):
            return chunk
        if all(stops):  # e.g. "(the)": its punctuation goes with it
            return ""
        pieces, pos = [], 0
        for token, stop in zip(tokens, stops):
            start = chunk.find(token, pos)
            if start < 0:  # not a verbatim substring (never seen): keep the chunk as it is
                return chunk
            if stop:
                pieces += [chunk[pos:start], " "]
                pos = start + len(token)
        pieces.append(chunk[pos:])
        return " ".join("".join(pieces).split())

    def _stop(self, token: str) -> bool:
        stop = self._is_stop.get(token)
        if stop is None:
            stop = self._is_stop[token] = not self._analyze(self._analyzer, token).toArray()
        return stop
