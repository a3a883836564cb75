"""The floor plan (DESIGN.md §2) is enforced: `lint-imports` (run by `make lint`) keeps the
tree as the contracts in pyproject.toml say, and fails on a deliberate violation of each kind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "moderation", "media", "signaling", "web_client")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The tree's own packages come first on the path, so the copy is what is analysed.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the Python packages and pyproject.toml, to break on purpose."""
    for name in PACKAGES:
        shutil.copytree(
            ROOT / name,
            tmp_path / name,
            ignore=shutil.ignore_patterns("node_modules", "static", "__pycache__"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 broken" in run.stdout or "broken" not in run.stdout.split("Contracts:")[-1]


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        # The core reaching into a wing's use cases.
        (
            "server/services/violation.py",
            "from moderation.services import review\n",
            "The core never imports a wing's transports, services or storage",
        ),
        # A pure rule doing I/O.
        (
            "moderation/domain/violation.py",
            "import sqlalchemy\n",
            "Pure rules do no I/O and read no clock",
        ),
        # A pure rule reading the clock.
        (
            "server/domain/violation.py",
            "from server.clock import SystemClock\n",
            "Pure rules do no I/O and read no clock",
        ),
        # Storage reaching up into a use case.
        (
            "moderation/storage/violation.py",
            "from moderation.services import policies\n",
            "Every package's rooms",
        ),
        # One wing using another.
        (
            "media/domain/violation.py",
            "from signaling.domain import blocks\n",
            "The wings meet only in server/app.py",
        ),
        # The socket.io side importing an HTTP route module.
        (
            "server/sockets/violation.py",
            "from server.http import routes_wallet\n",
            "import no HTTP route module",
        ),
        # The copy itself is sound: a new module that imports nothing breaks nothing.
        ("server/harmless.py", "", None),
    ],
)
def test_a_deliberate_violation_fails_lint(
    tree: Path, module: str, source: str, contract: str | None
) -> None:
    path = tree / module
    path.write_text(f'"""A deliberate violation."""\n\n{source}')
    run = lint_imports(tree)
    out = run.stdout + run.stderr
    if contract is None:
        assert run.returncode == 0, out
        return
    assert run.returncode != 0, out
    broken = out.split("Broken contracts")[-1]
    assert contract in broken, out
    assert path.stem in broken, out


def test_every_http_route_module_is_out_of_the_socket_sides_reach() -> None:
    """The contract names the route modules one by one (import-linter's wildcards take whole
    module names only), so a new routes_*.py must be added to it: this test says so."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [
        c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "realtime-no-routes"
    ]
    routes = {f"server.http.{p.stem}" for p in (ROOT / "server" / "http").glob("routes_*.py")}
    assert routes, "no route modules found"
    assert routes <= set(contract["forbidden_modules"])


def test_every_room_is_a_package() -> None:
    """A folder of modules without `__init__.py` is a namespace package: the editable install
    finds it, an installed copy (setuptools' find) leaves it out."""
    missing = [
        str(folder.relative_to(ROOT))
        for name in PACKAGES
        for folder in [ROOT / name, *(ROOT / name).rglob("*")]
        if folder.is_dir()
        and any(folder.glob("*.py"))
        and not (folder / "__init__.py").exists()
        and folder.name != "versions"  # Alembic's revisions are files, not a package
    ]
    assert missing == []
