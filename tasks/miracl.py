"""MIRACL (Zhang et al. 2022, arXiv 2210.09984): monolingual ad-hoc retrieval over Wikipedia in
18 languages, evaluated per language (query language = corpus language) as in the paper.

Layout (local folder, the same as the two hub repositories side by side)::

    <dir>/miracl-v1.0-<lang>/topics/topics.miracl-v1.0-<lang>-<split>.tsv   qid<TAB>query
    <dir>/miracl-v1.0-<lang>/qrels/qrels.miracl-v1.0-<lang>-<split>.tsv     qid Q0 docid rel
    <dir>/miracl-corpus-v1.0-<lang>/docs-<n>.jsonl.gz                      {"docid", "title", "text"}

Document text, for every model alike: ``title + " " + text`` (just ``text`` when the title
is empty), the passage as pyserini's MIRACL indexes and mDPR see it (title first).
Ids are prefixed with the language (``en:123#4``): MIRACL doc ids are per-language Wikipedia ids.

The corpus is never loaded: ``load`` reads it once as a stream to validate every line, count the
docs, refuse a doc id given twice (within a file or across docs-N files), check that the qrels
name only docs that exist and take the sha256 of its content (for English, 33M lines: minutes, and
small next to encoding it); retrieval streams it again (``corpus.py``). That content hash is the
corpus's fingerprint, which keys the BM25 indexes and dense shards and is recorded in the source,
so a file whose content changes (even keeping its name and size) is never served from a cache.

Pinned by content: ``miracl-v1.0.json`` (written by ``scripts/miracl_manifest.py`` from the
published ir_datasets package) holds the md5 of every v1.0 file and the doc, query and judgment
counts. A hub download is refused file by file (and the file deleted) unless it matches;
the hub commit it came from is recorded as provenance only. A local folder may hold fixtures or
subsets: it is accepted, and the source records per language whether it is the published v1.0
data (``published_v1_0``) and, if not, why (``differs``).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlirbench._io.cache import cache_root, offline
from mlirbench._io.hashing import md5_file, sha256_file
from mlirbench._io.lines import json_object, numbered_lines
from mlirbench.data.collection import TextTable
from mlirbench.data.corpus import Batch, StreamedCollection
from mlirbench.data.task import TaskMetadata
from mlirbench.errors import DataError, MissingDependencyError, MlirbenchError
from mlirbench.names import check_languages

TEXT_JOIN = "title + ' ' + text (text alone when the title is empty)"
TOPICS_REPO = "miracl/miracl"
CORPUS_REPO = "miracl/miracl-corpus"
# Hub commits to download. None (the commits could not be learnt): resolve the branch head at the
# first download, keep that commit in the cache (hub-pin.json) for every later download and record
# it in each result, as provenance. What pins the data is the content: MANIFEST's md5 of each file.
HUB_REVISIONS: dict[str, str | None] = {TOPICS_REPO: None, CORPUS_REPO: None}
MANIFEST = Path(__file__).with_name("miracl-v1.0.json")

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
    leaderboard_metrics=("ndcg@10", "recall@100"),
    main_setting="mono",
    save_depth=100,
    data_env="MLIRBENCH_MIRACL_DIR",
    retrieval="topk",
    depth=1000,  # as pyserini's MIRACL 2CR runs (--hits 1000); map is AP over these 1000
)


def topics_path(root: Path, lang: str, split: str) -> Path:
    return root / f"miracl-v1.0-{lang}" / "topics" / f"topics.miracl-v1.0-{lang}-{split}.tsv"


def qrels_path(root: Path, lang: str, split: str) -> Path:
    return root / f"miracl-v1.0-{lang}" / "qrels" / f"qrels.miracl-v1.0-{lang}-{split}.tsv"


def corpus_dir(root: Path, lang: str) -> Path:
    return root / f"miracl-corpus-v1.0-{lang}"


def corpus_files(root: Path, lang: str) -> list[Path]:
    """``docs-<n>.jsonl(.gz)`` in numeric order (docs-2 before docs-10)."""
    files = [p for p in corpus_dir(root, lang).glob("docs-*.jsonl*")
             if re.fullmatch(r"docs-\d+\.jsonl(\.gz)?", p.name)]
    return sorted(files, key=lambda p: int(p.name.split("-")[1].split(".")[0]))


@functools.cache
def manifest() -> dict:
    """The published v1.0 files and counts, read on first use rather than at import."""
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def _published(lang: str, split: str) -> tuple[dict, dict] | None:
    """(language entry, split entry) of the manifest, None where it has no such language or split."""
    entry = manifest()["languages"].get(lang)
    if entry is None or split not in entry["splits"]:
        return None
    return entry, entry["splits"][split]


def pinned_files(lang: str, split: str) -> dict[str, dict[str, str]]:
    """{hub repo: {path relative to the data root: md5}} of the published files one language and
    split needs; one the manifest lacks is an error (nothing to check it against)."""
    published = _published(lang, split)
    if published is None or published[1]["qrels"] is None:
        entry = manifest()["languages"].get(lang, {"splits": {}})
        judged = [s for s, e in entry["splits"].items() if e["qrels"]]
        raise MlirbenchError(f"miracl: no published {lang} {split} topics and qrels in {MANIFEST.name} "
                             f"(splits with qrels: {', '.join(judged) or 'none'})")
    entry, split_entry = published
    corpus = corpus_dir(Path(), lang).as_posix()
    return {
        TOPICS_REPO: dict([split_entry["topics"], split_entry["qrels"]]),
        CORPUS_REPO: {f"{corpus}/{name}": md5 for name, md5 in entry["corpus"]},
    }


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
    sha256: dict[str, str] = field(default_factory=dict)  # per language: of the docs' ids and texts

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
        return json.dumps(["miracl-v1.0", TEXT_JOIN, self.sha256[lang]])

    def scan(self, lang: str, judged: dict[str, int]) -> tuple[int, str]:
        """One pass over the docs of ``lang``: (count, sha256 of ids and texts); removes every doc
        found from ``judged`` and refuses a doc id given twice, naming both places."""
        digest = hashlib.sha256()
        keys = array("q")  # the id's hash: 8 bytes per doc, not a set of 33M strings
        for _, _, docid, text in self.docs(lang):
            digest.update(f"{docid}\0{text}\0".encode())
            keys.append(hash(docid))
            judged.pop(docid, None)
        ordered = np.sort(np.frombuffer(keys, dtype=np.int64))
        if len(ordered) and (ordered[1:] == ordered[:-1]).any():
            self._refuse_duplicate(lang, set(ordered[1:][ordered[1:] == ordered[:-1]].tolist()))
        return len(keys), digest.hexdigest()

    def _refuse_duplicate(self, lang: str, suspects: set[int]) -> None:
        """Second pass over the docs whose id hash is not unique: the first id seen twice is an error
        (equal hashes of distinct ids are let through)."""
        first: dict[str, tuple[Path, int]] = {}
        for path, n, docid, _ in self.docs(lang):
            if hash(docid) in suspects:
                if docid in first:
                    where = first[docid]
                    raise DataError(path, f"duplicate doc id {docid.split(':', 1)[1]!r} (first at "
                                          f"{where[0].name}:{where[1]})", line=n)
                first[docid] = (path, n)


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
        sha256: dict[str, str] = {}
        for lang in chosen:
            topics = _read_topics(topics_path(root, lang, self.split), lang)
            judged = _read_qrels(qrels_path(root, lang, self.split), lang, topics, qrels)
            files[lang] = corpus_files(root, lang)
            if not files[lang]:
                raise DataError(corpus_dir(root, lang), "no docs-<n>.jsonl.gz files")
            seen, sha256[lang] = MiraclCorpus({lang: files[lang]}, {}).scan(lang, judged)
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
            judgments = sum(len(qrels[qid]) for qid in topics if qid in qrels)
            # Downloaded files were checked against the manifest already: no second hashing pass.
            differs = _differences(root, lang, self.split, files[lang], (seen, len(topics), judgments),
                                   hash_files=revisions is None)
            hashes[lang] = {"topics_sha256": sha256_file(topics_path(root, lang, self.split)),
                            "qrels_sha256": sha256_file(qrels_path(root, lang, self.split)),
                            "corpus_files": [[p.name, p.stat().st_size] for p in files[lang]],
                            "corpus_sha256": sha256[lang],
                            "docs": seen, "queries": len(topics), "judgments": judgments,
                            "published_v1_0": not differs, "differs": differs}
        source = {"task": meta.name, "split": self.split, "root": str(root), "doc_text": TEXT_JOIN,
                  "hub_revisions": revisions, "languages": hashes,
                  "content_pin": f"{MANIFEST.name} (md5 from {manifest()['source']['package']})"}
        return StreamedCollection(
            name=meta.name,
            languages=tuple(chosen),
            queries=TextTable(q_ids, q_langs, q_texts),
            query_groups=list(q_ids),  # MIRACL queries are not parallel across languages
            qrels=qrels,
            corpus=MiraclCorpus(files, counts, sha256),
            source=source,
        )


def _short(names: list[str], most: int = 3) -> str:
    return ", ".join(names[:most]) + (f" (+{len(names) - most} more)" if len(names) > most else "")


def _differences(root: Path, lang: str, split: str, files: list[Path], counts: tuple[int, int, int],
                 hash_files: bool) -> list[str]:
    """Why one language and split of a folder is not the published v1.0 data ([] when it is).
    File names and the (docs, queries, judgments) counts of the load pass come first: the md5 of
    GBs of corpus is computed only when nothing else differs."""
    published = _published(lang, split)
    if published is None:
        return [f"{lang} {split} is not in {MANIFEST.name}"]
    entry, split_entry = published
    expected = dict(entry["corpus"])
    have = {p.name: p for p in files}
    reasons = []
    if missing := [n for n in expected if n not in have]:
        reasons.append(f"corpus lacks {len(missing)} of {len(expected)} published files")
    if extra := [n for n in have if n not in expected]:
        reasons.append(f"unpublished corpus files: {_short(extra)}")
    published_counts = (entry["docs"], split_entry["queries"], split_entry["qrels_count"])
    pairs = zip(("docs", "queries", "judgments"), counts, published_counts)
    reasons += [f"{what} {got} != published {want}" for what, got, want in pairs if got != want]
    if reasons or not hash_files:
        return reasons
    checks = [(have[n], md5) for n, md5 in expected.items()]
    checks += [(root / rel, md5) for rel, md5 in (split_entry["topics"], split_entry["qrels"])]
    if wrong := [p.name for p, md5 in checks if md5_file(p) != md5]:
        reasons.append(f"md5 differs: {_short(wrong)}")
    return reasons


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


def hub_fetch(repo: str, revision: str | None, files: list[str], dest: Path) -> str:
    """Download ``files`` (paths in the dataset repo) of ``repo`` at ``revision`` (None: the
    branch head) into ``dest``; returns the commit. One function, so tests can replace the hub."""
    from huggingface_hub import HfApi, snapshot_download
    revision = revision or HfApi().dataset_info(repo).sha
    snapshot_download(repo, repo_type="dataset", revision=revision, allow_patterns=files, local_dir=dest)
    return revision


def download(langs: Sequence[str], split: str) -> tuple[Path, dict[str, str]]:
    """Fetch the topics, qrels and corpus files of ``langs`` from the hub into the cache, laid
    out as a local folder, and check the md5 of each against the manifest, on every run (seconds
    per GB: small next to the load pass); returns (folder, {repo: commit}).
    Needs ``huggingface_hub`` and, for the gated ``miracl/miracl``, a token that accepted its
    terms (``HF_TOKEN``)."""
    hint = (f"download {TOPICS_REPO} and {CORPUS_REPO} (hub datasets) into one folder and pass it "
            f"with --data-dir or ${MIRACL.data_env}")
    if offline():
        raise MlirbenchError(f"miracl: not available locally and offline mode is on; {hint}")
    pinned = [pinned_files(lang, split) for lang in langs]
    root = cache_root() / "data" / "miracl"
    root.mkdir(parents=True, exist_ok=True)
    pin_file = root / "hub-pin.json"
    pins = json.loads(pin_file.read_text()) if pin_file.is_file() else {}
    revisions = {}
    try:
        for repo in (TOPICS_REPO, CORPUS_REPO):
            files = [rel for per_lang in pinned for rel in per_lang[repo]]  # exact paths: nothing unpinned
            revisions[repo] = hub_fetch(repo, HUB_REVISIONS[repo] or pins.get(repo), files, root)
    except ImportError:
        raise MissingDependencyError(f"miracl from the hub needs huggingface_hub (pip install huggingface_hub); "
                                     f"or {hint}") from None
    except Exception as exc:  # network, authentication (gated repo), missing files: one line
        raise MlirbenchError(f"miracl: hub download failed ({type(exc).__name__}: {exc}); {hint}") from None
    pin_file.write_text(json.dumps(dict(pins, **revisions), indent=2))
    for lang, per_lang in zip(langs, pinned):
        names = {Path(rel).name for rel in per_lang[CORPUS_REPO]}
        for path in corpus_files(root, lang):  # a docs file the manifest lacks (an older download): never read
            if path.name not in names:
                path.unlink()
        for rel, md5 in {**per_lang[TOPICS_REPO], **per_lang[CORPUS_REPO]}.items():
            _check_download(root / rel, md5)
    return root, revisions


def _check_download(path: Path, md5: str) -> None:
    """A downloaded file that is not the published one is deleted (the next run fetches it
    again) and refused."""
    if not path.is_file():
        raise DataError(path, f"not downloaded, though {MANIFEST.name} lists it")
    got = md5_file(path)
    if got != md5:
        path.unlink()
        raise DataError(path, f"md5 {got} != pinned {md5} (miracl v1.0 manifest); deleted: run again to "
                              f"re-download, or pass a folder with --data-dir")


def miracl() -> MiraclTask:
    return MiraclTask("dev")
