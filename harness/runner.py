"""``mlirbench run``: load task, build model, score, evaluate, write the record.

A record is a function of its inputs: the model (registry arguments and adapter metadata: weights
hash, analyzers, dtype...), the task definition, the data (file sha256s), the top-k options, the
code (every source file of the mlirbench package) and the versions of the packages that compute
scores (the harness's and those the model's adapter declares). Their sha256 is kept in the record
(``provenance.inputs_sha256``); a run whose record already exists with the same inputs and intact
side files is up to date and stops there (like make), unless ``cache=False`` (``--no-cache``).
This is what makes a warm rerun cheap: the embedding cache saves the encoding, this saves the
evaluation and the writing.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from mlirbench._io.cache import refreshed
from mlirbench._io.hashing import sha256_file
from mlirbench.errors import DataError
from mlirbench.records.provenance import package_versions, provenance
from mlirbench.records.record import (
    build_record,
    check_record_files,
    load_record,
    record_path,
    run_file,
    write_record,
)
from mlirbench.registry import ModelSpec, build_model, get_task
from mlirbench.retrieval.embedding_cache import model_identity
from mlirbench.retrieval.protocols import Encoder, Searcher
from mlirbench.retrieval.scale import ScaleOptions


def run(spec: ModelSpec, task_name: str, *, data_dir: str | None = None, langs: Sequence[str] | None = None,
        output: Path = Path("results"), progress: bool = True, cache: bool = True,
        argv: list[str] | None = None, scale: ScaleOptions = ScaleOptions()) -> Path:
    """``scale`` applies to top-k tasks only (sharded encoding, FAISS, Ray); full tasks ignore it."""
    start = time.perf_counter()
    task = get_task(task_name)  # fail fast on unknown names before any heavy work
    collection = task.load(data_dir, langs)  # and on bad data, before loading a model
    model = build_model(spec, progress)
    meta = task.metadata
    subset = list(collection.languages) != list(meta.languages)
    path = record_path(output, spec.slug, f"{meta.name}.{'-'.join(collection.languages)}" if subset else meta.name)
    check_record_files(path)  # a result that cannot be written fails now, not after the evaluation
    key = inputs_sha256(spec, meta, collection.source, model, scale if meta.retrieval == "topk" else None)
    if cache and up_to_date(path, key):
        print(f"mlirbench: {path} is up to date (same model, task, data, options and code); "
              "--no-cache recomputes it", file=sys.stderr)
        return path
    # the evaluation stack (ranx, numba kernels) is imported only when there is something to compute
    from mlirbench.evaluation.evaluate import evaluate_full
    from mlirbench.evaluation.topk import evaluate_topk

    with refreshed(not cache):  # --no-cache: every cache (embeddings, shards, BM25 indexes) is rebuilt
        if meta.retrieval == "topk":  # corpus streamed, never a score matrix (topk.py)
            outcome = evaluate_topk(model, collection, meta, options=scale,
                                    factory=partial(build_model, spec, progress=False), progress=progress)
        else:
            outcome = evaluate_full(model, collection, meta, progress=progress)
    prov = dict(provenance(argv, spec.packages), finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                timings=dict(outcome.timings, total_s=time.perf_counter() - start), inputs_sha256=key,
                embedding_cache=outcome.embedding_cache)
    record = build_record({"name": spec.name, "slug": spec.slug, "arguments": spec.kwargs,
                           "metadata": outcome.model_metadata}, meta, outcome, prov)
    return write_record(path, record, outcome.evaluation.rankings, outcome.collection, tag=spec.slug)


def code_sha256() -> str:
    """sha256 over the source files of the mlirbench package (harness, adapters, tasks), found
    without importing them."""
    h = hashlib.sha256()
    for package in ("mlirbench", "mlirbench.adapters", "mlirbench.tasks"):
        spec = importlib.util.find_spec(package)
        root = Path(next(iter(spec.submodule_search_locations)))
        for file in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".json") and p.is_file()):
            h.update(f"{package}/{file.relative_to(root).as_posix()}\0".encode())
            h.update(file.read_bytes())
    return h.hexdigest()


def inputs_sha256(spec: ModelSpec, meta, source: dict, model: Encoder | Searcher, scale: ScaleOptions | None) -> str:
    """The sha256 of everything a record is a function of (module docstring): the model by its
    result-changing arguments and its metadata without the result-neutral ones, the packages the
    harness and the model's adapter declare."""
    inputs = {"model": [spec.name, spec.result_arguments, model_identity(model)], "task": dataclasses.asdict(meta),
              "data": source, "scale": dataclasses.asdict(scale) if scale is not None else None,
              "code": code_sha256(), "packages": package_versions(spec.packages)}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def up_to_date(path: Path, key: str) -> bool:
    """The record at ``path`` was computed from inputs ``key`` and its side files are intact."""
    if not path.is_file():
        return False
    try:
        record = load_record(path)
    except DataError:
        return False
    if record["provenance"].get("inputs_sha256") != key:
        return False
    for kind, entry in record["run_files"].items():
        side = run_file(path, record, kind)
        if not side.is_file() or sha256_file(side) != entry.get("sha256"):
            return False
    return True
