"""The stage every story starts from: the test services' settings, the clock's start, the
demo-like `World`, and the actors who sign up and log in through the API."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from server.services.context import Services
from server.services.passwords import Hasher
from server.storage.db import Database, create_engine
from server.storage.models import Base
from tests.fakes import RecordingMailer, activation_code

# --- the stage ----------------------------------------------------------------------------


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


# Cheap argon2id parameters keep the suite fast; production's are checked in test_passwords.
FAST_HASHER = Hasher(time_cost=1, memory_cost=1024)


@dataclass
class World:
    """The demo-like facility every story starts from."""

    facility_id: int
    other_facility_id: int
    residents: dict[str, int]  # resident_number -> id


# --- actors -------------------------------------------------------------------------------


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


async def log_in(client: TestClient[Any, Any], path: str, body: dict[str, Any]) -> Actor:
    resp = await client.post(path, json={**body, "session": "bearer"})
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    return Actor(token=data["token"], principal=data["principal"])


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


async def staff_sign_in(client: TestClient[Any, Any], username: str) -> Actor:
    return await log_in(
        client, "/api/v1/staff/sessions", {"username": username, "password": PASSWORD}
    )


def assert_error(data: dict[str, Any], code: str | None = None) -> None:
    """The contract's error shape."""
    assert set(data) == {"error"}, data
    assert isinstance(data["error"]["message"], str) and data["error"]["message"]
    if code is not None:
        assert data["error"]["code"] == code, data
