"""Rate limits under attempts made all at once: every limit is taken before the check it protects
(a password or PIN check, a code lookup, a mail), so 30 attempts in parallel never get more than
the limit checked, whatever their interleaving. Each test runs with the limits counted in
process and, when TEST_REDIS_URL is set, in Redis.

Attacks on one account come from many addresses at once (`spread`, through the trusted proxy's
X-Forwarded-For), so that the account's own limit is the one that binds."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.app import create_app
from server.config import Config
from server.services.context import Services
from server.services.ratelimit import (
    ACTIVATE_PER_ADDRESS,
    ACTIVATE_PER_EMAIL,
    LOGIN_PER_ACCOUNT,
    MAIL_PER_EMAIL,
    SIGNUP_PER_ADDRESS,
    TABLET_PER_ADDRESS,
    TABLET_PER_RESIDENT,
)
from server.services.roster import RosterRow, do_import_roster
from tests.fakes import FrozenClock, RecordingHasher, RecordingMailer, link_token
from tests.story import (
    PASSWORD,
    TEST_REDIS_URL,
    World,
    need_service,
    reset_schema,
    sign_up_and_activate,
    signup_body,
)

ATTEMPTS = 30
JSON = {"Accept": "application/json"}


def spread(n: int) -> dict[str, str]:
    """The n-th attacker's address, as the trusted reverse proxy reports it."""
    return {"X-Forwarded-For": f"203.0.113.{n}"}


@pytest.fixture(params=["in_process", "redis"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """SQLite (the limits are not kept in the database), with the limits counted in process
    and, when configured, in Redis under a prefix of this test's own."""
    redis_url = None
    if request.param == "redis":
        redis_url = need_service(TEST_REDIS_URL, "test_redis")
    return Config(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/homeline.db",
        redis_url=redis_url,
        redis_prefix=f"homeline-test-{secrets.token_hex(8)}",
        var_dir=tmp_path / "var",
        secret_key="test-secret",
        public_url="http://127.0.0.1:8080",
        trust_proxy=True,
    )


@pytest.fixture
def hasher() -> RecordingHasher:
    return RecordingHasher()


@pytest.fixture
async def app_client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    config: Config,
    clock: FrozenClock,
    mailer: RecordingMailer,
    hasher: RecordingHasher,
) -> AsyncIterator[TestClient[Any, Any]]:
    """The real app with a hasher that keeps every guess it checks."""
    await reset_schema(config.database_url)
    yield await aiohttp_client(create_app(config, clock=clock, mailer=mailer, hasher=hasher))
    if config.redis_url:
        redis = Redis.from_url(config.redis_url)
        try:
            keys = [k async for k in redis.scan_iter(match=f"{config.redis_prefix}:*")]
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()


async def all_at_once(requests: Iterable[Awaitable[ClientResponse]]) -> Counter[int]:
    """Send every request at once; how many answers had each status."""
    responses = await asyncio.gather(*requests)
    for resp in responses:
        await resp.read()
    return Counter(resp.status for resp in responses)


# --- log in: only failures count, and no more than the limit are checked --------------------


async def test_30_parallel_log_ins_check_at_most_10(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    hasher: RecordingHasher,
) -> None:
    await sign_up_and_activate(app_client, mailer, services)
    hasher.verified.clear()
    limit = LOGIN_PER_ACCOUNT.limit
    assert limit == 10

    statuses = await all_at_once(
        app_client.post(
            "/api/v1/sessions",
            json={"username": "jane", "password": f"guess {n}"},
            headers=spread(n),
        )
        for n in range(ATTEMPTS)
    )
    assert statuses == {401: limit, 429: ATTEMPTS - limit}
    assert len(hasher.verified) == limit
    # The failures are counted: the right password now waits for the window's end.
    resp = await app_client.post(
        "/api/v1/sessions", json={"username": "jane", "password": PASSWORD}
    )
    assert resp.status == 429


async def test_30_parallel_pins_check_at_most_5(
    app_client: TestClient[Any, Any], world: World, hasher: RecordingHasher
) -> None:
    limit = TABLET_PER_RESIDENT.limit
    assert limit == 5
    wrong = [f"{n:04d}" for n in range(ATTEMPTS)]
    assert "2468" not in wrong  # Marcus's PIN

    statuses = await all_at_once(
        app_client.post(
            "/api/v1/tablet/sessions",
            json={"facility_id": world.facility_id, "resident_number": "A1001", "pin": pin},
            headers=spread(n),
        )
        for n, pin in enumerate(wrong)
    )
    assert statuses == {401: limit, 429: ATTEMPTS - limit}
    assert len(hasher.verified) == limit
    resp = await app_client.post(
        "/api/v1/tablet/sessions",
        json={"facility_id": world.facility_id, "resident_number": "A1001", "pin": "2468"},
    )
    assert resp.status == 429


async def test_310_parallel_tablet_sign_ins_from_one_address_all_succeed(
    app_client: TestClient[Any, Any], services: Services, world: World
) -> None:
    """Only failures count: the place a sign-in takes is given back when its PIN is right, so
    a facility's tablets behind one address, waking up together again and again, are never
    refused, even past the address's limit of 300."""
    rows = [
        RosterRow(f"T{n:04d}", "Tab", f"Let{n}", date(1990, 1, 1), "T-01", f"{n:04d}")
        for n in range(31)
    ]
    await do_import_roster(services, facility_id=world.facility_id, rows=rows)
    rounds = TABLET_PER_ADDRESS.limit // len(rows) + 1
    assert rounds * len(rows) > TABLET_PER_ADDRESS.limit
    for _ in range(rounds):
        statuses = await all_at_once(
            app_client.post(
                "/api/v1/tablet/sessions",
                json={
                    "facility_id": world.facility_id,
                    "resident_number": row.resident_number,
                    "pin": row.pin,
                },
            )
            for row in rows
        )
        assert statuses == {201: len(rows)}


async def test_30_parallel_staff_log_ins_check_at_most_10(
    app_client: TestClient[Any, Any], world: World, hasher: RecordingHasher
) -> None:
    limit = LOGIN_PER_ACCOUNT.limit
    statuses = await all_at_once(
        app_client.post(
            "/api/v1/staff/sessions",
            json={"username": "reviewer", "password": f"guess {n}"},
            headers=spread(n),
        )
        for n in range(ATTEMPTS)
    )
    assert statuses == {401: limit, 429: ATTEMPTS - limit}
    assert len(hasher.verified) == limit


# --- sign-up, activation, reset and resend: every attempt counts ----------------------------


async def test_30_parallel_sign_ups_hash_at_most_10(
    app_client: TestClient[Any, Any], hasher: RecordingHasher
) -> None:
    limit = SIGNUP_PER_ADDRESS.limit
    statuses = await all_at_once(
        app_client.post("/api/v1/accounts", json=signup_body(f"user{n}", f"user{n}@example.com"))
        for n in range(ATTEMPTS)
    )
    assert statuses == {202: limit, 429: ATTEMPTS - limit}
    assert len(hasher.hashed) == limit


async def test_30_parallel_activation_codes_check_at_most_10(
    app_client: TestClient[Any, Any], services: Services
) -> None:
    assert (await app_client.post("/api/v1/accounts", json=signup_body())).status == 202
    await services.mail.join()
    limit = ACTIVATE_PER_EMAIL.limit

    statuses = await all_at_once(
        app_client.post(
            "/api/v1/accounts/activate",
            json={"email": "jane@example.com", "code": f"ZZZZ-{n:04d}"},
            headers=spread(n),
        )
        for n in range(ATTEMPTS)
    )
    assert statuses == {400: limit, 429: ATTEMPTS - limit}


async def test_40_parallel_activation_links_check_at_most_30(
    app_client: TestClient[Any, Any],
) -> None:
    limit = ACTIVATE_PER_ADDRESS.limit
    assert limit == 30
    attempts = limit + 10
    statuses = await all_at_once(
        app_client.get("/activate", params={"token": f"wrong-{n}"}, headers=JSON)
        for n in range(attempts)
    )
    assert statuses == {400: limit, 429: attempts - limit}


async def test_40_parallel_reset_confirmations_check_at_most_30_and_one_wins(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    clock: FrozenClock,
) -> None:
    """Forty uses of one real reset link at once, from one address: the address limit lets 30
    be checked, and the link works once."""
    await sign_up_and_activate(app_client, mailer, services)
    clock.advance(seconds=ACTIVATE_PER_ADDRESS.window)  # the activation above counted too
    resp = await app_client.post("/api/v1/password-resets", json={"email": "jane@example.com"})
    assert resp.status == 202
    await services.mail.join()
    token = link_token(mailer.last_text("jane@example.com"))
    limit = ACTIVATE_PER_ADDRESS.limit
    attempts = limit + 10

    statuses = await all_at_once(
        app_client.post(
            "/api/v1/password-resets/confirm",
            json={"token": token, "password": f"a brand new password {n}"},
        )
        for n in range(attempts)
    )
    assert statuses == {200: 1, 400: limit - 1, 429: attempts - limit}


@pytest.mark.parametrize("path", ["/api/v1/password-resets", "/api/v1/accounts/activation/resend"])
async def test_30_parallel_mail_requests_send_at_most_3(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services, path: str
) -> None:
    assert (await app_client.post("/api/v1/accounts", json=signup_body())).status == 202
    await services.mail.join()
    before = len(mailer.to("jane@example.com"))
    limit = MAIL_PER_EMAIL.limit

    statuses = await all_at_once(
        app_client.post(path, json={"email": "jane@example.com"}, headers=spread(n))
        for n in range(ATTEMPTS)
    )
    assert statuses == {202: limit, 429: ATTEMPTS - limit}
    await services.mail.join()
    assert len(mailer.to("jane@example.com")) == before + limit
