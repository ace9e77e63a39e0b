"""Result records: ``results/<model>/<task>.json`` plus a ranks file and gzipped TREC runs.

The record is the ``Record`` TypedDict below, schema version ``SCHEMA_VERSION`` (1); it is built
in one place (``build_record``, from a run's ``Outcome``), written by ``write_record`` (which adds
``schema_version`` and ``run_files``) and read back through ``load_record``, which checks its
shape, so that readers (leaderboard, compare, regress, the CLI) can rely on every field below.
A change to what a field means, or a field removed, needs a new schema version; a new optional
field (in ``_Optional``) does not. Scores that are undefined (NaN) are written as null.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from filelock import FileLock

from mlirbench._io.atomic import write_json
from mlirbench._io.cache import cache_root
from mlirbench._io.hashing import sha256_file
from mlirbench._io.paths import check_writable
from mlirbench.data.collection import Collection
from mlirbench.data.task import SETTINGS, TaskMetadata
from mlirbench.errors import DataError

if TYPE_CHECKING:
    from mlirbench.evaluation.evaluate import Outcome
    from mlirbench.evaluation.ranking import ViewRanking

SCHEMA_VERSION = 1
TREC_SETTINGS = ("mono", "multi")  # settings with a TREC run beside the record (cross: too many corpora)

Scores = dict[str, float | None]  # metric (ranx name, plus n_views and rank_distance in aggregates) -> value


class ModelBlock(TypedDict):
    name: str  # registry name
    slug: str  # folder under results/
    arguments: dict[str, Any]  # adapter arguments as given
    metadata: dict[str, Any]  # the adapter's own description (weights hash, analyzers, dtype...)


class TaskBlock(TypedDict):
    name: str
    revision: str
    source: str
    languages: list[str]  # evaluated
    all_languages: list[str]  # the task's (a record is complete when they are equal)
    metrics: list[str]
    main_score: str
    save_depth: int
    counts: dict[str, int]  # queries, docs (the whole corpus)


class PairMatrix(TypedDict):
    metric: str
    rows: list[str]  # query languages
    cols: list[str]  # corpus languages, then the pooled corpus
    values: list[list[float | None]]


class RunFile(TypedDict):
    path: str  # beside the record
    sha256: str


class _Optional(TypedDict, total=False):
    retrieval: dict[str, Any]  # top-k tasks only: depth, shards, FAISS, Ray


class Record(_Optional):
    model: ModelBlock
    task: TaskBlock
    aggregate: dict[str, Scores]  # setting -> mean over its views
    views: dict[str, dict[str, Scores]]  # setting -> view key (<query lang>-<corpus>) -> scores
    pair_matrix: PairMatrix  # of the main score
    rank_distance: dict[str, Any]
    data: dict[str, Any]  # the data's provenance (file sha256s, pinned source)
    provenance: dict[str, Any]  # code, packages, machine, command, timings, inputs_sha256
    schema_version: int
    run_files: dict[str, RunFile]  # "ranks", and one per setting of TREC_SETTINGS present


_REQUIRED = {"model": ModelBlock, "task": TaskBlock, "aggregate": None, "views": None, "pair_matrix": None,
             "rank_distance": None, "data": None, "provenance": None, "run_files": None}


def build_record(model: ModelBlock, meta: TaskMetadata, outcome: Outcome, provenance: dict[str, Any]) -> Record:
    """The record of one run (without ``schema_version`` and ``run_files``, which ``write_record``
    adds once the side files exist)."""
    ev, collection = outcome.evaluation, outcome.collection
    task: TaskBlock = {"name": meta.name, "revision": meta.revision, "source": meta.source,
                       "languages": list(collection.languages), "all_languages": list(meta.languages),
                       "metrics": list(meta.metrics), "main_score": meta.main_score, "save_depth": meta.save_depth,
                       "counts": {"queries": len(collection.queries), "docs": outcome.n_docs}}
    return {"model": model, "task": task, **({"retrieval": outcome.retrieval} if outcome.retrieval else {}),
            "aggregate": ev.aggregate, "views": ev.views, "pair_matrix": ev.pair_matrix,
            "rank_distance": ev.rank_distance, "data": collection.source, "provenance": provenance}  # type: ignore[typeddict-item]


def settings(record: Record) -> list[str]:
    """The settings the record holds scores for, in the order of ``SETTINGS``."""
    return [s for s in SETTINGS if s in record["aggregate"]]


def score(record: Record, setting: str, metric: str, view: str | None = None) -> float | None:
    """One number of a record: a setting's aggregate, or one view's score; None if absent or undefined."""
    scores = record["aggregate"].get(setting, {}) if view is None else record["views"].get(setting, {}).get(view, {})
    value = scores.get(metric)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def is_complete(record: Record) -> bool:
    """Evaluated on all of its task's languages (only such records join a leaderboard table)."""
    return record["task"]["languages"] == record["task"]["all_languages"]


def record_path(root: Path, model_slug: str, stem: str) -> Path:
    return Path(root) / model_slug / f"{stem}.json"


def side_path(record: Path, kind: str) -> Path:
    """Files beside a record: ``<stem>.ranks.tsv.gz`` and ``<stem>.<setting>.trec.gz``."""
    suffix = "ranks.tsv.gz" if kind == "ranks" else f"{kind}.trec.gz"
    return record.with_name(f"{record.stem}.{suffix}")


def run_file(record_path: Path, record: Record, kind: str) -> Path:
    """A side file of a loaded record: the name its ``run_files`` entry gives, else the default."""
    name = record.get("run_files", {}).get(kind, {}).get("path")
    return record_path.with_name(name) if name else side_path(record_path, kind)


def _clean(obj):
    """JSON has no NaN: undefined scores are written as null."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def record_files(path: Path, settings: tuple[str, ...] = TREC_SETTINGS) -> list[Path]:
    """The record and the side files beside it (``settings``: those with a TREC run), record last."""
    return [side_path(path, "ranks"), *(side_path(path, s) for s in settings), path]


def check_record_files(path: Path) -> None:
    """Every file a record at ``path`` writes can be written: checked before any work (runner) and
    again before writing, so that a record and its side files appear together or not at all."""
    for target in record_files(path):
        check_writable(target, folder=False, what="result file")


def write_record(path: Path, record: Record, rankings: dict[str, list[ViewRanking]], collection: Collection,
                 tag: str, trec_settings: tuple[str, ...] = TREC_SETTINGS) -> Path:
    """Write the side files, then the record naming them (with sha256s), each atomically and
    under a lock so that two runs writing the same result never interleave; a write that fails
    removes the side files it wrote (no side files without their record)."""
    from mlirbench.records.side_files import write_ranks, write_trec  # numba kernels: not needed to read records
    check_record_files(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16] + ".lock"
    (cache_root() / "locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_root() / "locks" / lock_name)):
        files = {}
        written: list[Path] = []
        try:
            ranks = side_path(path, "ranks")
            write_ranks(ranks, rankings, collection)
            written.append(ranks)
            files["ranks"] = {"path": ranks.name, "sha256": sha256_file(ranks)}
            for setting in trec_settings:
                if setting in rankings:
                    rp = side_path(path, setting)
                    write_trec(rp, rankings[setting], collection, tag)
                    written.append(rp)
                    files[setting] = {"path": rp.name, "sha256": sha256_file(rp)}
            record = dict(record, schema_version=SCHEMA_VERSION, run_files=files)
            write_json(path, _clean(record))
        except BaseException:
            for side in written:
                side.unlink(missing_ok=True)
            raise
    return path


def load_record(path: Path) -> Record:
    """A record, checked to have the fields of ``Record`` (one DataError naming the file otherwise)."""
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed result record: {exc.msg}", line=exc.lineno) from None
    if not isinstance(record, dict) or record.get("schema_version") != SCHEMA_VERSION:
        raise DataError(path, f"not a mlirbench result record of schema version {SCHEMA_VERSION}")
    for key, block in _REQUIRED.items():
        if not isinstance(record.get(key), dict):
            raise DataError(path, f"result record without {key!r}")
        missing = [k for k in (block.__required_keys__ if block else ()) if k not in record[key]]
        if missing:
            raise DataError(path, f"result record: {key} lacks {', '.join(missing)}")
    return record  # type: ignore[return-value]


EXPERIMENT = "experiment.json"  # manifest of an experiment folder: results/<experiment>/<model>/<task>.json
# a trained model's training metadata (written by ``mlirbench train``); the study grid copies it beside the
# model's records, so it is a side file of a record folder, not a record
TRAINING_METADATA = "mlirbench_training.json"


def iter_records(root: Path) -> Iterator[tuple[Path, Record]]:
    """All records directly under ``root`` (``<model>/<task>.json``) in a stable order."""
    for path in sorted(Path(root).glob("*/*.json")):
        if path.name not in (EXPERIMENT, TRAINING_METADATA):
            yield path, load_record(path)
