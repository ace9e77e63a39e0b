from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # test helper modules (lareqa_fixture, tiny_models)

REAL_XQUAD_R = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xquad-r"




def _task_data_variables() -> list[str]:
    """Every registered task's data variable, read from its metadata (a new task is covered)."""
    from mlirbench.registry import task_metadata
    return sorted({meta.data_env for meta in task_metadata().values() if meta.data_env})


TASK_DATA_VARIABLES = _task_data_variables()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Caches (data downloads, locks, embeddings) go to a per-session temp folder, and no task
    reads its data from a folder named in the shell (``MLIRBENCH_MIRACL_DIR`` and the like)."""
    monkeypatch.setenv("MLIRBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    for variable in TASK_DATA_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="session")
def xquad_r_dir() -> Path:
    if not (REAL_XQUAD_R / "en.json").is_file():
        pytest.skip(f"real XQuAD-R data not found at {REAL_XQUAD_R} (CI has it; see README)")
    return REAL_XQUAD_R
