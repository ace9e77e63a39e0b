"""SQuAD-format files with sentence breaks (the LAReQA layout of XQuAD-R and MLQA-R), read and
validated in one place: the tasks build their collections from it and ``make-train-data`` its
training rows, so both accept and refuse the same files.

Every defect is one ``DataError`` naming the file and the JSON path (line, for malformed JSON),
never a KeyError or TypeError later: every paragraph needs sentences with as many increasing
``[start, end]`` sentence breaks; every question a unique id without whitespace, a non-empty text
and an ``answer_start`` inside the paragraph's sentences, which picks its answer sentence.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

from mlirbench._io.lines import read_json
from mlirbench.errors import DataError


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    sentence: int  # index of the answer sentence in its paragraph


@dataclass(frozen=True)
class Paragraph:
    sentences: list[str]
    questions: list[Question]


@dataclass(frozen=True)
class Article:
    title: str  # "article-<index>" where the file has none
    paragraphs: list[Paragraph]


def read_squad(path: Path) -> list[Article]:
    """The articles of one file, validated (module docstring)."""
    data = read_json(path)
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise DataError(path, "expected a SQuAD-format object with a 'data' list")
    seen: set[str] = set()
    out = []
    for a, article in enumerate(articles):
        paragraphs = []
        for p, para in enumerate(field(article, "paragraphs", list, path, f"data[{a}]")):
            paragraphs.append(_paragraph(para, path, f"data[{a}].paragraphs[{p}]", seen))
        title = article.get("title") if isinstance(article, dict) else None
        out.append(Article(title if isinstance(title, str) and title else f"article-{a}", paragraphs))
    if not any(para.sentences for art in out for para in art.paragraphs) or not seen:
        raise DataError(path, "no sentences or no questions (an empty or cut-down file?)")
    return out


def _paragraph(para: object, path: Path, where: str, seen: set[str]) -> Paragraph:
    sentences = field(para, "sentences", list, path, where)
    breaks = field(para, "sentence_breaks", list, path, where)
    if not sentences:
        raise DataError(path, f"{where}: no sentences")
    if len(sentences) != len(breaks):
        raise DataError(path, f"{where}: {len(sentences)} sentences but {len(breaks)} sentence_breaks")
    starts, texts = [], []
    for s, (sentence, span) in enumerate(zip(sentences, breaks)):
        if not (isinstance(span, list) and len(span) == 2 and all(is_int(x) for x in span)
                and 0 <= span[0] <= span[1]):
            raise DataError(path, f"{where}.sentence_breaks[{s}]: expected [start, end] with "
                                  f"0 <= start <= end, got {short(span)}")
        if starts and span[0] < starts[-1]:
            raise DataError(path, f"{where}: sentence_breaks are not in increasing order")
        starts.append(span[0])
        texts.append(text(sentence, path, f"{where}.sentences[{s}]"))
    questions = []
    for q, qa in enumerate(field(para, "qas", list, path, where)):
        qwhere = f"{where}.qas[{q}]"
        qid = text(field(qa, "id", str, path, qwhere), path, f"{qwhere}.id")
        if not qid or any(c.isspace() for c in qid):
            raise DataError(path, f"{qwhere}: question id {qid!r} is empty or holds whitespace")
        question = text(field(qa, "question", str, path, qwhere), path, f"{qwhere}.question")
        if not question.strip():
            raise DataError(path, f"{qwhere}: question {qid!r} is empty")
        if qid in seen:
            raise DataError(path, f"{qwhere}: duplicate question id {qid!r}")
        seen.add(qid)
        answer_list = field(qa, "answers", list, path, qwhere)
        if not answer_list or not isinstance(answer_list[0], dict):
            raise DataError(path, f"{qwhere}: question {qid!r} has no answers")
        start = answer_list[0].get("answer_start")
        if not is_int(start) or start < starts[0] or start >= breaks[-1][1]:
            raise DataError(path, f"{qwhere}: answer_start {short(start)} of {qid!r} lies outside the sentences")
        questions.append(Question(qid, question, bisect.bisect_right(starts, start) - 1))
    return Paragraph(texts, questions)


def field(obj: object, name: str, kind: type, path: Path, where: str):
    if not isinstance(obj, dict) or name not in obj:
        raise DataError(path, f"{where}: missing field '{name}'")
    value = obj[name]
    if not isinstance(value, kind):
        raise DataError(path, f"{where}.{name}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def text(value: object, path: Path, where: str) -> str:
    """A string that can be written as UTF-8 (JSON escapes can smuggle in lone surrogates)."""
    if not isinstance(value, str):
        raise DataError(path, f"{where}: expected a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataError(path, f"{where}: not encodable as UTF-8 ({exc.reason})") from None
    return value


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."
