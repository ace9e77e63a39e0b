"""File digests: sha256 for provenance and pinned data, md5 where the published checksums are md5."""
from __future__ import annotations

import hashlib
from pathlib import Path


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
