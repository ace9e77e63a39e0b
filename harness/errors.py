"""User-facing errors: one line that names the file (and line) and the problem.

The CLI prints ``str(error)`` and exits non-zero; no traceback, no partial result files.
"""
from __future__ import annotations

from pathlib import Path


class MlirbenchError(Exception):
    """An error caused by input or configuration, reported to the user as one line."""


class DataError(MlirbenchError):
    """A data file is missing, malformed or inconsistent."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.problem = problem
        self.line = line


class UnknownNameError(MlirbenchError):
    """An unknown model, task or language name, with a 'did you mean' suggestion."""


class MissingDependencyError(MlirbenchError):
    """An optional dependency of the chosen adapter is not installed."""
