"""Contracts over the registry and the task metadata: what every registered task and model must
satisfy, checked on all of them, so that adding one is its file plus one registry line (plus, for a
task, a fixture builder in FIXTURES)."""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from lareqa_fixture import write_dataset
from miracl_fixture import write_miracl

from mlirbench.data.task import SETTINGS, TaskMetadata
from mlirbench.registry import MODELS, TASKS, build_model, get_task, parse_model
from mlirbench.retrieval.arguments import declared
from mlirbench.tasks.lareqa import XQUAD_R
from mlirbench.tasks.miracl import MIRACL


def meta(**changes) -> TaskMetadata:
    base = dict(name="t", description="", languages=("aa", "bb"), reference="", license="", source="", revision="")
    return TaskMetadata(**{**base, **changes})


def test_defaults_describe_a_lareqa_task() -> None:
    m = meta()
    assert m.settings == SETTINGS and m.retrieval == "full" and m.main_setting == "multi"
    assert set(m.leaderboard_metrics) <= set(m.metrics) and m.main_score in m.metrics


@pytest.mark.parametrize("settings", [("cross",), ("mono", "cross"), ("mono", "cross", "multi")])
def test_topk_task_with_settings_other_than_mono_is_rejected_when_built(settings) -> None:
    with pytest.raises(ValueError, match="top-k task retrieves within each language"):
        meta(retrieval="topk", settings=settings, main_setting=settings[-1])
    with pytest.raises(ValueError, match="top-k task"):
        replace(MIRACL, settings=settings)


@pytest.mark.parametrize("changes, problem", [
    ({"retrieval": "sparse"}, "retrieval 'sparse' is none of"),
    ({"settings": ("multi", "mono")}, "in that order"),
    ({"settings": ("mono", "bilingual")}, "subset of"),
    ({"settings": ()}, "non-empty subset"),
    ({"main_score": "ndcg@100"}, "main score 'ndcg@100' is not one of its metrics"),
    ({"leaderboard_metrics": ("map", "recall@100")}, "leaderboard metrics"),
    ({"settings": ("mono", "cross")}, "main setting 'multi' is not one of its settings"),
    ({"languages": ("aa", "aa")}, "distinct"),
])
def test_inconsistent_metadata_is_rejected_when_built(changes, problem) -> None:
    with pytest.raises(ValueError, match=problem):
        meta(**changes)
    with pytest.raises(ValueError, match=problem):
        replace(XQUAD_R, **changes)


def test_mono_only_topk_metadata_is_accepted() -> None:
    m = meta(retrieval="topk", settings=("mono",), main_setting="mono", metrics=("ndcg@10", "recall@100"),
             main_score="ndcg@10", leaderboard_metrics=("ndcg@10", "recall@100"))
    assert m.retrieval == "topk" and MIRACL.settings == ("mono",)


# --- the registry ---------------------------------------------------------------------------





def _lareqa_fixture(root: Path) -> tuple[Path, list[str]]:
    langs = ["de", "en", "zh"]
    return write_dataset(root, langs), langs


def _miracl_fixture(root: Path) -> tuple[Path, list[str]]:
    langs = ["en", "de"]
    return write_miracl(root, langs=tuple(langs)), langs


# A fixture per registered task: (folder in the task's layout, languages it holds). A new task needs
# one here (test_every_task_has_a_fixture), so that every contract below covers it.
FIXTURES = {"xquad-r": _lareqa_fixture, "mlqa-r": _lareqa_fixture, "xquad": _lareqa_fixture, "miracl": _miracl_fixture}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_metadata_validates(name: str) -> None:
    entry = TASKS[name]
    assert entry.summary.strip() and entry.target.count(":") == 1
    task = get_task(name)
    meta = task.metadata
    assert isinstance(meta, TaskMetadata) and meta.name == name  # the record's task name is the registry's
    assert replace(meta) == meta  # rebuilding runs every check of TaskMetadata.__post_init__
    assert meta.data_env.startswith("MLIRBENCH_") and meta.data_env.endswith("_DIR")
    assert meta.description and meta.reference and meta.license and meta.source and meta.revision
    assert set(meta.sha256) <= set(meta.languages)
    assert meta.save_depth > 0 and (meta.retrieval == "full" or meta.depth >= 100)
    assert callable(getattr(task, "load", None))
    json.dumps(asdict(meta))  # part of every record's inputs key: must serialize


def test_every_task_has_a_fixture() -> None:
    assert set(FIXTURES) == set(TASKS), "add a fixture builder for each new task to FIXTURES"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_loads_its_fixture(name: str, tmp_path: Path, monkeypatch) -> None:
    """From --data-dir and from its data variable, with every language present."""
    folder, langs = FIXTURES[name](tmp_path / name)
    task = get_task(name)
    collection = task.load(folder, langs)
    assert list(collection.languages) == [lang for lang in task.metadata.languages if lang in langs]
    assert len(collection.queries) > 0 and collection.qrels
    assert set(collection.qrels) <= set(collection.queries.ids)
    assert collection.source  # recorded as the record's data provenance
    json.dumps(collection.source)
    monkeypatch.setenv(task.metadata.data_env, str(folder))
    again = task.load(None, langs)
    assert again.queries.ids == collection.queries.ids and again.qrels == collection.qrels


def _adapter(name: str):
    """The adapter class, imported as the registry does; skipped where an optional dependency
    (pyserini, torch, sentence-transformers...) is not installed."""
    try:
        return MODELS[name].load()
    except ImportError as exc:
        pytest.skip(f"model {name}: optional dependency {exc.name or exc} is not installed")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_entry_is_described_and_loadable(name: str) -> None:
    entry = MODELS[name]
    module, _, attr = entry.target.partition(":")
    assert entry.summary.strip() and module.startswith("mlirbench.adapters.") and attr
    assert importlib.util.find_spec(module) is not None, f"{entry.target}: no such module"
    cls = _adapter(name)
    assert callable(cls) and callable(getattr(cls, "metadata", None)), f"{name}: no metadata()"
    encoder = callable(getattr(cls, "encode", None))
    searcher = callable(getattr(cls, "index", None)) and callable(getattr(cls, "search", None))
    assert encoder != searcher, f"{name}: must implement exactly one of the Encoder and Searcher protocols"
    packages = getattr(cls, "PACKAGES", None)  # provenance and the up-to-date key (retrieval/arguments.py)
    assert isinstance(packages, tuple) and all(isinstance(p, str) and p for p in packages), f"{name}: PACKAGES"
    assert isinstance(declared(cls), dict), f"{name}: no argument declaration (@adapter)"


def test_a_model_built_through_the_registry_describes_itself() -> None:
    model = build_model(parse_model("random"), progress=False)
    meta = model.metadata()
    assert isinstance(meta, dict) and meta.get("name") == model.name == "random"
    json.dumps(meta)  # kept in the record and in its inputs key


def test_conftest_clears_every_task_data_variable() -> None:
    assert not any(get_task(name).metadata.data_env in os.environ for name in TASKS)
