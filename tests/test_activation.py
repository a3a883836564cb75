"""Activation: by code or by link, once, within 24 hours; a new code replaces the old one; an
unactivated account is told why it cannot sign in, but only with the right password."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.services.context import Services
from tests.fakes import FrozenClock, RecordingMailer, activation_code, link_token
from tests.story import PASSWORD, assert_error, signup_body

ACTIVATE = "/api/v1/accounts/activate"
RESEND = "/api/v1/accounts/activation/resend"
LOGIN = "/api/v1/sessions"
# What a browser asks for when it follows a link.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def sign_up(
    client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    username: str = "jane",
    email: str = "jane@example.com",
) -> str:
    """Sign up and return the activation mail's text."""
    resp = await client.post("/api/v1/accounts", json=signup_body(username, email))
    assert resp.status == 202, await resp.text()
    await services.mail.join()
    return mailer.last_text(email)


async def activate(
    client: TestClient[Any, Any], code: str, email: str = "jane@example.com"
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(ACTIVATE, json={"email": email, "code": code})
    return resp.status, await resp.json()


async def log_in_status(client: TestClient[Any, Any], password: str = PASSWORD) -> int:
    resp = await client.post(LOGIN, json={"username": "jane", "password": password})
    return resp.status


@SQLITE_ONLY
@pytest.mark.parametrize(
    "typed",
    [lambda c: c, lambda c: c.replace("-", ""), lambda c: c.lower(), lambda c: f"  {c.lower()} "],
    ids=["with_dash", "without_dash", "lower_case", "padded_lower_case"],
)
async def test_activation_by_code_activates_the_account(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services, typed: Any
) -> None:
    code = activation_code(await sign_up(app_client, mailer, services))
    assert await log_in_status(app_client) == 403

    status, data = await activate(app_client, typed(code))
    assert status == 200, data
    assert data["status"] == "active"
    assert await log_in_status(app_client) == 201


async def test_activation_code_works_with_the_email_in_another_case(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    code = activation_code(await sign_up(app_client, mailer, services))
    status, _ = await activate(app_client, code, email="Jane@Example.COM")
    assert status == 200
    assert await log_in_status(app_client) == 201


async def test_activation_by_link_shows_a_page_and_activates_the_account(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    text = await sign_up(app_client, mailer, services)
    assert "http://127.0.0.1:8080/activate?token=" in text
    resp = await app_client.get("/activate", params={"token": link_token(text)})
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert "Account activated" in await resp.text()
    assert await log_in_status(app_client) == 201


@SQLITE_ONLY
async def test_activation_link_with_a_wrong_token_shows_a_failure_page(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    await sign_up(app_client, mailer, services)
    for params in ({"token": "not-a-real-token"}, {}):
        resp = await app_client.get("/activate", params=params, headers=BROWSER)
        assert resp.status == 400
        assert resp.content_type == "text/html"
        assert "Activation failed" in await resp.text()
    assert await log_in_status(app_client) == 403


@SQLITE_ONLY
@pytest.mark.parametrize(
    "accept", ["application/json", "*/*", None], ids=["json", "anything", "no_accept_header"]
)
async def test_activation_link_refusal_answers_an_api_client_in_json(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    accept: str | None,
) -> None:
    await sign_up(app_client, mailer, services)
    headers = {"Accept": accept} if accept else {}
    for params in ({"token": "not-a-real-token"}, {}, {"token": "x" * 101}):
        resp = await app_client.get(
            "/activate", params=params, headers=headers, skip_auto_headers=["Accept"]
        )
        assert resp.status == 400
        assert resp.content_type == "application/json"
        assert_error(await resp.json(), "invalid_code")
    assert await log_in_status(app_client) == 403


@SQLITE_ONLY
async def test_31st_activation_link_is_refused_with_retry_after_in_json_and_as_a_page(
    app_client: TestClient[Any, Any],
) -> None:
    for n in range(30):
        resp = await app_client.get("/activate", params={"token": f"wrong-{n}"})
        assert resp.status == 400
    resp = await app_client.get("/activate", params={"token": "wrong"})
    assert resp.status == 429
    assert resp.content_type == "application/json"
    assert_error(await resp.json(), "rate_limited")
    assert 0 < int(resp.headers["Retry-After"]) <= 900
    page = await app_client.get("/activate", params={"token": "wrong"}, headers=BROWSER)
    assert page.status == 429
    assert page.content_type == "text/html"
    assert 0 < int(page.headers["Retry-After"]) <= 900


async def test_activation_code_works_only_once(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    text = await sign_up(app_client, mailer, services)
    code = activation_code(text)
    assert (await activate(app_client, code))[0] == 200
    status, data = await activate(app_client, code)
    assert status == 400
    assert_error(data, "invalid_code")
    # The code and the link were one: the link is spent too.
    resp = await app_client.get("/activate", params={"token": link_token(text)})
    assert resp.status == 400


async def test_activation_code_23_hours_59_minutes_old_still_works(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    clock: FrozenClock,
) -> None:
    code = activation_code(await sign_up(app_client, mailer, services))
    clock.advance(hours=23, minutes=59)
    assert (await activate(app_client, code))[0] == 200


async def test_activation_code_expires_after_24_hours(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    clock: FrozenClock,
) -> None:
    text = await sign_up(app_client, mailer, services)
    clock.advance(hours=24, seconds=1)
    status, data = await activate(app_client, activation_code(text))
    assert status == 400
    assert_error(data, "invalid_code")
    resp = await app_client.get("/activate", params={"token": link_token(text)})
    assert resp.status == 400
    assert await log_in_status(app_client) == 403


async def test_wrong_activation_code_is_refused(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    code = activation_code(await sign_up(app_client, mailer, services))
    wrong = ("B" if code[0] != "B" else "C") + code[1:]
    status, data = await activate(app_client, wrong)
    assert status == 400
    assert_error(data, "invalid_code")
    assert await log_in_status(app_client) == 403


@SQLITE_ONLY
async def test_activation_answers_the_same_for_an_unknown_email(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    code = activation_code(await sign_up(app_client, mailer, services))
    wrong_code = await activate(app_client, "ABCD-EFGH")
    unknown_email = await activate(app_client, code, email="nobody@example.com")
    assert wrong_code == unknown_email
    assert wrong_code[0] == 400


@SQLITE_ONLY
@pytest.mark.parametrize(
    "body",
    [{"email": "jane@example.com"}, {"email": "jane@example.com", "code": ""}, {"code": "X"}],
    ids=["no_code", "empty_code", "no_email"],
)
async def test_activation_without_email_or_code_is_refused(
    app_client: TestClient[Any, Any], body: dict[str, str]
) -> None:
    resp = await app_client.post(ACTIVATE, json=body)
    assert resp.status == 422
    assert_error(await resp.json(), "invalid_fields")


async def test_resend_issues_a_new_code_and_the_old_one_stops_working(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    first = await sign_up(app_client, mailer, services)
    resp = await app_client.post(RESEND, json={"email": "jane@example.com"})
    assert resp.status == 202
    await services.mail.join()
    assert len(mailer.to("jane@example.com")) == 2
    second = mailer.last_text("jane@example.com")
    assert activation_code(second) != activation_code(first)

    status, data = await activate(app_client, activation_code(first))
    assert status == 400
    assert_error(data, "invalid_code")
    resp = await app_client.get("/activate", params={"token": link_token(first)})
    assert resp.status == 400

    assert (await activate(app_client, activation_code(second)))[0] == 200
    assert await log_in_status(app_client) == 201


async def test_resend_answers_identically_for_unknown_active_and_pending_accounts(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    code = activation_code(await sign_up(app_client, mailer, services, "tom", "tom@example.com"))
    assert (await activate(app_client, code, email="tom@example.com"))[0] == 200
    await sign_up(app_client, mailer, services, "jane", "jane@example.com")
    before = {a: len(mailer.to(a)) for a in ("tom@example.com", "jane@example.com")}

    answers = []
    for email in ("nobody@example.com", "tom@example.com", "jane@example.com"):
        resp = await app_client.post(RESEND, json={"email": email})
        answers.append((resp.status, await resp.json()))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 202

    await services.mail.join()
    assert mailer.to("nobody@example.com") == []
    assert len(mailer.to("tom@example.com")) == before["tom@example.com"]  # already active
    assert len(mailer.to("jane@example.com")) == before["jane@example.com"] + 1  # pending


async def test_unactivated_account_is_told_why_it_cannot_log_in(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    await sign_up(app_client, mailer, services)
    resp = await app_client.post(LOGIN, json={"username": "jane", "password": PASSWORD})
    assert resp.status == 403
    assert_error(await resp.json(), "not_activated")


async def test_unactivated_account_with_wrong_password_looks_like_an_unknown_user(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    await sign_up(app_client, mailer, services)
    wrong = await app_client.post(LOGIN, json={"username": "jane", "password": "not it at all"})
    unknown = await app_client.post(LOGIN, json={"username": "nobody", "password": PASSWORD})
    assert wrong.status == unknown.status == 401
    wrong_body, unknown_body = await wrong.json(), await unknown.json()
    assert wrong_body == unknown_body
    assert_error(wrong_body, "bad_credentials")
