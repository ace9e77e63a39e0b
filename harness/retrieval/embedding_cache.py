"""On-disk embedding cache: a rerun of the same model on the same texts encodes nothing.

One entry per ``encode`` call (the harness encodes one language of one role per call), keyed by
sha256 of: the adapter's metadata (name, revision or weights hash, max length, prefixes, dtype,
device, arguments but the result-neutral ones its adapter declares), the role, the language and
the texts. Entries are ``.npy`` files written atomically, so a run killed mid-way resumes from the
languages already encoded. While ``_io.cache.refreshed`` (``--no-cache``) entries are never read,
only written anew, like every other cache.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlirbench._io.atomic import atomic_path
from mlirbench._io.cache import cache_dir, refreshing, safe_name
from mlirbench.retrieval.arguments import neutral_names


def embeddings_root() -> Path:
    return cache_dir("embeddings")


def model_identity(model: Any) -> str:
    """The model's metadata without the arguments its adapter declares result-neutral (at the top
    level or under ``arguments``): two models with the same identity give the same embeddings."""
    neutral = neutral_names(type(model))
    kept = {k: v for k, v in model.metadata().items() if k not in neutral}
    if isinstance(kept.get("arguments"), dict):
        kept["arguments"] = {k: v for k, v in kept["arguments"].items() if k not in neutral}
    return json.dumps(kept, sort_keys=True, default=str)


class CachedEncoder:
    """Wraps an ``Encoder``; same protocol, with ``hits``/``misses`` counted per call."""

    def __init__(self, encoder, root: Path | None = None) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.root = (root or embeddings_root()) / safe_name(encoder.name)
        self._identity = model_identity(encoder)
        self.hits = 0
        self.misses = 0

    def _path(self, texts: Sequence[str], role: str, lang: str) -> Path:
        digest = hashlib.sha256()
        for part in (self._identity, role, lang, str(len(texts))):
            digest.update(part.encode("utf-8") + b"\0")
        for text in texts:
            digest.update(text.encode("utf-8") + b"\0")
        key = digest.hexdigest()
        return self.root / key[:2] / f"{key}.npy"

    def encode(self, texts: Sequence[str], *, role: str, lang: str) -> np.ndarray:
        path = self._path(texts, role, lang)
        if not refreshing() and path.is_file():
            try:
                emb = np.load(path, allow_pickle=False)
                if emb.ndim == 2 and emb.shape[0] == len(texts) and emb.dtype == np.float32:
                    self.hits += 1
                    return emb
            except (OSError, ValueError):
                pass  # unreadable entry: recompute and overwrite
        emb = np.ascontiguousarray(self.encoder.encode(texts, role=role, lang=lang), dtype=np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, emb, allow_pickle=False)
        self.misses += 1
        return emb

    def metadata(self) -> dict:
        return self.encoder.metadata()

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "root": str(self.root)}
