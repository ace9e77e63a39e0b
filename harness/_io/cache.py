"""Where mlirbench's files are (its source checkout, its caches), and whether the user asked for no network."""
from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

# The checkout holding harness/, adapters/, tasks/ and regression/ (an editable install runs from it).
REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    """Root of mlirbench's caches ($MLIRBENCH_CACHE or the platform's user cache folder)."""
    return Path(os.environ.get("MLIRBENCH_CACHE") or user_cache_dir("mlirbench"))


def offline() -> bool:
    """True when the user asked for no network access (ours or Hugging Face's switch)."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes")
               for v in ("MLIRBENCH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
