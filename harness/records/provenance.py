"""Provenance of a result: what ran, on what, from which code and data."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mlirbench._io.cache import REPO_ROOT
from mlirbench.version import __version__

# What the harness itself computes scores with; each model adds the PACKAGES its adapter declares
# (retrieval/arguments.py), so upgrading a model's library makes its records stale, not everyone's.
HARNESS_PACKAGES = ("numpy", "scipy", "numba", "ranx", "pandas", "faiss-cpu", "ray")


def git_state(root: Path) -> dict:
    """Commit of the working tree and whether its code had uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        # outputs (results/, LEADERBOARD.md) do not make the code dirty
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".",
                         ":(exclude)results", ":(exclude)LEADERBOARD.md"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": dirty if commit else None}


def package_versions(packages: Sequence[str] = ()) -> dict[str, str]:
    """Installed versions of the harness's packages and of ``packages`` (a model's); absent ones are left out."""
    out = {}
    for name in dict.fromkeys((*HARNESS_PACKAGES, *packages)):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def hardware() -> dict:
    info = {"platform": platform.platform(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def provenance(argv: list[str] | None = None, packages: Sequence[str] = ()) -> dict:
    return {
        "mlirbench_version": __version__,
        "git": git_state(REPO_ROOT),
        "packages": package_versions(packages),
        "hardware": hardware(),
        "command": argv if argv is not None else sys.argv,
    }
