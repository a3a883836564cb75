"""Shared fixtures: the real app on SQLite in a temporary folder (and on PostgreSQL when
TEST_DATABASE_URL is set), an injected clock, a recording mailer, and named actors."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import settings
from sqlalchemy import text

from server.app import create_app
from server.config import Config
from server.services.context import Services, StaffRole
from server.services.passwords import Hasher
from server.services.roster import RosterRow, do_add_staff, do_create_facility, do_import_roster
from server.storage.db import Database, create_engine
from server.storage.models import Base
from tests.fakes import FrozenClock, RecordingMailer, activation_code
from tests.liveserver import private_postgres

# No Hypothesis deadline: a property test is about what is true, not how fast (targets live in
# bench/), and on a busy 2-core CI machine one example can take 300 ms for no fault of its own.
settings.register_profile("homeline", deadline=None)
settings.load_profile("homeline")

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
START = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # a Wednesday afternoon
PASSWORD = "correct horse battery"


def need_service(url: str | None, what: str) -> str:
    """The URL, or a skip (a failure in CI, where REQUIRE_SERVICES=1)."""
    if url:
        return url
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in CI but its TEST_*_URL is not set")
    pytest.skip(f"{what} not configured (set {what.upper()}_URL to run)")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A private database for this test run, created from TEST_DATABASE_URL and dropped at the
    end, so that two runs on one server never see each other's rows."""
    if not TEST_DATABASE_URL:
        yield None
        return
    with private_postgres(TEST_DATABASE_URL) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None) -> str:
    """Each test that uses the database runs on SQLite and, when configured, PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/homeline.db"
    return need_service(postgres_url, "test_database")


async def reset_schema(url: str) -> None:
    db = Database(create_engine(url))
    try:
        async with db.engine.begin() as conn:
            if db.dialect == "postgresql":
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await db.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Config:
    return Config(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret",
        public_url="http://127.0.0.1:8080",
    )


# Cheap argon2id parameters keep the suite fast; production's are checked in test_passwords.
FAST_HASHER = Hasher(time_cost=1, memory_cost=1024)


@pytest.fixture
async def app_client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    config: Config,
    clock: FrozenClock,
    mailer: RecordingMailer,
) -> TestClient[Any, Any]:
    await reset_schema(config.database_url)
    app = create_app(config, clock=clock, mailer=mailer, hasher=FAST_HASHER)
    return await aiohttp_client(app)


@pytest.fixture
def services(app_client: TestClient[Any, Any]) -> Services:
    from server.appkeys import SERVICES

    return app_client.app[SERVICES]


@dataclass
class World:
    """The demo-like facility every story starts from."""

    facility_id: int
    other_facility_id: int
    residents: dict[str, int]  # resident_number -> id


RESIDENTS = [
    RosterRow("A1001", "Marcus", "Reed", datetime(1988, 3, 14).date(), "B-12", "2468"),
    RosterRow("A1002", "Dana", "Whitfield", datetime(1992, 11, 2).date(), "C-04", "1357"),
]
OTHER_RESIDENTS = [
    RosterRow("Z9001", "Olive", "Stone", datetime(1990, 5, 5).date(), "E-01", "1111"),
]


@pytest.fixture
async def world(services: Services) -> World:
    fid = await do_create_facility(
        services, name="Riverside", city="Riverside", state="NY", timezone="America/New_York"
    )
    other = await do_create_facility(
        services, name="Lakeside", city="Lakeside", state="CA", timezone="America/Los_Angeles"
    )
    await do_import_roster(services, facility_id=fid, rows=RESIDENTS)
    await do_import_roster(services, facility_id=other, rows=OTHER_RESIDENTS)
    async with services.db.read() as tx:
        rows = (await tx.execute(text("SELECT resident_number, id FROM residents"))).all()
    for username, role, facility in (
        ("reviewer", StaffRole.REVIEWER, fid),
        ("admin", StaffRole.FACILITY_ADMIN, fid),
        ("otheradmin", StaffRole.FACILITY_ADMIN, other),
        ("support", StaffRole.SUPPORT, None),
    ):
        await do_add_staff(
            services,
            username=username,
            password=PASSWORD,
            display_name=username.title(),
            role=role,
            facility_id=facility,
        )
    return World(facility_id=fid, other_facility_id=other, residents=dict(rows))


def signup_body(
    username: str = "jane", email: str = "jane@example.com", **changes: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": username,
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "first_name": "Jane",
        "last_name": "Reed",
        "address_line1": "12 Elm Street",
        "address_line2": "",
        "city": "Albany",
        "state": "NY",
        "postal_code": "12207",
        "date_of_birth": "1970-04-01",
        "gender": "female",
        "email": email,
        "email_confirm": email,
        "accept_terms": True,
    }
    body.update(changes)
    return body


@dataclass
class Actor:
    """A signed-in person: `headers` authenticate as a bearer client."""

    token: str
    principal: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> int:
        return int(self.principal["id"])


async def sign_up_and_activate(
    client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    username: str = "jane",
    email: str = "jane@example.com",
) -> Actor:
    resp = await client.post("/api/v1/accounts", json=signup_body(username, email))
    assert resp.status == 202, await resp.text()
    await services.mail.join()
    code = activation_code(mailer.last_text(email))
    resp = await client.post("/api/v1/accounts/activate", json={"email": email, "code": code})
    assert resp.status == 200, await resp.text()
    return await log_in(client, "/api/v1/sessions", {"username": username, "password": PASSWORD})


async def log_in(client: TestClient[Any, Any], path: str, body: dict[str, Any]) -> Actor:
    resp = await client.post(path, json={**body, "session": "bearer"})
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    return Actor(token=data["token"], principal=data["principal"])


@pytest.fixture
async def family(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services, world: World
) -> Actor:
    """Jane Reed, an activated family member, signed in."""
    return await sign_up_and_activate(app_client, mailer, services)


@pytest.fixture
async def other_family(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services, world: World
) -> Actor:
    """Tom Stone, another family member, signed in."""
    return await sign_up_and_activate(app_client, mailer, services, "tom", "tom@example.com")


@pytest.fixture
async def resident(app_client: TestClient[Any, Any], world: World) -> Actor:
    """Marcus Reed (A1001), signed in on a tablet."""
    return await log_in(
        app_client,
        "/api/v1/tablet/sessions",
        {"facility_id": world.facility_id, "resident_number": "A1001", "pin": "2468"},
    )


@pytest.fixture
async def other_resident(app_client: TestClient[Any, Any], world: World) -> Actor:
    """Dana Whitfield (A1002), same facility, signed in on a tablet."""
    return await log_in(
        app_client,
        "/api/v1/tablet/sessions",
        {"facility_id": world.facility_id, "resident_number": "A1002", "pin": "1357"},
    )


async def _staff(client: TestClient[Any, Any], username: str) -> Actor:
    return await log_in(
        client, "/api/v1/staff/sessions", {"username": username, "password": PASSWORD}
    )


@pytest.fixture
async def reviewer(app_client: TestClient[Any, Any], world: World) -> Actor:
    return await _staff(app_client, "reviewer")


@pytest.fixture
async def facility_admin(app_client: TestClient[Any, Any], world: World) -> Actor:
    return await _staff(app_client, "admin")


@pytest.fixture
async def other_facility_admin(app_client: TestClient[Any, Any], world: World) -> Actor:
    return await _staff(app_client, "otheradmin")


@pytest.fixture
async def support(app_client: TestClient[Any, Any], world: World) -> Actor:
    return await _staff(app_client, "support")


def assert_error(data: dict[str, Any], code: str | None = None) -> None:
    """The contract's error shape."""
    assert set(data) == {"error"}, data
    assert isinstance(data["error"]["message"], str) and data["error"]["message"]
    if code is not None:
        assert data["error"]["code"] == code, data


__all__ = ["AsyncIterator"]
