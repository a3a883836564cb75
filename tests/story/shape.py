"""The code's shape: which modules a domain package may import."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = ("aiohttp", "socketio", "sqlalchemy", "redis", "PIL", "aiortc", "av")
FORBIDDEN_INSIDE = ("services", "storage", "http", "sockets")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def impure_imports(package: str) -> list[str]:
    found = []
    for path in sorted((Path(__file__).parent.parent.parent / package / "domain").glob("*.py")):
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] in FORBIDDEN or any(p in FORBIDDEN_INSIDE for p in parts[1:]):
                found.append(f"{path.name}: {name}")
    return found
