"""Family sign-up: every field's rule at its limit, the shape of the request body, and an answer
that never reveals whether an e-mail address already has an account."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from server.services.context import Services
from tests.fakes import RecordingMailer, activation_code
from tests.story import PASSWORD, assert_error, signup_body

SIGNUP = "/api/v1/accounts"
LOGIN = "/api/v1/sessions"
# Refusals happen before storage and the body's shape is the transport's business: those
# tests run on SQLite only. Everything that stores an account runs on PostgreSQL too.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ACCEPTED = {
    "status": "accepted",
    "message": "If the details are right, an e-mail is on its way. Check your inbox.",
}


async def sign_up(client: TestClient[Any, Any], body: Any) -> ClientResponse:
    return await client.post(SIGNUP, json=body)


async def assert_refused_on(
    client: TestClient[Any, Any], field: str, body: dict[str, Any]
) -> dict[str, Any]:
    """422 with a sentence for `field`, and nothing created: the same username and e-mail can
    then sign up with a valid form (a brand-new account, not "you already have one")."""
    resp = await sign_up(client, body)
    assert resp.status == 422, await resp.text()
    data: dict[str, Any] = await resp.json()
    assert_error(data, "invalid_fields")
    assert isinstance(data["error"]["fields"].get(field), str), data
    assert data["error"]["fields"][field]
    username, email = body.get("username"), body.get("email")
    retry = await sign_up(
        client,
        signup_body(
            username if field != "username" and isinstance(username, str) else "jane",
            email if field != "email" and isinstance(email, str) else "jane@example.com",
        ),
    )
    assert retry.status == 202, await retry.text()
    return data


async def assert_accepted(
    client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    body: dict[str, Any],
) -> None:
    """202 and an activation code mailed: the account really was created."""
    resp = await sign_up(client, body)
    assert resp.status == 202, await resp.text()
    assert await resp.json() == ACCEPTED
    await services.mail.join()
    assert activation_code(mailer.last_text(body["email"]))


async def test_full_valid_signup_is_accepted_and_mails_an_activation_code(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    await assert_accepted(app_client, mailer, services, signup_body())
    text = mailer.last_text("jane@example.com")
    assert "http://127.0.0.1:8080/activate?token=" in text
    # The account exists but is waiting for activation.
    resp = await app_client.post(LOGIN, json={"username": "jane", "password": PASSWORD})
    assert resp.status == 403
    assert_error(await resp.json(), "not_activated")


# --- username -----------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize(
    "username",
    ["jo", "j" * 33, "1jane", "_jane", "jane doe", "jané", "jane@home", "", "jane\n"],
    ids=[
        "2_chars",
        "33_chars",
        "starts_with_digit",
        "starts_with_underscore",
        "space",
        "accent",
        "at_sign",
        "empty",
        "trailing_newline",
    ],
)
async def test_username_breaking_the_rules_is_refused(
    app_client: TestClient[Any, Any], username: str
) -> None:
    resp = await sign_up(app_client, signup_body(username))
    assert resp.status == 422, await resp.text()
    data = await resp.json()
    assert "username" in data["error"]["fields"]
    # Nothing was created: the e-mail is still free for a valid sign-up.
    resp = await sign_up(app_client, signup_body("jane"))
    assert resp.status == 202


@pytest.mark.parametrize(
    "username",
    ["joe", "j" * 32, "Jane.Doe_2-x"],
    ids=["3_chars", "32_chars", "dot_underscore_dash"],
)
async def test_username_within_the_rules_is_accepted(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services, username: str
) -> None:
    await assert_accepted(app_client, mailer, services, signup_body(username))


async def test_taken_username_is_refused_on_username(
    app_client: TestClient[Any, Any], services: Services
) -> None:
    assert (await sign_up(app_client, signup_body("jane", "jane@example.com"))).status == 202
    await services.mail.join()  # the account is opened after the answer
    resp = await sign_up(app_client, signup_body("JANE", "someone.else@example.com"))
    assert resp.status == 422
    data = await resp.json()
    assert_error(data, "invalid_fields")
    assert set(data["error"]["fields"]) == {"username"}


async def test_taken_username_is_refused_whether_or_not_the_email_is_known(
    app_client: TestClient[Any, Any], services: Services
) -> None:
    """Otherwise a stranger could sign up with a username they know is taken (their own) and
    learn from 202-versus-422 whether an e-mail address has an account."""
    assert (await sign_up(app_client, signup_body("mallory", "mallory@example.com"))).status == 202
    assert (await sign_up(app_client, signup_body("jane", "jane@example.com"))).status == 202
    await services.mail.join()  # the accounts are opened after the answer

    known = await sign_up(app_client, signup_body("mallory", "jane@example.com"))
    unknown = await sign_up(app_client, signup_body("mallory", "nobody@example.com"))
    assert known.status == unknown.status == 422
    assert await known.json() == await unknown.json()


# --- password -----------------------------------------------------------------------------


@SQLITE_ONLY
async def test_password_of_7_chars_is_refused(app_client: TestClient[Any, Any]) -> None:
    pw = "Xk3#pq9"
    await assert_refused_on(app_client, "password", signup_body(password=pw, password_confirm=pw))


@SQLITE_ONLY
async def test_password_of_8_chars_is_accepted(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    pw = "Xk3#pq9z"
    await assert_accepted(
        app_client, mailer, services, signup_body(password=pw, password_confirm=pw)
    )
    await _activate_and_log_in(app_client, mailer, "jane", pw)


async def test_password_of_128_chars_is_accepted(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    pw = "Xk3#pq9z" * 16
    assert len(pw) == 128
    await assert_accepted(
        app_client, mailer, services, signup_body(password=pw, password_confirm=pw)
    )
    await _activate_and_log_in(app_client, mailer, "jane", pw)


@SQLITE_ONLY
async def test_password_of_129_chars_is_refused(app_client: TestClient[Any, Any]) -> None:
    pw = "Xk3#pq9z" * 16 + "q"
    await assert_refused_on(app_client, "password", signup_body(password=pw, password_confirm=pw))


@SQLITE_ONLY
@pytest.mark.parametrize("pw", ["password1", "PASSWORD1", "12345678"])
async def test_common_password_is_refused(app_client: TestClient[Any, Any], pw: str) -> None:
    data = await assert_refused_on(
        app_client, "password", signup_body(password=pw, password_confirm=pw)
    )
    assert "common" in data["error"]["fields"]["password"]


@SQLITE_ONLY
async def test_password_equal_to_username_is_refused(app_client: TestClient[Any, Any]) -> None:
    await assert_refused_on(
        app_client,
        "password",
        signup_body("janereed77", password="JaneReed77", password_confirm="JaneReed77"),
    )


@SQLITE_ONLY
async def test_password_confirmation_mismatch_is_refused(
    app_client: TestClient[Any, Any],
) -> None:
    data = await assert_refused_on(
        app_client, "password_confirm", signup_body(password_confirm=PASSWORD + "!")
    )
    assert "password" not in data["error"]["fields"]


# --- date of birth ------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize(
    "dob",
    ["2023-02-30", "1970-13-01", "1970-4-1", "01/04/1970", "", "2027-01-01"],
    ids=["feb_30", "month_13", "unpadded", "us_format", "empty", "future"],
)
async def test_date_of_birth_that_is_not_a_real_past_date_is_refused(
    app_client: TestClient[Any, Any], dob: str
) -> None:
    await assert_refused_on(app_client, "date_of_birth", signup_body(date_of_birth=dob))


@SQLITE_ONLY
async def test_signup_at_17_years_364_days_is_refused(app_client: TestClient[Any, Any]) -> None:
    # The clock stands at 2026-11-18: born 2008-11-19 turns 18 tomorrow.
    data = await assert_refused_on(
        app_client, "date_of_birth", signup_body(date_of_birth="2008-11-19")
    )
    assert "18" in data["error"]["fields"]["date_of_birth"]


async def test_signup_on_the_18th_birthday_is_accepted(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    await assert_accepted(app_client, mailer, services, signup_body(date_of_birth="2008-11-18"))


@SQLITE_ONLY
async def test_birthday_on_29_february_counts_from_1_march_in_other_years(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    # Born 2008-02-29: on 2026-11-18 that person is 18.
    await assert_accepted(app_client, mailer, services, signup_body(date_of_birth="2008-02-29"))


# --- e-mail -------------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize(
    "email",
    ["jane", "jane@", "@example.com", "jane@example", "jane doe@example.com", "jane@@example.com"],
)
async def test_email_with_bad_syntax_is_refused(
    app_client: TestClient[Any, Any], email: str
) -> None:
    resp = await sign_up(app_client, signup_body(email=email))
    assert resp.status == 422
    data = await resp.json()
    assert "email" in data["error"]["fields"]
    # Nothing was created: the username is still free.
    assert (await sign_up(app_client, signup_body())).status == 202


@SQLITE_ONLY
@pytest.mark.parametrize(
    "email",
    [
        "nobody,victim@example.com",
        "nobody;victim@example.com",
        "Jane <jane@example.com>",
        "<jane@example.com>",
        "jane@example.com\r\nBcc: victim@example.com",
    ],
    ids=["comma", "semicolon", "display_name", "angle_brackets", "crlf"],
)
async def test_email_that_is_not_one_mailbox_is_refused_and_nothing_is_mailed(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services, email: str
) -> None:
    resp = await sign_up(app_client, signup_body(email=email))
    assert resp.status == 422
    data = await resp.json()
    assert set(data["error"]["fields"]) == {"email"}
    await services.mail.join()
    assert mailer.sent == []


async def test_plus_address_is_accepted(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    await assert_accepted(app_client, mailer, services, signup_body(email="jane+home@example.com"))
    assert [m["To"] for m in mailer.sent] == ["jane+home@example.com"]


@SQLITE_ONLY
async def test_email_confirmation_mismatch_is_refused(app_client: TestClient[Any, Any]) -> None:
    await assert_refused_on(
        app_client, "email_confirm", signup_body(email_confirm="jane@example.org")
    )


async def test_email_confirmation_ignores_case(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    await assert_accepted(
        app_client, mailer, services, signup_body(email_confirm="Jane@Example.com")
    )


# --- address ------------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize("state", ["XX", "New York", "", "N"])
async def test_us_address_with_unknown_state_is_refused(
    app_client: TestClient[Any, Any], state: str
) -> None:
    await assert_refused_on(app_client, "state", signup_body(state=state))


@SQLITE_ONLY
@pytest.mark.parametrize("zip_code", ["1234", "123456", "12345-678", "ABCDE", "12345 6789", ""])
async def test_us_address_with_bad_zip_is_refused(
    app_client: TestClient[Any, Any], zip_code: str
) -> None:
    await assert_refused_on(app_client, "postal_code", signup_body(postal_code=zip_code))


@pytest.mark.parametrize(("state", "zip_code"), [("ny", "12207"), ("PR", "00901-1234")])
async def test_us_address_with_known_state_and_zip_is_accepted(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    state: str,
    zip_code: str,
) -> None:
    await assert_accepted(
        app_client, mailer, services, signup_body(state=state, postal_code=zip_code)
    )


async def test_foreign_region_and_postal_code_are_accepted(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    body = signup_body(country="CA", state="Ontario", postal_code="K1A 0B1", city="Ottawa")
    await assert_accepted(app_client, mailer, services, body)


@SQLITE_ONLY
async def test_foreign_address_without_region_is_refused(
    app_client: TestClient[Any, Any],
) -> None:
    await assert_refused_on(
        app_client, "state", signup_body(country="CA", state=" ", postal_code="K1A 0B1")
    )


@SQLITE_ONLY
async def test_country_that_is_not_a_two_letter_code_is_refused(
    app_client: TestClient[Any, Any],
) -> None:
    await assert_refused_on(app_client, "country", signup_body(country="USA"))


async def test_first_name_of_100_chars_is_accepted(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    await assert_accepted(app_client, mailer, services, signup_body(first_name="J" * 100))


async def test_every_field_at_its_longest_is_accepted_and_stored(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    """Each field at its own longest allowed value: the database columns must hold them."""
    email = "j" * 64 + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 57 + ".com"
    assert len(email) == 254
    body = signup_body(
        "j" * 32,
        email,
        first_name="F" * 100,
        last_name="L" * 100,
        address_line1="A" * 200,
        address_line2="B" * 200,
        city="C" * 100,
        country="CA",
        state="S" * 100,
        postal_code="P" * 20,
        gender="prefer_not_to_say",
    )
    await assert_accepted(app_client, mailer, services, body)


@SQLITE_ONLY
async def test_first_name_of_101_chars_is_refused(app_client: TestClient[Any, Any]) -> None:
    await assert_refused_on(app_client, "first_name", signup_body(first_name="J" * 101))


@SQLITE_ONLY
async def test_blank_last_name_is_refused(app_client: TestClient[Any, Any]) -> None:
    await assert_refused_on(app_client, "last_name", signup_body(last_name="   "))


# --- terms and gender ---------------------------------------------------------------------


@SQLITE_ONLY
async def test_terms_not_accepted_is_refused(app_client: TestClient[Any, Any]) -> None:
    await assert_refused_on(app_client, "accept_terms", signup_body(accept_terms=False))


@SQLITE_ONLY
@pytest.mark.parametrize("gender", ["robot", "Female", ""])
async def test_gender_not_in_the_list_is_refused(
    app_client: TestClient[Any, Any], gender: str
) -> None:
    await assert_refused_on(app_client, "gender", signup_body(gender=gender))


@SQLITE_ONLY
async def test_every_problem_is_reported_at_once(app_client: TestClient[Any, Any]) -> None:
    body = signup_body(
        "x", password="short", email="nope", accept_terms=False, gender="?", state="ZZ"
    )
    resp = await sign_up(app_client, body)
    assert resp.status == 422
    fields = (await resp.json())["error"]["fields"]
    assert {"username", "password", "email", "accept_terms", "gender", "state"} <= set(fields)


# --- the request body ---------------------------------------------------------------------


@SQLITE_ONLY
async def test_malformed_json_is_refused_with_400(app_client: TestClient[Any, Any]) -> None:
    resp = await app_client.post(
        SIGNUP, data=b'{"username": "jane", ', headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert_error(await resp.json(), "malformed_json")


@SQLITE_ONLY
async def test_json_array_body_is_refused_with_400(app_client: TestClient[Any, Any]) -> None:
    resp = await sign_up(app_client, [signup_body()])
    assert resp.status == 400
    assert_error(await resp.json(), "malformed_json")


@SQLITE_ONLY
async def test_deeply_nested_json_is_refused_as_malformed(
    app_client: TestClient[Any, Any],
) -> None:
    resp = await app_client.post(
        SIGNUP, data=b"[" * 50_000, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert_error(await resp.json(), "malformed_json")


@SQLITE_ONLY
async def test_text_that_is_not_utf8_is_refused_as_malformed(
    app_client: TestClient[Any, Any],
) -> None:
    resp = await app_client.post(
        SIGNUP, data=b'{"username": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert_error(await resp.json(), "malformed_json")


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("field", "value"),
    [("accept_terms", "yes"), ("username", 5), ("accept_terms", 1), ("first_name", None)],
)
async def test_field_of_the_wrong_type_is_refused(
    app_client: TestClient[Any, Any], field: str, value: Any
) -> None:
    await assert_refused_on(app_client, field, signup_body(**{field: value}))


@SQLITE_ONLY
async def test_missing_field_is_refused(app_client: TestClient[Any, Any]) -> None:
    body = signup_body()
    del body["last_name"]
    await assert_refused_on(app_client, "last_name", body)


@SQLITE_ONLY
async def test_unknown_extra_field_is_refused(app_client: TestClient[Any, Any]) -> None:
    await assert_refused_on(app_client, "is_admin", signup_body(is_admin=True))


@SQLITE_ONLY
async def test_field_of_1001_chars_is_refused(app_client: TestClient[Any, Any]) -> None:
    data = await assert_refused_on(
        app_client, "address_line2", signup_body(address_line2="x" * 1001)
    )
    assert "1000" in data["error"]["fields"]["address_line2"]


@pytest.mark.parametrize("field", ["first_name", "city", "email"])
async def test_nul_character_in_a_field_is_refused(
    app_client: TestClient[Any, Any], field: str
) -> None:
    """PostgreSQL cannot store U+0000: a clear 422, not a 500 (nor a silently stored NUL)."""
    value = "Jane\u0000" if field != "email" else "ja\u0000ne@example.com"
    changes = {field: value, "email_confirm": value} if field == "email" else {field: value}
    data = await assert_refused_on(app_client, field, signup_body(**changes))
    assert "NUL" in data["error"]["fields"][field]


def padded(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON after leading whitespace (still valid JSON), exactly `size` bytes: read
    only in part, it is not a valid body."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return b" " * (size - len(raw)) + raw


@SQLITE_ONLY
async def test_body_of_exactly_64_kib_is_accepted(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    resp = await app_client.post(
        SIGNUP,
        data=padded(signup_body(), 64 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 202, await resp.text()


@SQLITE_ONLY
async def test_body_over_64_kib_is_refused_with_413(app_client: TestClient[Any, Any]) -> None:
    resp = await app_client.post(
        SIGNUP,
        data=padded(signup_body(), 64 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert_error(await resp.json(), "too_large")
    assert (await sign_up(app_client, signup_body())).status == 202


async def _in_pieces(data: bytes, piece: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]
        await asyncio.sleep(0.005)


@SQLITE_ONLY
async def test_body_sent_in_several_chunks_is_read_whole(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    """A body that arrives in several pieces (chunked transfer, slow network) is one body."""
    resp = await app_client.post(
        SIGNUP,
        data=_in_pieces(padded(signup_body(), 20_000), 4096),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 202, await resp.text()


@SQLITE_ONLY
async def test_chunked_body_over_64_kib_is_refused_with_413(
    app_client: TestClient[Any, Any],
) -> None:
    resp = await app_client.post(
        SIGNUP,
        data=_in_pieces(padded(signup_body(), 64 * 1024 + 1), 8192),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert_error(await resp.json(), "too_large")


@SQLITE_ONLY
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_wrong_content_type_is_refused_with_415(
    app_client: TestClient[Any, Any], content_type: str
) -> None:
    resp = await app_client.post(
        SIGNUP, data=json.dumps(signup_body()), headers={"Content-Type": content_type}
    )
    assert resp.status == 415
    assert_error(await resp.json(), "unsupported_media_type")


# --- never reveal whether an e-mail has an account ----------------------------------------


async def test_signup_answers_identically_for_known_and_unknown_email(
    app_client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> None:
    assert (await sign_up(app_client, signup_body("jane", "jane@example.com"))).status == 202
    await services.mail.join()
    first_mails = len(mailer.to("jane@example.com"))

    known = await sign_up(app_client, signup_body("jane2", "JANE@example.com"))
    unknown = await sign_up(app_client, signup_body("tom", "tom@example.com"))
    assert known.status == unknown.status == 202
    assert await known.json() == await unknown.json() == ACCEPTED

    await services.mail.join()
    # The owner of the known address is told, and gets no second activation code.
    mails = mailer.to("jane@example.com")
    assert len(mails) == first_mails + 1
    text = mailer.last_text("jane@example.com")
    assert "already has an account" in text
    assert "activate?token=" not in text
    with pytest.raises(AssertionError):
        activation_code(text)
    assert activation_code(mailer.last_text("tom@example.com"))

    # No second account: "jane2" does not exist at all (an unactivated one would say so).
    resp = await app_client.post(LOGIN, json={"username": "jane2", "password": PASSWORD})
    assert resp.status == 401
    assert_error(await resp.json(), "bad_credentials")


async def _activate_and_log_in(
    client: TestClient[Any, Any], mailer: RecordingMailer, username: str, password: str
) -> None:
    code = activation_code(mailer.last_text("jane@example.com"))
    resp = await client.post(
        "/api/v1/accounts/activate", json={"email": "jane@example.com", "code": code}
    )
    assert resp.status == 200, await resp.text()
    resp = await client.post(LOGIN, json={"username": username, "password": password})
    assert resp.status == 201, await resp.text()
