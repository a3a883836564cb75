"""Rate limits on log in, tablet PINs, sign-up, mail and activation: 429 with an honest
Retry-After, a lockout of at most one window, and the same answer for known and unknown
e-mails. The Redis limiter is checked against a real Redis when TEST_REDIS_URL is set."""

from __future__ import annotations

import secrets
import socket
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.services.context import Services
from server.services.ratelimit import (
    LOGIN_PER_ACCOUNT,
    LOGIN_PER_ADDRESS,
    MAIL_PER_EMAIL,
    RedisRateLimiter,
)
from tests.fakes import FrozenClock, RecordingMailer, activation_code
from tests.story import PASSWORD, TEST_REDIS_URL, World, assert_error, need_service, signup_body

# The limiter lives in memory (or Redis), not in the database: tests that only count requests
# run on SQLite alone.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
LOGIN = "/api/v1/sessions"
TABLET = "/api/v1/tablet/sessions"


def retry_after(resp: ClientResponse, *, at_most: int) -> int:
    """The 429's Retry-After: whole seconds, more than 0, no more than the window."""
    assert resp.status == 429
    raw = resp.headers["Retry-After"]
    assert raw.isdigit(), raw
    seconds = int(raw)
    assert 0 < seconds <= at_most, seconds
    return seconds


async def family_login(
    client: TestClient[Any, Any], username: str = "jane", password: str = PASSWORD
) -> ClientResponse:
    return await client.post(LOGIN, json={"username": username, "password": password})


async def activate_account(
    client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    username: str,
    email: str,
) -> None:
    resp = await client.post("/api/v1/accounts", json=signup_body(username, email))
    assert resp.status == 202
    await services.mail.join()
    code = activation_code(mailer.last_text(email))
    resp = await client.post("/api/v1/accounts/activate", json={"email": email, "code": code})
    assert resp.status == 200


@pytest.fixture
async def jane(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    """Jane's activated account, not yet signed in: no log-in attempt counted so far.
    (Every attempt counts, successful ones too, so a signed-in actor would start at 1.)"""
    await activate_account(app_client, mailer, services, "jane", "jane@example.com")


@pytest.fixture
async def tom(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    await activate_account(app_client, mailer, services, "tom", "tom@example.com")


# --- family log in ------------------------------------------------------------------------


async def test_eleventh_log_in_attempt_is_refused_even_with_the_right_password(
    app_client: TestClient[Any, Any], jane: None
) -> None:
    for _ in range(10):
        assert (await family_login(app_client, password="wrong password")).status == 401
    resp = await family_login(app_client)
    retry_after(resp, at_most=300)
    data = await resp.json()
    assert_error(data, "rate_limited")
    assert "token" not in data


async def test_lockout_lasts_at_most_five_minutes(
    app_client: TestClient[Any, Any], jane: None, clock: FrozenClock
) -> None:
    for _ in range(10):
        await family_login(app_client, password="wrong password")
    wait = retry_after(await family_login(app_client), at_most=300)
    # Retry-After is honest: after that many seconds the right password works again.
    clock.advance(seconds=wait)
    assert (await family_login(app_client)).status == 201


async def test_lockout_in_the_middle_of_a_window_says_how_long_is_left(
    app_client: TestClient[Any, Any], jane: None, clock: FrozenClock
) -> None:
    clock.advance(seconds=100.5)
    for _ in range(10):
        await family_login(app_client, password="wrong password")
    wait = retry_after(await family_login(app_client), at_most=300)
    clock.advance(seconds=wait - 1)
    retry_after(await family_login(app_client), at_most=300)
    clock.advance(seconds=1)
    assert (await family_login(app_client)).status == 201


async def test_lockout_of_one_account_leaves_others_alone(
    app_client: TestClient[Any, Any], jane: None, tom: None
) -> None:
    for _ in range(11):
        await family_login(app_client, password="wrong password")
    assert (await family_login(app_client)).status == 429
    assert (await family_login(app_client, "tom")).status == 201


async def test_unknown_username_is_limited_like_a_known_one(
    app_client: TestClient[Any, Any], jane: None
) -> None:
    answers = []
    for username in ("jane", "nobody"):
        for _ in range(10):
            await family_login(app_client, username, "wrong password")
        resp = await family_login(app_client, username, "wrong password")
        answers.append((resp.status, resp.headers["Retry-After"], await resp.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 429


@SQLITE_ONLY
async def test_log_in_attempts_from_one_address_are_limited(
    app_client: TestClient[Any, Any], jane: None, clock: FrozenClock
) -> None:
    # A different username each time, so only the per-address limit applies.
    allowed = LOGIN_PER_ADDRESS.limit
    for n in range(allowed):
        assert (await family_login(app_client, f"guess{n}", "x")).status == 401
    resp = await family_login(app_client)
    wait = retry_after(resp, at_most=LOGIN_PER_ADDRESS.window)
    assert_error(await resp.json(), "rate_limited")
    clock.advance(seconds=wait)
    assert (await family_login(app_client)).status == 201


async def test_staff_log_in_is_limited_per_account(
    app_client: TestClient[Any, Any], world: World
) -> None:
    body = {"username": "reviewer", "password": "wrong password"}
    for _ in range(10):
        assert (await app_client.post("/api/v1/staff/sessions", json=body)).status == 401
    resp = await app_client.post(
        "/api/v1/staff/sessions", json={"username": "reviewer", "password": PASSWORD}
    )
    retry_after(resp, at_most=300)


# --- tablet PINs --------------------------------------------------------------------------


async def test_sixth_pin_attempt_in_five_minutes_is_refused(
    app_client: TestClient[Any, Any], world: World, clock: FrozenClock
) -> None:
    def pin(p: str, number: str = "A1001") -> dict[str, Any]:
        return {"facility_id": world.facility_id, "resident_number": number, "pin": p}

    for _ in range(5):
        assert (await app_client.post(TABLET, json=pin("0000"))).status == 401
    resp = await app_client.post(TABLET, json=pin("2468"))
    wait = retry_after(resp, at_most=300)
    assert_error(await resp.json(), "rate_limited")
    # Another resident on the same tablet is not held back.
    assert (await app_client.post(TABLET, json=pin("1357", "A1002"))).status == 201

    clock.advance(seconds=wait)
    assert (await app_client.post(TABLET, json=pin("2468"))).status == 201


async def test_successful_pin_log_ins_never_use_up_the_limit(
    app_client: TestClient[Any, Any], world: World
) -> None:
    """Only failures count: tablets waking up together behind one address are never refused."""
    body = {"facility_id": world.facility_id, "resident_number": "A1001", "pin": "2468"}
    for _ in range(12):
        assert (await app_client.post(TABLET, json=body)).status == 201
    assert (await app_client.post(TABLET, json={**body, "pin": "0000"})).status == 401


# --- sign-up ------------------------------------------------------------------------------


async def test_eleventh_sign_up_from_one_address_in_an_hour_is_refused(
    app_client: TestClient[Any, Any], clock: FrozenClock
) -> None:
    for n in range(10):
        body = signup_body(f"user{n}", f"user{n}@example.com")
        assert (await app_client.post("/api/v1/accounts", json=body)).status == 202
    resp = await app_client.post("/api/v1/accounts", json=signup_body())
    wait = retry_after(resp, at_most=3600)
    assert_error(await resp.json(), "rate_limited")

    clock.advance(seconds=wait)
    assert (await app_client.post("/api/v1/accounts", json=signup_body())).status == 202


# --- mail: resend and reset ---------------------------------------------------------------


async def _fourth_answers(
    client: TestClient[Any, Any], path: str, emails: tuple[str, ...]
) -> list[tuple[int, str, Any]]:
    answers = []
    for email in emails:
        for _ in range(3):
            assert (await client.post(path, json={"email": email})).status == 202
        resp = await client.post(path, json={"email": email})
        retry_after(resp, at_most=900)
        answers.append((resp.status, resp.headers["Retry-After"], await resp.json()))
    return answers


@pytest.mark.parametrize("path", ["/api/v1/accounts/activation/resend", "/api/v1/password-resets"])
async def test_fourth_mail_to_one_address_in_15_minutes_is_refused_alike_for_known_and_unknown(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    clock: FrozenClock,
    path: str,
) -> None:
    assert (await app_client.post("/api/v1/accounts", json=signup_body())).status == 202
    await services.mail.join()
    before = len(mailer.to("jane@example.com"))

    answers = await _fourth_answers(app_client, path, ("jane@example.com", "nobody@example.com"))
    assert answers[0] == answers[1]
    assert_error(answers[0][2], "rate_limited")
    await services.mail.join()
    assert len(mailer.to("jane@example.com")) == before + 3  # never more than 3 a window

    clock.advance(seconds=int(answers[0][1]))
    assert (await app_client.post(path, json={"email": "jane@example.com"})).status == 202


async def test_mail_limit_ignores_the_case_of_the_email(
    app_client: TestClient[Any, Any],
) -> None:
    for email in ("Jane@example.com", "JANE@EXAMPLE.COM", "jane@example.com"):
        resp = await app_client.post("/api/v1/password-resets", json={"email": email})
        assert resp.status == 202
    resp = await app_client.post("/api/v1/password-resets", json={"email": "jAnE@example.com"})
    assert resp.status == 429


# --- activation ---------------------------------------------------------------------------


async def test_eleventh_activation_attempt_for_one_email_is_refused_even_with_the_right_code(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    clock: FrozenClock,
) -> None:
    assert (await app_client.post("/api/v1/accounts", json=signup_body())).status == 202
    await services.mail.join()
    code = activation_code(mailer.last_text("jane@example.com"))
    body = {"email": "jane@example.com", "code": code}

    for _ in range(10):
        resp = await app_client.post(
            "/api/v1/accounts/activate", json={**body, "code": "ZZZZ-ZZZZ"}
        )
        assert resp.status == 400
    resp = await app_client.post("/api/v1/accounts/activate", json=body)
    wait = retry_after(resp, at_most=900)
    assert_error(await resp.json(), "rate_limited")

    clock.advance(seconds=wait)
    resp = await app_client.post("/api/v1/accounts/activate", json=body)
    assert resp.status == 200


# --- the Redis limiter --------------------------------------------------------------------


@pytest.fixture
async def redis_limiter(clock: FrozenClock) -> Any:
    """A RedisRateLimiter on a real Redis, under a key prefix of its own, cleaned up after."""
    url = need_service(TEST_REDIS_URL, "test_redis")
    prefix = f"homeline-test:{secrets.token_hex(8)}"
    redis = Redis.from_url(url)
    limiter = RedisRateLimiter(redis, clock, prefix=prefix)
    try:
        yield limiter, redis, prefix
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await limiter.close()


async def test_redis_limiter_refuses_the_eleventh_hit_until_the_window_ends(
    redis_limiter: Any, clock: FrozenClock
) -> None:
    limiter, _, _ = redis_limiter
    for _ in range(10):
        assert await limiter.hit(LOGIN_PER_ACCOUNT, "family:jane") is None
    wait = await limiter.hit(LOGIN_PER_ACCOUNT, "family:JANE")  # keys ignore case
    assert wait is not None
    assert 0 < wait <= 300
    assert await limiter.hit(LOGIN_PER_ACCOUNT, "family:tom") is None

    clock.advance(seconds=wait - 1)
    assert await limiter.hit(LOGIN_PER_ACCOUNT, "family:jane") is not None
    clock.advance(seconds=1)
    assert await limiter.hit(LOGIN_PER_ACCOUNT, "family:jane") is None


async def test_redis_limiter_wait_does_not_count(redis_limiter: Any) -> None:
    limiter, _, _ = redis_limiter
    for _ in range(9):
        await limiter.hit(LOGIN_PER_ACCOUNT, "family:ann")
    for _ in range(5):
        assert await limiter.wait(LOGIN_PER_ACCOUNT, "family:ann") is None
    await limiter.hit(LOGIN_PER_ACCOUNT, "family:ann")
    wait = await limiter.wait(LOGIN_PER_ACCOUNT, "family:ann")
    assert wait is not None and 0 < wait <= 300


async def test_redis_limiter_is_shared_by_server_processes(
    redis_limiter: Any, clock: FrozenClock
) -> None:
    """Two limiters (two processes) on one Redis count together."""
    limiter, _, prefix = redis_limiter
    url = need_service(TEST_REDIS_URL, "test_redis")
    other = RedisRateLimiter(Redis.from_url(url), clock, prefix=prefix)
    try:
        assert await limiter.hit(MAIL_PER_EMAIL, "jane@example.com") is None
        assert await other.hit(MAIL_PER_EMAIL, "jane@example.com") is None
        assert await limiter.hit(MAIL_PER_EMAIL, "jane@example.com") is None
        wait = await other.hit(MAIL_PER_EMAIL, "jane@example.com")
        assert wait is not None
        assert 0 < wait <= 900
    finally:
        await other.close()


async def test_redis_limiter_keys_expire_on_their_own(redis_limiter: Any) -> None:
    limiter, redis, prefix = redis_limiter
    await limiter.hit(LOGIN_PER_ACCOUNT, "family:jane")
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    assert len(keys) == 1
    ttl = await redis.ttl(keys[0])
    assert 0 < ttl <= LOGIN_PER_ACCOUNT.window + 5


async def test_redis_limiter_counts_in_process_while_redis_is_unreachable(
    clock: FrozenClock,
) -> None:
    """An outage must not stop anyone signing in: the limits still hold, per process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    limiter = RedisRateLimiter(
        Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1), clock
    )
    try:
        for _ in range(10):
            assert await limiter.hit(LOGIN_PER_ACCOUNT, "family:jane") is None
        assert await limiter.wait(LOGIN_PER_ACCOUNT, "family:jane") is not None
        assert await limiter.hit(LOGIN_PER_ACCOUNT, "family:jane") is not None
    finally:
        await limiter.close()
