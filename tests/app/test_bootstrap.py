"""One bootstrap: outside `app/container.py` no module of the service builds a database engine,
a search index, an indexer or a search; they ask `System` (or the server's container) for one.
The eval suites still assemble their throwaway catalogs themselves (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "sourcing"
BOOTSTRAP = SOURCE / "app" / "container.py"
BUILDERS = {
    "make_engine",  # a database engine
    "build_engine",
    "build_search",
    "ProductSearch",  # a search
    "Indexer",  # an indexer over an index
    "QdrantClient",  # a Qdrant server client
    "open_index",
}
OPENED = {"EdgeProductIndex", "ClientProductIndex"}  # `.open(...)`: an index


def _called(node: ast.Call) -> str | None:
    target = node.func
    if isinstance(target, ast.Name) and target.id in BUILDERS:
        return target.id
    if isinstance(target, ast.Attribute):
        if target.attr in BUILDERS:
            return target.attr
        owner = target.value
        if target.attr == "open" and isinstance(owner, ast.Name) and owner.id in OPENED:
            return f"{owner.id}.open"
    return None


def test_nothing_but_the_bootstrap_builds_an_engine_an_index_or_a_search() -> None:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path == BOOTSTRAP or path.is_relative_to(SOURCE / "eval"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and (name := _called(node)):
                found.append(f"{path.relative_to(SOURCE)}:{node.lineno} {name}(…)")
    assert found == []


def test_the_check_sees_a_builder_call() -> None:
    code = "engine = make_engine(url)\nindex = EdgeProductIndex.open(path, meta)\n"
    calls = [_called(n) for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call)]
    assert sorted(filter(None, calls)) == ["EdgeProductIndex.open", "make_engine"]
