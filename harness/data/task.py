"""Task metadata and the task protocol (in the spirit of mteb's TaskMetadata).

A task knows where its data comes from (pinned revision and hashes), its languages, its
settings and metrics, and how to load a ``Collection`` from a local folder or the pinned source.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mlirbench.data.collection import Collection

SETTINGS = ("mono", "cross", "multi")


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
    retrieval: str = "full"  # "full": one score matrix; "topk": top-``depth`` runs per language (topk.py)
    depth: int = 1000  # top-k depth of a "topk" task


class Task(Protocol):
    metadata: TaskMetadata

    def load(self, data_dir: str | Path | None = None, langs: Sequence[str] | None = None) -> Collection:
        """Load the collection from ``data_dir``, the environment variable, or the pinned source."""
        ...
