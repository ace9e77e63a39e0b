"""One Lucene analyzer per language for BM25 (pyserini/Anserini's, Lucene's where they have none)
and the Python-side Thai word segmentation; the choices and their measurements are in docs/BM25.md."""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from typing import Any

from mlirbench.adapters.lucene_jvm import start_jvm

_PYSERINI_LANGS = frozenset("ar bn da de en es fi fr hi hu id it ja ko nl no pt ru te th tr zh".split())
_ANSERINI_ONLY_LANGS = frozenset("fa pl sv uk".split())
# Anserini (IndexCollection / SearchCollection -language) analyses these with a plain whitespace
# split: pyserini's MIRACL sw regression (and Mr. TyDi, CIRAL) index and search them so.
_WHITESPACE_LANGS = frozenset("ha so sw yo".split())
_WHITESPACE = "org.apache.lucene.analysis.core.WhitespaceAnalyzer"
_THAI_RUN = re.compile("[\u0E00-\u0E7F]+")  # the Thai block: letters, vowels, tone marks, digits, signs
_THAI_RUN_CACHE = 1 << 16  # distinct Thai runs whose segmentation is kept (bounded for large corpora)


class ThaiSegmenter:
    """Thai word segmentation in Python: Thai-script runs cut into space-separated words.

    Text without Thai script is returned as it is after one regex search; every other character
    (Latin words, numbers, punctuation, whitespace) passes through unchanged, and each Thai run is
    replaced by its words with a space on either side. Segmentations are cached per distinct run.
    """

    def __init__(self) -> None:
        from pythainlp.tokenize import word_tokenize
        self.name = f"pythainlp-{pkg_version('pythainlp')}-newmm"

        @lru_cache(maxsize=_THAI_RUN_CACHE)
        def segment_run(run: str) -> str:
            return " " + " ".join(word_tokenize(run, engine="newmm", keep_whitespace=False)) + " "

        self._segment_run = segment_run

    def __call__(self, text: str) -> str:
        if not _THAI_RUN.search(text):
            return text
        return _THAI_RUN.sub(lambda m: self._segment_run(m.group()), text)


@lru_cache(maxsize=1)
def thai_segmenter() -> ThaiSegmenter | None:
    """The shared Thai segmenter, or None when pythainlp is not installed."""
    try:
        pkg_version("pythainlp")
    except PackageNotFoundError:
        return None
    return ThaiSegmenter()


def preprocessor_for(lang: str) -> Callable[[str], str] | None:
    """Text preprocessing applied before ``analyzer_for(lang)``'s analyzer (docs and queries), or None."""
    return thai_segmenter() if lang == "th" else None


def analyzer_for(lang: str) -> tuple[Any, str, str | None]:
    """(Java analyzer, descriptor, warning or None) for a language code; see docs/BM25.md.

    For th the analyzer expects text passed through ``preprocessor_for("th")`` first.
    """
    jnius = start_jvm()
    auto = jnius.autoclass
    if lang == "th":
        segmenter = thai_segmenter()
        if segmenter is not None:
            descriptor = f"{segmenter.name}+StandardAnalyzer(lowercase,ThaiAnalyzer stopwords)"
            return _thai_word_analyzer(auto), descriptor, None
        if not auto("org.apache.lucene.analysis.th.ThaiTokenizer").DBBI_AVAILABLE:
            return (thai_bigram_analyzer(auto), "CustomAnalyzer(standard,lowercase,nGram2)",
                    "th: pythainlp is not installed and this Java runtime has no Thai dictionary "
                    "segmentation; used character bigrams")
        from pyserini.analysis import get_lucene_analyzer
        analyzer = get_lucene_analyzer(lang)
        return (analyzer, analyzer.getClass().getName(),
                "th: pythainlp is not installed; used Lucene's ThaiAnalyzer (the Java runtime's "
                "segmentation)")
    if lang in _PYSERINI_LANGS:
        from pyserini.analysis import get_lucene_analyzer
        analyzer = get_lucene_analyzer(lang)
        return analyzer, analyzer.getClass().getName(), None
    if lang in _ANSERINI_ONLY_LANGS:
        analyzer = auto("io.anserini.analysis.AnalyzerMap").getLanguageSpecificAnalyzer(lang)
        return analyzer, analyzer.getClass().getName(), None
    if lang == "el":
        return auto("org.apache.lucene.analysis.el.GreekAnalyzer")(), "org.apache.lucene.analysis.el.GreekAnalyzer", None
    if lang in _WHITESPACE_LANGS:
        return auto("org.apache.lucene.analysis.core.WhitespaceAnalyzer")(), _WHITESPACE, None
    empty = auto("org.apache.lucene.analysis.CharArraySet").EMPTY_SET
    standard = auto("org.apache.lucene.analysis.standard.StandardAnalyzer")(empty)
    descriptor = "org.apache.lucene.analysis.standard.StandardAnalyzer(no stopwords)"
    if lang == "vi":
        return standard, descriptor, None
    return standard, descriptor, f"{lang}: no language-specific analyzer; used {descriptor}"


def _thai_word_analyzer(auto: Any) -> Any:
    """StandardAnalyzer with ThaiAnalyzer's stopwords (plus SARA AM spellings), for pre-segmented Thai."""
    default = auto("org.apache.lucene.analysis.th.ThaiAnalyzer").getDefaultStopSet()
    words = auto("java.util.ArrayList")()
    iterator = default.iterator()
    while iterator.hasNext():
        word = "".join(iterator.next())  # the set's entries are char[]
        words.add(word)
        if "\u0E4D\u0E32" in word:  # NIKHAHIT + SARA AA, as spelled in Lucene's file
            words.add(word.replace("\u0E4D\u0E32", "\u0E33"))
    stopwords = auto("org.apache.lucene.analysis.CharArraySet")(words, False)
    return auto("org.apache.lucene.analysis.standard.StandardAnalyzer")(stopwords)


def thai_bigram_analyzer(auto: Any) -> Any:
    hashmap = auto("java.util.HashMap")
    ngram = hashmap()
    for key, value in (("minGramSize", "2"), ("maxGramSize", "2"), ("preserveOriginal", "false")):
        ngram.put(key, value)
    builder = auto("org.apache.lucene.analysis.custom.CustomAnalyzer").builder()
    return (builder.withTokenizer("standard", hashmap()).addTokenFilter("lowercase", hashmap())
            .addTokenFilter("nGram", ngram).build())


def stopword_count(analyzer: Any) -> int:
    """Size of the analyzer's stopword set; 0 where it has none (e.g. a CustomAnalyzer)."""
    return int(analyzer.getStopwordSet().size()) if hasattr(analyzer, "getStopwordSet") else 0
