"""The package layout is the data flow (docs/ARCHITECTURE.md): each layer imports only the layers
below it, so a change to the report can never move a score. Checked on the source (AST), including
imports inside functions."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"mlirbench": ROOT / "harness", "mlirbench.adapters": ROOT / "adapters", "mlirbench.tasks": ROOT / "tasks"}

BASE = ("errors", "version", "names", "_io")
# layer -> the layers (besides BASE and itself) it may import
ALLOWED: dict[str, tuple[str, ...]] = {
    "data": (),
    "retrieval": ("data",),
    "evaluation": ("data", "retrieval"),
    "records": ("data", "retrieval", "evaluation"),
    "report": ("data", "retrieval", "evaluation", "records"),
    "tasks": ("data",),
    "adapters": ("data", "retrieval", "training"),  # dense reuses training's trusted module list
    "training": ("data", "retrieval", "records", "adapters"),  # bases build on the adapters' model loaders
    "registry": ("data", "retrieval"),
}
TOP = ("cli", "cli_params", "cli_training", "runner", "regress", "grid")  # may import everything


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def modules() -> dict[str, Path]:
    out = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("").parts
            rel = rel[:-1] if rel[-1] == "__init__" else rel
            out[".".join((package, *rel))] = path
    return out


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (use mlirbench.* paths)"
            found.add(node.module or "")
    return {m for m in found if m == "mlirbench" or m.startswith("mlirbench.")}


MODULES = modules()


def test_every_module_has_a_layer() -> None:
    known = set(BASE) | set(ALLOWED) | set(TOP)
    assert {m: layer_of(m) for m in MODULES if layer_of(m) not in known and m != "mlirbench"} == {}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layers(module: str) -> None:
    layer = layer_of(module)
    if layer in TOP:
        return
    allowed = set(BASE) | {layer} | set(ALLOWED.get(layer, ()))
    wrong = sorted(m for m in imports(MODULES[module]) if layer_of(m) not in allowed)
    assert wrong == [], f"{module} ({layer}) imports {wrong}"


def test_only_the_top_imports_the_registry() -> None:
    users = sorted(m for m, path in MODULES.items() if "mlirbench.registry" in imports(path))
    assert {layer_of(m) for m in users} <= set(TOP), users
