"""The layout's rules, checked on the source: no import circles, each layer imports only the
layers below it (neat <- jobs <- app; the tabs reach the engine through app/backend.py), and
no module grows past 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("neat", "jobs", "app", "benchmarks")
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """First-party modules `path` imports, at the top or inside functions (a lazy import
    still closes a circle)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in MODULES else node.module)
    return {name for name in names if name in MODULES}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Every import circle (as the list of modules on it), by depth-first search."""
    cycles, state = [], {}

    def visit(name: str, stack: list[str]) -> None:
        state[name] = "open"
        stack.append(name)
        for target in sorted(GRAPH[name]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [])
    return cycles


def test_there_are_no_import_circles():
    assert _cycles() == []


def test_the_check_finds_a_circle():
    GRAPH["neat.engine.spec"].add("neat.engine.rundir")  # rundir imports spec: a circle
    try:
        assert any(set(c) == {"neat.engine.rundir", "neat.engine.spec"} for c in _cycles())
    finally:
        GRAPH["neat.engine.spec"].discard("neat.engine.rundir")


def _external(path: Path) -> set[str]:
    tops = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            tops.add(node.module.split(".")[0])
    return tops


@pytest.mark.parametrize(
    "prefix, forbidden",
    [
        ("neat", {"jobs", "app", "gradio", "huey", "sqlalchemy"}),  # the engine needs no web stack
        ("jobs", {"app", "gradio"}),
        ("app.tabs", {"neat", "jobs"}),  # through app/backend.py only
    ],
)
def test_each_layer_imports_only_the_layers_below(prefix, forbidden):
    offenders = {
        name: sorted(_external(path) & forbidden)
        for name, path in MODULES.items()
        if (name == prefix or name.startswith(prefix + ".")) and _external(path) & forbidden
    }
    assert offenders == {}


def test_the_method_is_small_and_apart_from_the_engine():
    method = [MODULES[name] for name in ("neat", "neat.layer", "neat.tuner")]
    assert sum(len(p.read_text(encoding="utf-8").splitlines()) for p in method) <= 400
    for name in ("neat.layer", "neat.tuner"):
        assert not any(target.startswith("neat.engine") for target in GRAPH[name])


def test_no_module_is_over_600_lines():
    long = {
        name: n
        for name, path in MODULES.items()
        if "migrations" not in path.parts
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
