"""The fixtures process tests share (test modules import them by name): `database_url`,
`processes` and `sockets`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.liveserver.api import Person
from tests.liveserver.deployment import ServerProcess
from tests.liveserver.socket_client import SocketClient, socket_clients
from tests.liveserver.stores import private_postgres
from tests.story.stage import REQUIRE_SERVICES, TEST_DATABASE_URL, need_service


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL database of this test's own, or one SQLite file for all its processes."""
    if TEST_DATABASE_URL:
        with private_postgres(TEST_DATABASE_URL) as url:
            yield url
        return
    if REQUIRE_SERVICES:
        need_service(None, "test_database")
    yield f"sqlite+aiosqlite:///{tmp_path}/homeline.db"


@pytest.fixture
def processes() -> Iterator[list[ServerProcess]]:
    """Every process a test starts goes in here; those still running get SIGTERM at the end
    (and must exit on their own)."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.close()


@pytest.fixture
def sockets() -> Iterator[Callable[[Person, ServerProcess], SocketClient]]:
    with socket_clients() as connect:
        yield connect
