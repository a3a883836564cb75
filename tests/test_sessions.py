"""Sessions: log in by cookie (with CSRF) or bearer token, the idle and absolute limits, log out,
password reset, tablets and staff, and how passwords are hashed in production."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from server.app import create_app
from server.appkeys import SERVICES
from server.config import Config
from server.services.context import Services
from tests.fakes import FrozenClock, RecordingMailer, activation_code
from tests.story import (
    NEW_PASSWORD,
    PASSWORD,
    RESET,
    START,
    Actor,
    World,
    assert_error,
    confirm,
    log_in,
    request_reset,
    reset_schema,
    reset_token,
    signup_body,
)

LOGIN = "/api/v1/sessions"
CURRENT = "/api/v1/sessions/current"
ME = "/api/v1/accounts/me"
# Tests of the transport alone (cookie flags, CSRF, status codes of refusals) run on SQLite
# only; everything that stores or times a session runs on PostgreSQL too.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def set_cookie_headers(resp: ClientResponse) -> dict[str, str]:
    """Each Set-Cookie header, by cookie name."""
    out: dict[str, str] = {}
    for header in resp.headers.getall("Set-Cookie", []):
        out[header.split("=", 1)[0]] = header
    return out


async def signed_in(client: TestClient[Any, Any], headers: dict[str, str] | None = None) -> bool:
    """Whether the session (bearer `headers`, or else the cookie jar) is alive: the current
    principal, which is null when nobody is signed in."""
    resp = await client.get(CURRENT, headers=headers or {})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["principal"] is not None


async def family_login(
    client: TestClient[Any, Any], password: str = PASSWORD, **extra: Any
) -> ClientResponse:
    return await client.post(LOGIN, json={"username": "jane", "password": password, **extra})


# --- cookie and bearer sessions -----------------------------------------------------------


@SQLITE_ONLY
async def test_cookie_login_sets_httponly_lax_session_cookie_and_readable_csrf_cookie(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    resp = await family_login(app_client)
    assert resp.status == 201
    data = await resp.json()
    assert "token" not in data  # a browser never sees the session token
    cookies = set_cookie_headers(resp)

    session = cookies["homeline_session"]
    assert "HttpOnly" in session
    assert "SameSite=Lax" in session
    assert "Path=/" in session
    csrf = cookies["homeline_csrf"]
    assert "HttpOnly" not in csrf  # the page's script reads it
    assert "SameSite=Lax" in csrf
    assert SimpleCookie(csrf)["homeline_csrf"].value == data["csrf_token"]


@SQLITE_ONLY
async def test_session_cookie_lives_as_long_as_the_session(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    """12 hours from the log in, on the server's clock (not 0, not the wall clock's idea)."""
    resp = await family_login(app_client)
    data = await resp.json()
    assert data["expires_at"] == "2026-11-19T03:00:00+00:00"
    for header in set_cookie_headers(resp).values():
        assert "Max-Age=43200" in header, header


async def test_cookie_session_identifies_the_caller(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    assert (await family_login(app_client)).status == 201
    resp = await app_client.get(CURRENT)  # the client's cookie jar sends the cookie
    assert resp.status == 200, await resp.text()
    principal = (await resp.json())["principal"]
    assert principal["kind"] == "family"
    assert principal["id"] == family.id
    assert principal["display_name"] == "Jane Reed"


async def test_bearer_login_returns_a_token_that_identifies_the_caller(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    resp = await family_login(app_client, session="bearer")
    assert resp.status == 201
    data = await resp.json()
    assert set_cookie_headers(resp) == {}
    headers = {"Authorization": f"Bearer {data['token']}"}
    resp = await app_client.get(CURRENT, headers=headers)
    assert resp.status == 200
    assert (await resp.json())["principal"]["id"] == family.id


@SQLITE_ONLY
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Bearer "}],
    ids=["nothing", "unknown_token", "empty_token"],
)
async def test_request_without_a_valid_session_is_401(
    app_client: TestClient[Any, Any], headers: dict[str, str]
) -> None:
    resp = await app_client.get(ME, headers=headers)
    assert resp.status == 401
    assert_error(await resp.json(), "unauthenticated")
    # Asking who is signed in is not an error: nobody is.
    resp = await app_client.get(CURRENT, headers=headers)
    assert resp.status == 200
    assert await resp.json() == {"principal": None}


async def test_unsafe_cookie_request_without_csrf_header_is_refused(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    resp = await family_login(app_client)
    csrf = (await resp.json())["csrf_token"]

    resp = await app_client.delete(CURRENT)
    assert resp.status == 403
    assert_error(await resp.json(), "csrf")
    resp = await app_client.delete(CURRENT, headers={"X-CSRF-Token": csrf[:-1] + "x"})
    assert resp.status == 403
    assert_error(await resp.json(), "csrf")
    assert await signed_in(app_client)  # still signed in

    resp = await app_client.delete(CURRENT, headers={"X-CSRF-Token": csrf})
    assert resp.status == 204
    assert not await signed_in(app_client)


@SQLITE_ONLY
async def test_csrf_token_of_another_session_is_refused(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    other = await (await family_login(app_client, session="bearer")).json()
    assert (await family_login(app_client)).status == 201
    resp = await app_client.delete(CURRENT, headers={"X-CSRF-Token": other["csrf_token"]})
    assert resp.status == 403
    assert_error(await resp.json(), "csrf")


@SQLITE_ONLY
async def test_bearer_request_needs_no_csrf_header(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    resp = await app_client.delete(CURRENT, headers=family.headers)
    assert resp.status == 204


async def test_every_log_in_gets_a_new_session_token(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    first = await (await family_login(app_client, session="bearer")).json()
    second = await (await family_login(app_client, session="bearer")).json()
    assert first["token"] != second["token"]
    assert first["csrf_token"] != second["csrf_token"]
    assert family.token not in (first["token"], second["token"])


@SQLITE_ONLY
async def test_wrong_password_and_unknown_user_get_the_same_answer(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    wrong = await family_login(app_client, password="not the password")
    unknown = await app_client.post(LOGIN, json={"username": "nobody", "password": PASSWORD})
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()
    assert_error(await wrong.json(), "bad_credentials")


async def test_username_is_not_case_sensitive_at_log_in(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    resp = await app_client.post(LOGIN, json={"username": "JANE", "password": PASSWORD})
    assert resp.status == 201


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (LOGIN, {"username": "ja\u0000ne", "password": PASSWORD}),
        (RESET, {"email": "ja\u0000ne@example.com"}),
        ("/api/v1/accounts/activate", {"email": "ja\u0000ne@example.com", "code": "ABCD"}),
    ],
    ids=["log_in", "reset", "activate"],
)
async def test_nul_character_in_credentials_is_refused_not_a_server_error(
    app_client: TestClient[Any, Any], path: str, body: dict[str, str]
) -> None:
    resp = await app_client.post(path, json=body)
    assert resp.status == 422
    assert_error(await resp.json(), "invalid_fields")


# --- idle and absolute limits -------------------------------------------------------------


async def test_session_unused_for_29_minutes_59_seconds_still_works(
    app_client: TestClient[Any, Any], family: Actor, clock: FrozenClock
) -> None:
    clock.advance(minutes=29, seconds=59)
    assert await signed_in(app_client, family.headers)


async def test_session_unused_for_30_minutes_ends(
    app_client: TestClient[Any, Any], family: Actor, clock: FrozenClock
) -> None:
    clock.advance(minutes=30)
    assert not await signed_in(app_client, family.headers)
    resp = await app_client.get(ME, headers=family.headers)
    assert resp.status == 401
    assert_error(await resp.json(), "expired")


async def test_using_the_session_keeps_it_alive(
    app_client: TestClient[Any, Any], family: Actor, clock: FrozenClock
) -> None:
    # Used every 25 minutes for 5 hours: never 30 minutes idle.
    for _ in range(12):
        clock.advance(minutes=25)
        assert await signed_in(app_client, family.headers)
    clock.advance(minutes=30)
    assert not await signed_in(app_client, family.headers)


async def test_use_within_the_touch_interval_does_not_extend_the_idle_limit(
    app_client: TestClient[Any, Any], family: Actor, clock: FrozenClock
) -> None:
    """Last use is recorded at most once a minute: a use 59 s after the log in is not written,
    so 30 minutes after the log in the session has been idle too long."""
    clock.advance(seconds=59)
    assert await signed_in(app_client, family.headers)
    clock.advance(minutes=29, seconds=1)
    assert not await signed_in(app_client, family.headers)


async def test_session_ends_12_hours_after_log_in_even_when_used(
    app_client: TestClient[Any, Any], family: Actor, clock: FrozenClock
) -> None:
    # Used every 20 minutes: alive until 11:40, ended at 12:00.
    for _ in range(35):
        clock.advance(minutes=20)
        assert await signed_in(app_client, family.headers)
    assert clock.now() - START == timedelta(hours=11, minutes=40)
    clock.advance(minutes=20)
    assert not await signed_in(app_client, family.headers)
    resp = await app_client.get(ME, headers=family.headers)
    assert resp.status == 401
    assert_error(await resp.json(), "expired")


async def test_log_out_ends_the_session(app_client: TestClient[Any, Any], family: Actor) -> None:
    other = await log_in(app_client, LOGIN, {"username": "jane", "password": PASSWORD})
    resp = await app_client.delete(CURRENT, headers=family.headers)
    assert resp.status == 204
    assert not await signed_in(app_client, family.headers)
    assert await signed_in(app_client, other.headers)  # only that session
    resp = await app_client.delete(CURRENT, headers=family.headers)
    assert resp.status == 401


@SQLITE_ONLY
async def test_cookie_log_out_clears_the_cookies(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    csrf = (await (await family_login(app_client)).json())["csrf_token"]
    resp = await app_client.delete(CURRENT, headers={"X-CSRF-Token": csrf})
    assert resp.status == 204
    cleared = set_cookie_headers(resp)
    assert set(cleared) == {"homeline_session", "homeline_csrf"}
    for header in cleared.values():
        assert "Max-Age=0" in header, header


# --- password reset -----------------------------------------------------------------------


async def test_reset_request_answers_identically_for_known_and_unknown_email(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services, family: Actor
) -> None:
    await services.mail.join()
    before = len(mailer.to("jane@example.com"))
    known = await request_reset(app_client, "Jane@Example.com")
    unknown = await request_reset(app_client, "nobody@example.com")
    assert known == unknown
    assert known[0] == 202
    await services.mail.join()
    assert len(mailer.to("jane@example.com")) == before + 1
    assert mailer.to("nobody@example.com") == []


async def test_reset_sets_a_new_password_and_the_old_one_stops_working(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services, family: Actor
) -> None:
    token = await reset_token(app_client, mailer, services)
    status, data = await confirm(app_client, token)
    assert status == 200, data
    assert (await family_login(app_client)).status == 401
    assert (await family_login(app_client, NEW_PASSWORD)).status == 201


async def test_reset_ends_every_session_of_the_account(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    family: Actor,
    other_family: Actor,
) -> None:
    second = await log_in(app_client, LOGIN, {"username": "jane", "password": PASSWORD})
    token = await reset_token(app_client, mailer, services)
    assert (await confirm(app_client, token))[0] == 200
    assert not await signed_in(app_client, family.headers)
    assert not await signed_in(app_client, second.headers)
    assert await signed_in(app_client, other_family.headers)  # someone else's


async def test_reset_token_works_only_once(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services, family: Actor
) -> None:
    token = await reset_token(app_client, mailer, services)
    assert (await confirm(app_client, token))[0] == 200
    status, data = await confirm(app_client, token, "yet another passphrase")
    assert status == 400
    assert_error(data, "invalid_token")
    assert (await family_login(app_client, NEW_PASSWORD)).status == 201


async def test_reset_token_29_minutes_59_seconds_old_still_works(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    family: Actor,
    clock: FrozenClock,
) -> None:
    token = await reset_token(app_client, mailer, services)
    clock.advance(minutes=29, seconds=59)
    assert (await confirm(app_client, token))[0] == 200


async def test_reset_token_expires_after_30_minutes(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    family: Actor,
    clock: FrozenClock,
) -> None:
    token = await reset_token(app_client, mailer, services)
    clock.advance(minutes=30)
    status, data = await confirm(app_client, token)
    assert status == 400
    assert_error(data, "invalid_token")
    assert (await family_login(app_client)).status == 201  # unchanged


async def test_a_new_reset_link_replaces_the_previous_one(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services, family: Actor
) -> None:
    first = await reset_token(app_client, mailer, services)
    second = await reset_token(app_client, mailer, services)
    assert (await confirm(app_client, first))[0] == 400
    assert (await confirm(app_client, second))[0] == 200


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("password", "why"),
    [("Xk3#pq9", "at least 8"), ("password123", "common"), ("jane", "at least 8")],
)
async def test_weak_new_password_is_refused_and_the_link_still_works(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    family: Actor,
    password: str,
    why: str,
) -> None:
    token = await reset_token(app_client, mailer, services)
    status, data = await confirm(app_client, token, password)
    assert status == 422
    assert_error(data, "invalid_fields")
    assert why in data["error"]["fields"]["password"]
    assert (await family_login(app_client)).status == 201  # unchanged
    assert (await confirm(app_client, token))[0] == 200


@SQLITE_ONLY
async def test_reset_with_an_unknown_token_is_refused(app_client: TestClient[Any, Any]) -> None:
    status, data = await confirm(app_client, "made-up-token")
    assert status == 400
    assert_error(data, "invalid_token")


# --- tablets and staff --------------------------------------------------------------------


def tablet(world: World, number: str = "A1001", pin: str = "2468", **changes: Any) -> Any:
    return {"facility_id": world.facility_id, "resident_number": number, "pin": pin, **changes}


async def test_resident_logs_in_on_a_tablet_with_the_right_pin(
    app_client: TestClient[Any, Any], world: World
) -> None:
    resp = await app_client.post("/api/v1/tablet/sessions", json=tablet(world))
    assert resp.status == 201
    data = await resp.json()
    assert data["principal"]["kind"] == "resident"
    assert data["principal"]["id"] == world.residents["A1001"]
    assert data["principal"]["facility_id"] == world.facility_id
    assert set_cookie_headers(resp) == {}  # tablets get a bearer token
    headers = {"Authorization": f"Bearer {data['token']}"}
    assert await signed_in(app_client, headers)


@SQLITE_ONLY
@pytest.mark.parametrize(
    "change",
    [
        {"pin": "2469"},
        {"pin": "1357"},  # another resident's PIN
        {"resident_number": "A9999"},
        {"facility_id": "other"},  # the right resident and PIN, the wrong facility
        {"facility_id": 999_999},
    ],
    ids=["wrong_pin", "other_residents_pin", "unknown_number", "wrong_facility", "no_facility"],
)
async def test_tablet_log_in_with_wrong_details_is_401(
    app_client: TestClient[Any, Any], world: World, change: dict[str, Any]
) -> None:
    if change.get("facility_id") == "other":
        change = {"facility_id": world.other_facility_id}
    resp = await app_client.post("/api/v1/tablet/sessions", json=tablet(world, **change))
    assert resp.status == 401
    assert_error(await resp.json(), "bad_credentials")


async def test_staff_log_in_is_recorded_in_the_audit_log(
    app_client: TestClient[Any, Any], world: World, services: Services
) -> None:
    resp = await app_client.post(
        "/api/v1/staff/sessions",
        json={"username": "reviewer", "password": PASSWORD, "session": "bearer"},
    )
    assert resp.status == 201
    principal = (await resp.json())["principal"]
    assert principal["kind"] == "staff"
    assert principal["role"] == "reviewer"
    assert principal["facility_id"] == world.facility_id

    async with services.db.read() as tx:
        rows = (
            await tx.execute(text("SELECT staff_id, action, facility_id, at FROM audit_log"))
        ).all()
    assert [(r.staff_id, r.action, r.facility_id) for r in rows] == [
        (principal["id"], "staff.login", world.facility_id)
    ]
    assert str(rows[0].at).startswith("2026-11-18 15:00:00")


@SQLITE_ONLY
async def test_staff_log_in_with_wrong_password_is_401_and_not_a_session(
    app_client: TestClient[Any, Any], world: World
) -> None:
    resp = await app_client.post(
        "/api/v1/staff/sessions", json={"username": "reviewer", "password": "wrong password"}
    )
    assert resp.status == 401
    assert_error(await resp.json(), "bad_credentials")


@SQLITE_ONLY
async def test_staff_and_family_log_ins_are_separate(
    app_client: TestClient[Any, Any], world: World, family: Actor
) -> None:
    as_family = await app_client.post(LOGIN, json={"username": "reviewer", "password": PASSWORD})
    assert as_family.status == 401
    as_staff = await app_client.post(
        "/api/v1/staff/sessions", json={"username": "jane", "password": PASSWORD}
    )
    assert as_staff.status == 401


# --- production password hashing ----------------------------------------------------------


@SQLITE_ONLY
async def test_production_hasher_stores_argon2id_at_owasp_strength(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    config: Config,
    clock: FrozenClock,
    mailer: RecordingMailer,
) -> None:
    """The app as deployed (no hasher injected): argon2id, 19 MiB, 2 passes, 1 lane."""
    await reset_schema(config.database_url)
    client = await aiohttp_client(create_app(config, clock=clock, mailer=mailer))
    services = client.app[SERVICES]
    resp = await client.post("/api/v1/accounts", json=signup_body())
    assert resp.status == 202
    await services.mail.join()  # the account is opened after the answer
    async with services.db.read() as tx:
        stored = await tx.scalar(text("SELECT password_hash FROM family_accounts"))
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in stored

    await services.mail.join()
    code = activation_code(mailer.last_text("jane@example.com"))
    resp = await client.post(
        "/api/v1/accounts/activate", json={"email": "jane@example.com", "code": code}
    )
    assert resp.status == 200
    assert (await family_login(client)).status == 201
    assert (await family_login(client, "not the password")).status == 401
