"""Builders of small LAReQA-format (SQuAD + sentence_breaks) datasets for tests."""
from __future__ import annotations

import json
from pathlib import Path

WORDS = {
    "en": "river castle music engine forest bridge garden doctor winter market".split(),
    "de": "fluss burg musik motor wald brücke garten arzt winter markt".split(),
    "zh": "河流 城堡 音乐 引擎 森林 桥梁 花园 医生 冬天 市场".split(),
    "es": "río castillo música motor bosque puente jardín médico invierno mercado".split(),
}


def paragraph(lang: str, article: int, para: int, n_sent: int, questions: list[tuple[str, int]]) -> dict:
    """A paragraph whose sentence s mentions topic word (article*3+para+s) % 10; each question
    (id, s) asks about sentence s, so a lexical system can find it."""
    words = WORDS[lang]
    sentences, breaks, pos = [], [], 0
    for s in range(n_sent):
        word = words[(article * 3 + para + s) % len(words)]
        text = f"Sentence {article}-{para}-{s} is about {word} number {article * 100 + para * 10 + s}."
        sentences.append(text)
        breaks.append([pos, pos + len(text)])
        pos += len(text) + 1
    context = " ".join(sentences)
    qas = []
    for qid, s in questions:
        word = words[(article * 3 + para + s) % len(words)]
        qas.append({"id": qid, "question": f"What about {word} {article * 100 + para * 10 + s}?",
                    "answers": [{"answer_start": breaks[s][0] + 3, "text": sentences[s][3:8]}]})
    return {"context": context, "sentences": sentences, "sentence_breaks": breaks, "qas": qas}


def write_dataset(root: Path, langs: list[str], missing: dict[str, set[str]] | None = None,
                  n_articles: int = 2, n_paras: int = 2, n_sent: int = 3) -> Path:
    """Write one file per language; ``missing[lang]`` holds question ids absent in that language
    (MLQA-R style). Paragraphs in every language have the same sentences (parallel)."""
    missing = missing or {}
    root.mkdir(parents=True, exist_ok=True)
    for lang in langs:
        data = []
        for a in range(n_articles):
            paras = []
            for p in range(n_paras):
                qs = [(f"q{a}{p}{s}", s) for s in range(n_sent) if f"q{a}{p}{s}" not in missing.get(lang, set())]
                paras.append(paragraph(lang, a, p, n_sent, qs))
            data.append({"title": f"article {a}", "paragraphs": paras})
        (root / f"{lang}.json").write_text(json.dumps({"version": "1.1", "data": data}, ensure_ascii=False),
                                           encoding="utf-8")
    return root
