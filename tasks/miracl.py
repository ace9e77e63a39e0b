"""MIRACL (Zhang et al. 2022, arXiv 2210.09984): monolingual ad-hoc retrieval over Wikipedia in
18 languages, evaluated per language (query language = corpus language) as in the paper.

Layout (local folder, the same as the two hub repositories side by side)::

    <dir>/miracl-v1.0-<lang>/topics/topics.miracl-v1.0-<lang>-<split>.tsv   qid<TAB>query
    <dir>/miracl-v1.0-<lang>/qrels/qrels.miracl-v1.0-<lang>-<split>.tsv     qid Q0 docid rel
    <dir>/miracl-corpus-v1.0-<lang>/docs-<n>.jsonl.gz                      {"docid", "title", "text"}

Document text, for every contender alike: ``title + " " + text`` (just ``text`` when the title
is empty), the passage as pyserini's MIRACL indexes and mDPR see it (title first).
Ids are prefixed with the language (``en:123#4``): MIRACL doc ids are per-language Wikipedia ids.

The corpus is never loaded: ``load`` reads it once as a stream to validate every line, count the
docs and check that the qrels name only docs that exist (for English, 33M lines: minutes, and
small next to encoding it); retrieval streams it again (``corpus.py``).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from mlirbench.collection import TextTable
from mlirbench.corpus import Batch, StreamedCollection
from mlirbench.download import cache_root, offline, sha256_file
from mlirbench.errors import DataError, MissingDependencyError, MlirbenchError
from mlirbench.names import check_languages
from mlirbench.task import TaskMetadata
from mlirbench.textio import json_object, numbered_lines

TEXT_JOIN = "title + ' ' + text (text alone when the title is empty)"
TOPICS_REPO = "miracl/miracl"
CORPUS_REPO = "miracl/miracl-corpus"
# Hub commits the data is pinned to. None: resolve the branch head at the first download, keep
# that commit in the cache (hub-pin.json) for every later download, and record it in each result.
HUB_REVISIONS: dict[str, str | None] = {TOPICS_REPO: None, CORPUS_REPO: None}

MIRACL = TaskMetadata(
    name="miracl",
    description="MIRACL dev: monolingual retrieval in 18 languages over Wikipedia passages (33M in English)",
    languages=("ar", "bn", "en", "es", "fa", "fi", "fr", "hi", "id", "ja", "ko", "ru", "sw", "te", "th",
               "zh", "de", "yo"),
    reference="https://arxiv.org/abs/2210.09984",
    license="Apache-2.0 (topics, qrels); CC BY-SA 3.0 (Wikipedia passages)",
    source=f"huggingface.co/datasets/{TOPICS_REPO} + {CORPUS_REPO}",
    revision="v1.0",
    settings=("mono",),
    metrics=("ndcg@10", "recall@100", "map"),
    main_score="ndcg@10",
    save_depth=100,
    data_env="MLIRBENCH_MIRACL_DIR",
    retrieval="topk",
    depth=1000,  # as pyserini's MIRACL 2CR runs (--hits 1000); map is AP over these 1000
)


def topics_path(root: Path, lang: str, split: str) -> Path:
    return root / f"miracl-v1.0-{lang}" / "topics" / f"topics.miracl-v1.0-{lang}-{split}.tsv"


def qrels_path(root: Path, lang: str, split: str) -> Path:
    return root / f"miracl-v1.0-{lang}" / "qrels" / f"qrels.miracl-v1.0-{lang}-{split}.tsv"


def corpus_files(root: Path, lang: str) -> list[Path]:
    """``docs-<n>.jsonl(.gz)`` in numeric order (docs-2 before docs-10)."""
    folder = root / f"miracl-corpus-v1.0-{lang}"
    files = [p for p in folder.glob("docs-*.jsonl*") if re.fullmatch(r"docs-\d+\.jsonl(\.gz)?", p.name)]
    return sorted(files, key=lambda p: int(p.name.split("-")[1].split(".")[0]))


def _doc(path: Path, n: int, line: str) -> tuple[str, str]:
    """(docid, joined text) of one corpus line."""
    obj = json_object(path, n, line, "a JSON object {docid, title, text}")
    for key in ("docid", "title", "text"):
        if not isinstance(obj.get(key), str):
            raise DataError(path, f"field {key!r} missing or not a string", line=n)
    docid, title, text = obj["docid"], obj["title"].strip(), obj["text"].strip()
    if not docid or any(c.isspace() for c in docid):
        raise DataError(path, f"docid {docid!r} is empty or holds whitespace", line=n)
    return docid, f"{title} {text}" if title else text


@dataclass(frozen=True)
class MiraclCorpus:
    """The corpus files per language, read as a stream (``corpus.Corpus``)."""

    files: dict[str, list[Path]]
    counts: dict[str, int]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.files)

    def count(self, lang: str) -> int:
        return self.counts[lang]

    def docs(self, lang: str) -> Iterator[tuple[Path, int, str, str]]:
        """(file, line, prefixed docid, text) in corpus order."""
        for path in self.files[lang]:
            for n, line in numbered_lines(path):
                if line.strip():
                    docid, text = _doc(path, n, line)
                    yield path, n, f"{lang}:{docid}", text

    def batches(self, lang: str, size: int) -> Iterator[Batch]:
        ids: list[str] = []
        texts: list[str] = []
        for _, _, docid, text in self.docs(lang):
            ids.append(docid)
            texts.append(text)
            if len(ids) == size:
                yield ids, texts
                ids, texts = [], []
        if ids:
            yield ids, texts

    def fingerprint(self, lang: str) -> str:
        return json.dumps(["miracl-v1.0", TEXT_JOIN, [(p.name, p.stat().st_size) for p in self.files[lang]]])


class MiraclTask:
    """Loader for one split of MIRACL (``dev`` by default: the split the paper and pyserini report)."""

    def __init__(self, split: str = "dev") -> None:
        self.metadata = MIRACL
        self.split = split

    def load(self, data_dir: str | Path | None = None, langs: Sequence[str] | None = None) -> StreamedCollection:
        meta = self.metadata
        chosen = check_languages(langs, meta.languages, meta.name)
        folder = data_dir or os.environ.get(meta.data_env)
        revisions = None
        if folder:
            root = Path(folder)
            if not root.is_dir():
                raise DataError(root, "miracl data folder does not exist")
            if not langs:  # no --langs: the languages the folder holds
                chosen = [lang for lang in chosen if (root / f"miracl-v1.0-{lang}").is_dir()]
                if not chosen:
                    raise DataError(root, "no miracl-v1.0-<lang> folders (see the layout in tasks/miracl.py)")
        else:
            root, revisions = download(chosen, self.split)
        q_ids: list[str] = []
        q_langs: list[str] = []
        q_texts: list[str] = []
        qrels: dict[str, dict[str, int]] = {}
        files: dict[str, list[Path]] = {}
        counts: dict[str, int] = {}
        hashes: dict[str, dict] = {}
        for lang in chosen:
            topics = _read_topics(topics_path(root, lang, self.split), lang)
            judged = _read_qrels(qrels_path(root, lang, self.split), lang, topics, qrels)
            files[lang] = corpus_files(root, lang)
            if not files[lang]:
                raise DataError(root / f"miracl-corpus-v1.0-{lang}", "no docs-<n>.jsonl.gz files")
            corpus = MiraclCorpus({lang: files[lang]}, {})
            seen = 0
            for _, _, docid, _ in corpus.docs(lang):
                seen += 1
                judged.pop(docid, None)
            if judged:
                docid, line = next(iter(judged.items()))
                raise DataError(qrels_path(root, lang, self.split),
                                f"doc {docid.split(':', 1)[1]!r} is not in the {lang} corpus "
                                f"({len(judged)} judged docs missing)", line=line)
            counts[lang] = seen
            for qid, text in topics.items():
                q_ids.append(qid)
                q_langs.append(lang)
                q_texts.append(text)
            hashes[lang] = {"topics_sha256": sha256_file(topics_path(root, lang, self.split)),
                            "qrels_sha256": sha256_file(qrels_path(root, lang, self.split)),
                            "corpus_files": [[p.name, p.stat().st_size] for p in files[lang]],
                            "docs": seen, "queries": len(topics)}
        source = {"task": meta.name, "split": self.split, "root": str(root), "doc_text": TEXT_JOIN,
                  "hub_revisions": revisions, "languages": hashes}
        return StreamedCollection(
            name=meta.name,
            languages=tuple(chosen),
            queries=TextTable(q_ids, q_langs, q_texts),
            query_groups=list(q_ids),  # MIRACL queries are not parallel across languages
            qrels=qrels,
            corpus=MiraclCorpus(files, counts),
            source=source,
        )


def _read_topics(path: Path, lang: str) -> dict[str, str]:
    topics: dict[str, str] = {}
    for n, line in numbered_lines(path):
        if not line.strip():
            continue
        qid, sep, text = line.partition("\t")
        if not sep or not qid.strip() or not text.strip():
            raise DataError(path, "expected 'qid<TAB>query' with both non-empty", line=n)
        key = f"{lang}:{qid.strip()}"
        if key in topics:
            raise DataError(path, f"duplicate query id {qid.strip()!r}", line=n)
        topics[key] = text.strip()
    if not topics:
        raise DataError(path, "no topics (an empty or cut-down file?)")
    return topics


def _read_qrels(path: Path, lang: str, topics: dict[str, str], qrels: dict[str, dict[str, int]]) -> dict[str, int]:
    """Add the judgments to ``qrels``; returns {judged doc id: first line naming it} to check
    against the corpus."""
    judged: dict[str, int] = {}
    for n, line in numbered_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            raise DataError(path, f"expected 4 fields 'qid Q0 docid rel', got {len(fields)}", line=n)
        qid, _, docid, rel = fields
        try:
            grade = int(rel)
        except ValueError:
            raise DataError(path, f"relevance {rel!r} is not an integer", line=n) from None
        key, doc = f"{lang}:{qid}", f"{lang}:{docid}"
        if key not in topics:
            raise DataError(path, f"query {qid!r} is not in the topics file", line=n)
        if doc in qrels.setdefault(key, {}):
            raise DataError(path, f"duplicate judgment of doc {docid!r} for query {qid!r}", line=n)
        qrels[key][doc] = grade
        judged.setdefault(doc, n)
    if not judged:
        raise DataError(path, "no judgments (an empty or cut-down file?)")
    return judged


def download(langs: Sequence[str], split: str) -> tuple[Path, dict[str, str]]:
    """Fetch the topics, qrels and corpus files of ``langs`` from the hub into the cache, laid
    out as a local folder; returns (folder, {repo: commit}). Needs ``huggingface_hub`` and,
    for the gated ``miracl/miracl``, a token that accepted its terms (``HF_TOKEN``)."""
    hint = (f"download {TOPICS_REPO} and {CORPUS_REPO} (hub datasets) into one folder and pass it "
            f"with --data-dir or ${MIRACL.data_env}")
    if offline():
        raise MlirbenchError(f"miracl: not available locally and offline mode is on; {hint}")
    try:
        from huggingface_hub import HfApi, snapshot_download
    except ImportError:
        raise MissingDependencyError(f"miracl from the hub needs huggingface_hub (pip install huggingface_hub); "
                                     f"or {hint}") from None
    root = cache_root() / "data" / "miracl"
    root.mkdir(parents=True, exist_ok=True)
    pin_file = root / "hub-pin.json"
    pins = json.loads(pin_file.read_text()) if pin_file.is_file() else {}
    patterns = {
        TOPICS_REPO: [str(p.relative_to(root)) for lang in langs
                      for p in (topics_path(root, lang, split), qrels_path(root, lang, split))],
        CORPUS_REPO: [f"miracl-corpus-v1.0-{lang}/docs-*.jsonl.gz" for lang in langs],
    }
    revisions = {}
    try:
        for repo, allow in patterns.items():
            revision = HUB_REVISIONS[repo] or pins.get(repo)
            if revision is None:
                revision = HfApi().dataset_info(repo).sha
            snapshot_download(repo, repo_type="dataset", revision=revision, allow_patterns=allow, local_dir=root)
            revisions[repo] = revision
    except Exception as exc:  # network, authentication (gated repo), missing files: one line
        raise MlirbenchError(f"miracl: hub download failed ({type(exc).__name__}: {exc}); {hint}") from None
    pin_file.write_text(json.dumps(dict(pins, **revisions), indent=2))
    return root, revisions


def miracl() -> MiraclTask:
    return MiraclTask("dev")
