"""Name checks shared by models, tasks and languages: unknown names get 'did you mean'."""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from mlirbench.errors import UnknownNameError


def did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def unknown(kind: str, name: str, known: Iterable[str]) -> UnknownNameError:
    known = sorted(known)
    return UnknownNameError(
        f"unknown {kind} {name!r}{did_you_mean(name, known)} (known: {', '.join(known)})")


def check_languages(langs: Sequence[str] | None, available: Sequence[str], task: str) -> list[str]:
    """Validate a --langs selection against a task's languages; keep the task's order."""
    if not langs:
        return list(available)
    for lang in langs:
        if lang not in available:
            raise unknown(f"language code for task {task}", lang, available)
    return [lang for lang in available if lang in set(langs)]
