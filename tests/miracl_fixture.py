"""A small MIRACL-format folder (both hub repositories' layouts side by side), built offline.

Per language: 3 corpus files (docs-0, docs-1, docs-10: numeric order matters), 40 passages with
titles, 5 topics, graded qrels with judged non-relevant docs. Each topic names a keyword that most
of its relevant passages (and only they) contain; one relevant passage (grade 2) lacks it.
"""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

VOCAB = {
    "en": "river mountain city music history science garden ocean forest train bridge castle".split(),
    "de": "Fluss Berg Stadt Musik Geschichte Wissenschaft Garten Meer Wald Zug Brücke Burg".split(),
    "sw": "mto mlima mji muziki historia sayansi bustani bahari msitu treni daraja ngome".split(),
}
FILLER = {
    "en": "the of and a in is was to for with on as by".split(),
    "de": "der die das und ein ist war zu für mit auf als".split(),
    "sw": "na ya wa kwa ni la za katika cha kuwa hii".split(),
}
N_DOCS = 40
N_TOPICS = 5


def docs_of(lang: str) -> list[dict]:
    rng = random.Random(lang)
    keywords = VOCAB[lang][N_TOPICS:]  # topic keywords are VOCAB[lang][:N_TOPICS]
    out = []
    for i in range(N_DOCS):
        topic = i % 8  # docs 0..4 (mod 8) carry topic keywords 0..4
        words = rng.choices(FILLER[lang] + keywords, k=12)
        if topic < N_TOPICS:
            words.insert(rng.randrange(len(words)), VOCAB[lang][topic])
        title = "" if i % 7 == 3 else f"{lang.upper()} {i}"
        out.append({"docid": f"{1000 + i // 3}#{i % 3}", "title": title, "text": " ".join(words) + "."})
    return out


def write_miracl(root: Path, langs: tuple[str, ...] = ("en", "de", "sw"), split: str = "dev") -> Path:
    for lang in langs:
        docs = docs_of(lang)
        corpus = root / f"miracl-corpus-v1.0-{lang}"
        corpus.mkdir(parents=True, exist_ok=True)
        for name, part in (("docs-0", docs[:15]), ("docs-1", docs[15:30]), ("docs-10", docs[30:])):
            with gzip.open(corpus / f"{name}.jsonl.gz", "wt", encoding="utf-8") as fh:
                fh.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in part)
        base = root / f"miracl-v1.0-{lang}"
        (base / "topics").mkdir(parents=True, exist_ok=True)
        (base / "qrels").mkdir(parents=True, exist_ok=True)
        topics, qrels = [], []
        for t in range(N_TOPICS):
            qid = f"{t}{lang}"
            topics.append(f"{qid}\t{VOCAB[lang][t]} {FILLER[lang][t]}\n")
            for i, d in enumerate(docs):
                if i % 8 == t:
                    qrels.append(f"{qid} Q0 {d['docid']} 1\n")
                elif i % 8 == 5 and (i // 8) % N_TOPICS == t:  # relevant without the keyword: BM25 misses it
                    qrels.append(f"{qid} Q0 {d['docid']} 2\n")
                elif i % 8 == (t + 1) % 8 and i < 20:
                    qrels.append(f"{qid} Q0 {d['docid']} 0\n")
        (base / "topics" / f"topics.miracl-v1.0-{lang}-{split}.tsv").write_text("".join(topics), encoding="utf-8")
        (base / "qrels" / f"qrels.miracl-v1.0-{lang}-{split}.tsv").write_text("".join(qrels), encoding="utf-8")
    return root


FIXTURE_LANGS = ("en", "de", "sw")


def fixture_task():
    """The miracl task with the fixture's languages as all of its languages, so that a run on the
    fixture gives a complete record (``miracl.json``), as one on the real data would: a registry
    entry for tests (``miracl_fixture:fixture_task``)."""
    from dataclasses import replace

    from mlirbench.tasks.miracl import MIRACL, MiraclTask
    task = MiraclTask()
    task.metadata = replace(MIRACL, languages=FIXTURE_LANGS)
    return task
