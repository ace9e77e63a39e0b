"""Output paths checked before any work starts: a folder or file that cannot be written is found
at once, not after an hour of encoding."""
from __future__ import annotations

import os
from pathlib import Path

from mlirbench.errors import MlirbenchError


def check_writable(path: Path, *, folder: bool, what: str = "output") -> Path:
    """``path`` can be written as a folder (``folder=True``: an existing folder, or one that can be
    created) or as a file (not a folder; its folder exists or can be created), else a one-line
    error naming it. Nothing is created."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if folder and not path.is_dir():
            raise MlirbenchError(f"{what} {path}: exists and is not a folder")
        if not folder and path.is_dir():
            raise MlirbenchError(f"{what} {path}: is a folder, expected a file path")
        target = path if folder else path.parent
        if not os.access(target if str(target) else ".", os.W_OK | os.X_OK):
            raise MlirbenchError(f"{what} {path}: not writable")
        return path
    ancestor = (path if folder else path.parent).absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise MlirbenchError(f"{what} {path}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise MlirbenchError(f"{what} {path}: cannot be created ({ancestor} is not writable)")
    return path
