"""The folders are the architecture (docs/architecture.md): imports point down the layers,
`accounts/` and `rooms/` never import each other, views never build a homeserver request, and
there is no import cycle in webclient/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "webclient"

# (package, package it must not import, why)
FORBIDDEN = [
    ("matrix", "timeline", "the session syncs; rendering happens in live/"),
    ("matrix", "live", "the session is handed its publisher"),
    ("matrix", "web", "homeserver traffic knows no views"),
    ("matrix", "rooms", "homeserver traffic knows no views"),
    ("matrix", "accounts", "homeserver traffic knows no views"),
    ("matrix", "media", "homeserver traffic knows no views"),
    ("timeline", "live", "rendering knows no sockets"),
    ("timeline", "web", "rendering knows no views"),
    ("timeline", "rooms", "rendering knows no views"),
    ("timeline", "accounts", "rendering knows no views"),
    ("live", "web", "sockets know no views"),
    ("live", "rooms", "sockets know no views"),
    ("live", "accounts", "sockets know no views"),
    ("web", "rooms", "what views share knows no view"),
    ("web", "accounts", "what views share knows no view"),
    ("accounts", "rooms", "what both need lives in matrix/ or web/"),
    ("rooms", "accounts", "what both need lives in matrix/ or web/"),
] + [
    (layer, "ops", "operations wrap the app (asgi.py); nothing inside it imports them")
    for layer in ("matrix", "timeline", "live", "web", "rooms", "accounts", "media")
]
VIEW_PACKAGES = ("accounts", "rooms", "media")


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The webclient modules `name` imports (at any depth of its code)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            if target in modules and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_point_down_the_layers() -> None:
    wrong = [
        f"{module} -> {target} ({why})"
        for module, targets in _graph().items()
        for target in targets
        for low, high, why in FORBIDDEN
        if _layer(module) == low and _layer(target) == high
    ]
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            # A package's __init__ importing its own modules is not a cycle of modules.
            if node.startswith(target + "."):
                continue
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_views_build_no_requests() -> None:
    """Views call named endpoints (`session.api.join(…)`), never the request function or
    an HTTP client of their own."""
    raw = re.compile(r"\.request\(|aiohttp|\.api\(\s*\"")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for name, path in _modules().items()
        if _layer(name) in VIEW_PACKAGES
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if raw.search(line)
    ]
    assert offenders == []


def test_the_checks_see_a_forbidden_import() -> None:
    """The checker itself: a made-up import from matrix/ to timeline/ would be caught."""
    module, target = "webclient.matrix.session", "webclient.timeline.render"
    assert any(_layer(module) == low and _layer(target) == high for low, high, _ in FORBIDDEN)
    graph = _graph()
    assert "webclient.timeline.render" in graph["webclient.live.publisher"]
