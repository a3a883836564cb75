"""Shared fixtures: the real app on SQLite in a temporary folder (and on PostgreSQL when
TEST_DATABASE_URL is set), an injected clock, a recording mailer, named actors, and an
S3-compatible server on loopback for the blob store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient
from hypothesis import settings
from sqlalchemy import text

from media.storage.s3 import S3BlobStore
from server.app import create_app
from server.config import Config
from server.services.context import Services, StaffRole
from server.services.roster import RosterRow, do_add_staff, do_create_facility, do_import_roster
from tests.fakes import FrozenClock, RecordingMailer
from tests.liveserver import private_postgres
from tests.story import (
    FAST_HASHER,
    PASSWORD,
    START,
    TEST_DATABASE_URL,
    Actor,
    S3Server,
    World,
    log_in,
    need_service,
    reset_schema,
    running_s3_server,
    sign_up_and_activate,
    staff_sign_in,
)

# No Hypothesis deadline: a property test is about what is true, not how fast (targets live in
# bench/), and on a busy 2-core CI machine one example can take 300 ms for no fault of its own.
settings.register_profile("homeline", deadline=None)
settings.load_profile("homeline")


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


@pytest.fixture
async def reviewer(app_client: TestClient[Any, Any], world: World) -> Actor:
    return await staff_sign_in(app_client, "reviewer")


@pytest.fixture
async def facility_admin(app_client: TestClient[Any, Any], world: World) -> Actor:
    return await staff_sign_in(app_client, "admin")


@pytest.fixture
async def other_facility_admin(app_client: TestClient[Any, Any], world: World) -> Actor:
    return await staff_sign_in(app_client, "otheradmin")


@pytest.fixture
async def support(app_client: TestClient[Any, Any], world: World) -> Actor:
    return await staff_sign_in(app_client, "support")


@pytest.fixture
async def sio() -> AsyncIterator[socketio.AsyncClient]:
    # request_timeout also bounds the client's websocket close handshake. The test server
    # shuts down through the app's on_shutdown hook, after aiohttp has stopped reading (see
    # server/runner.py, which drains sockets first when serving), so the handshake is never
    # answered and the default 5 s would stall every shutdown test.
    client = socketio.AsyncClient(reconnection=False, request_timeout=1)
    try:
        yield client
    finally:
        await client.disconnect()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 on loopback for the whole run (a skip without moto, a failure in CI)."""
    with running_s3_server() as server:
        yield server


@pytest.fixture
async def s3_store(s3_server: S3Server) -> AsyncIterator[S3BlobStore]:
    """A started S3 blob store on a bucket of its own."""
    store = s3_server.store(await s3_server.new_bucket())
    await store.start()
    try:
        yield store
    finally:
        await store.close()
