"""Password resets through the API, with the token from the mailed link."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from server.services.context import Services
from tests.fakes import RecordingMailer, link_token

RESET = "/api/v1/password-resets"
RESET_CONFIRM = "/api/v1/password-resets/confirm"
NEW_PASSWORD = "a brand new passphrase"


async def request_reset(client: TestClient[Any, Any], email: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post(RESET, json={"email": email})
    return resp.status, await resp.json()


async def reset_token(
    client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> str:
    status, _ = await request_reset(client, "jane@example.com")
    assert status == 202
    await services.mail.join()
    text_ = mailer.last_text("jane@example.com")
    assert "http://127.0.0.1:8080/reset-password?token=" in text_
    return link_token(text_)


async def confirm(
    client: TestClient[Any, Any], token: str, password: str = NEW_PASSWORD
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(RESET_CONFIRM, json={"token": token, "password": password})
    return resp.status, await resp.json()
