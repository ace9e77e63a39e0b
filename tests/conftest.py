from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # test helper modules (lareqa_fixture, tiny_models)

REAL_XQUAD_R = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xquad-r"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Caches (data downloads, locks, embeddings) go to a per-session temp folder."""
    monkeypatch.setenv("MLIRBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("MLIRBENCH_XQUAD_R_DIR", raising=False)
    monkeypatch.delenv("MLIRBENCH_MLQA_R_DIR", raising=False)


@pytest.fixture(scope="session")
def xquad_r_dir() -> Path:
    if not (REAL_XQUAD_R / "en.json").is_file():
        pytest.skip(f"real XQuAD-R data not found at {REAL_XQUAD_R} (CI has it; see README)")
    return REAL_XQUAD_R
