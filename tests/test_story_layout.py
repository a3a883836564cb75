"""Test modules share their actors and scenes through the tests/story package, never by
importing one another: what a test module defines is its own."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def imported_test_modules(path: Path) -> list[str]:
    """The test modules (`test_*`, anywhere under tests/) that `path` imports."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            modules = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            ours = parts[0] in ("tests", "")  # absolute, or relative to a package in tests/
            test = next((i for i, p in enumerate(parts) if p.startswith("test_")), None)
            if ours and test is not None and ".".join(parts[: test + 1]) not in found:
                found.append(".".join(parts[: test + 1]))
    return found


def test_no_test_module_imports_another() -> None:
    importers = sorted([*TESTS.rglob("test_*.py"), *TESTS.rglob("conftest.py")])
    assert len(importers) > 50, importers
    found = {
        str(path.relative_to(TESTS)): modules
        for path in importers
        if (modules := imported_test_modules(path))
    }
    assert found == {}, "share helpers through tests/story/ instead"
