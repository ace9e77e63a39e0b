"""Result records: ``results/<model>/<task>.json`` plus one gzipped TREC run per setting.

Schema (``schema_version`` 1): model (registry name, spec, arguments, adapter metadata), task
(name, revision, languages, metrics, main score), aggregate scores per setting, scores per view,
the language-pair matrix of the main score, rank distance, the side files (runfiles.py) with
their sha256, data provenance (file sha256s), code and machine provenance, timings.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from mlirbench._io.atomic import write_json
from mlirbench._io.cache import cache_root
from mlirbench._io.hashing import sha256_file
from mlirbench.data.collection import Collection
from mlirbench.errors import DataError

if TYPE_CHECKING:
    from mlirbench.evaluation.ranking import ViewRanking

SCHEMA_VERSION = 1


def record_path(root: Path, model_slug: str, stem: str) -> Path:
    return Path(root) / model_slug / f"{stem}.json"


def side_path(record: Path, kind: str) -> Path:
    """Files beside a record: ``<stem>.ranks.tsv.gz`` and ``<stem>.<setting>.trec.gz``."""
    suffix = "ranks.tsv.gz" if kind == "ranks" else f"{kind}.trec.gz"
    return record.with_name(f"{record.stem}.{suffix}")


def run_file(record_path: Path, record: dict, kind: str) -> Path:
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


def write_record(path: Path, record: dict, rankings: dict[str, list[ViewRanking]], collection: Collection,
                 tag: str, trec_settings: tuple[str, ...] = ("mono", "multi")) -> Path:
    """Write the side files, then the record naming them (with sha256s), each atomically and
    under a lock so that two runs writing the same result never interleave."""
    from mlirbench.records.side_files import write_ranks, write_trec  # numba kernels: not needed to read records
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16] + ".lock"
    (cache_root() / "locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_root() / "locks" / lock_name)):
        files = {}
        ranks = side_path(path, "ranks")
        write_ranks(ranks, rankings, collection)
        files["ranks"] = {"path": ranks.name, "sha256": sha256_file(ranks)}
        for setting in trec_settings:
            if setting in rankings:
                rp = side_path(path, setting)
                write_trec(rp, rankings[setting], collection, tag)
                files[setting] = {"path": rp.name, "sha256": sha256_file(rp)}
        record = dict(record, schema_version=SCHEMA_VERSION, run_files=files)
        write_json(path, _clean(record))
    return path


def load_record(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed result record: {exc.msg}", line=exc.lineno) from None
    if not isinstance(record, dict) or record.get("schema_version") != SCHEMA_VERSION:
        raise DataError(path, f"not a mlirbench result record of schema version {SCHEMA_VERSION}")
    return record


EXPERIMENT = "experiment.json"  # manifest of an experiment folder: results/<experiment>/<model>/<task>.json


def iter_records(root: Path):
    """All records directly under ``root`` (``<model>/<task>.json``) in a stable order."""
    for path in sorted(Path(root).glob("*/*.json")):
        if path.name != EXPERIMENT:
            yield path, load_record(path)
