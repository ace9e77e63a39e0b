"""Crash-safe file writes: write to a temp file in the same folder, fsync, rename (folders: build in a
temp folder beside the target, rename).

A reader never sees a partial file, and a killed run leaves either the old file or the new one.
A run killed mid-write (SIGKILL: no ``finally``) leaves its temp file behind; temp names carry
the writer's host and pid (``.<name>.<host>-<pid>.<random>.tmp``), so the next write of the same
file removes the leftovers of writers on this host that no longer run, and never the temp file of
a live one (a concurrent writer, or one on another machine sharing the folder).
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_orphans(folder: Path, name_glob: str = "*") -> list[Path]:
    """Remove the temp files and folders in ``folder`` (of targets whose name matches ``name_glob``)
    left by writers on this host that no longer run; returns what was removed."""
    pattern = re.compile(rf"\..+\.{re.escape(_host())}-(\d+)\.[^.]+\.tmp")
    removed = []
    for tmp in folder.glob(f".{name_glob}.*.tmp"):
        match = pattern.fullmatch(tmp.name)
        if match and not _alive(int(match.group(1))):
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def temp_folder(target: str | Path) -> Iterator[Path]:
    """A temp folder beside ``target`` for building a folder that is then renamed onto it (a reader
    never sees a half-built one); removed on exit, and by ``sweep_orphans`` after a SIGKILL."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_orphans(target.parent, glob.escape(target.name))
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.{_host()}-{os.getpid()}.", suffix=".tmp", dir=target.parent))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_orphans(path.parent, glob.escape(path.name))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_host()}-{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; publish like open() would
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open`` that publishes the file only when the block completes without error."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_json(path: str | Path, obj: object) -> None:
    """Write pretty, key-sorted JSON atomically (stable diffs for committed results)."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
