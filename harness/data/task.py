"""Task metadata and the task protocol (in the spirit of mteb's TaskMetadata).

A task knows where its data comes from (pinned revision and hashes), its languages, its
settings and metrics, and how to load a ``Collection`` from a local folder or the pinned source.
Its metadata also says how it is reported (``leaderboard_metrics``, ``main_score`` in
``main_setting``): the leaderboard reads nothing task-specific from anywhere else.
Metadata that cannot describe a runnable task is refused when it is built (``TaskMetadata(...)``
raises ValueError), i.e. when the task module is imported.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, get_args

from mlirbench.data.collection import Collection

# The settings a task can evaluate, in the order they are reported everywhere (the one spelling).
SETTINGS: tuple[str, ...] = ("mono", "cross", "multi")
Retrieval = Literal["full", "topk"]


@dataclass(frozen=True)
class TaskMetadata:
    name: str
    description: str
    languages: tuple[str, ...]
    reference: str
    license: str
    source: str  # repository or hub id
    revision: str  # commit or hub revision the data is pinned to
    settings: tuple[str, ...] = SETTINGS
    metrics: tuple[str, ...] = ("map", "ndcg@10", "recall@1", "recall@10", "mrr@10")
    main_score: str = "map"
    save_depth: int = 10  # depth of the human-readable TREC run files
    data_env: str = ""  # environment variable naming a local data folder
    sha256: dict[str, str | None] = field(default_factory=dict)
    retrieval: Retrieval = "full"  # "full": one score matrix; "topk": top-``depth`` runs per language (topk.py)
    depth: int = 1000  # top-k depth of a "topk" task
    leaderboard_metrics: tuple[str, ...] = ("map", "recall@1", "recall@10")  # the leaderboard's columns
    main_setting: str = "multi"  # the setting whose main score orders the leaderboard

    def __post_init__(self) -> None:
        def check(ok: bool, problem: str) -> None:
            if not ok:
                raise ValueError(f"task {self.name!r}: {problem}")

        check(bool(self.settings) and all(s in SETTINGS for s in self.settings)
              and list(self.settings) == [s for s in SETTINGS if s in self.settings],
              f"settings {self.settings} must be a non-empty subset of {SETTINGS}, in that order")
        check(self.retrieval in get_args(Retrieval), f"retrieval {self.retrieval!r} is none of {get_args(Retrieval)}")
        check(self.retrieval != "topk" or tuple(self.settings) == ("mono",),
              f"a top-k task retrieves within each language: its settings must be ('mono',), not {self.settings}")
        check(self.main_score in self.metrics, f"main score {self.main_score!r} is not one of its metrics")
        check(bool(self.leaderboard_metrics) and set(self.leaderboard_metrics) <= set(self.metrics),
              f"leaderboard metrics {self.leaderboard_metrics} must be some of its metrics {self.metrics}")
        check(self.main_setting in self.settings, f"main setting {self.main_setting!r} is not one of its settings")
        check(bool(self.languages) and len(set(self.languages)) == len(self.languages),
              "languages must be non-empty and distinct")


class Task(Protocol):
    metadata: TaskMetadata

    def load(self, data_dir: str | Path | None = None, langs: Sequence[str] | None = None) -> Collection:
        """Load the collection from ``data_dir``, the environment variable, or the pinned source."""
        ...
