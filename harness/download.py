"""Pinned downloads: a fixed URL (repository commit) plus the sha256 of every file.

Files land in the user cache folder; a file whose sha256 does not match is deleted and refused.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from platformdirs import user_cache_dir

from .atomic import atomic_path
from .errors import DataError, MlirbenchError


def cache_root() -> Path:
    """Root of mlirbench's caches ($MLIRBENCH_CACHE or the platform's user cache folder)."""
    return Path(os.environ.get("MLIRBENCH_CACHE") or user_cache_dir("mlirbench"))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    return _digest(path, hashlib.sha256(), chunk)


def md5_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """md5, for data whose published checksums are md5 (MIRACL via ir_datasets): integrity only."""
    return _digest(path, hashlib.md5(usedforsecurity=False), chunk)


def _digest(path: str | Path, digest: hashlib._Hash, chunk: int) -> str:
    """Hex digest of a file read in chunks (corpus files are GBs)."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def offline() -> bool:
    """True when the user asked for no network access (ours or Hugging Face's switch)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes")
               for v in ("MLIRBENCH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def fetch_pinned(url: str, dest: Path, sha256: str | None, *, hint: str, timeout: float = 60) -> Path:
    """Return ``dest``, downloading ``url`` there first if needed, verified against ``sha256``.

    ``sha256=None`` (no pinned hash known) accepts the file; the caller records its hash.
    ``hint`` tells the user how to provide the file without network when the download fails.
    """
    if dest.exists():
        if sha256 is None or sha256_file(dest) == sha256:
            return dest
        dest.unlink()  # a corrupt or stale cached copy is never used
    if offline():
        raise MlirbenchError(f"{dest.name}: not cached and offline mode is on; {hint}")
    try:
        with atomic_path(dest) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                while block := resp.read(1 << 20):
                    out.write(block)
            got = sha256_file(tmp)
            if sha256 is not None and got != sha256:
                raise DataError(url, f"sha256 mismatch (expected {sha256}, got {got}); download refused and deleted")
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as exc:
        raise MlirbenchError(f"{url}: download failed ({exc}); {hint}") from None
    return dest
