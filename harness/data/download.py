"""Pinned downloads: a fixed URL (repository commit) plus the sha256 of every file.

Files land in the user cache folder; a file whose sha256 does not match is deleted and refused.
"""
from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from pathlib import Path

from mlirbench._io.atomic import atomic_path
from mlirbench._io.cache import offline
from mlirbench._io.hashing import sha256_file
from mlirbench.errors import DataError, MlirbenchError


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
