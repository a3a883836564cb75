"""The event stream, the audit log and socket.io connections to the app under test."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from aiohttp.test_utils import TestClient

from server.appkeys import SCHEDULER
from tests.story.stage import Actor

WAIT = 5.0


async def events(client: TestClient[Any, Any], who: Actor, since: int = 0) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/events?since={since}", headers=who.headers)
    assert resp.status == 200
    return list((await resp.json())["events"])


async def events_of(
    client: TestClient[Any, Any], who: Actor, kind: str, message_id: int
) -> list[dict[str, Any]]:
    return [
        e
        for e in await events(client, who)
        if e["type"] == kind and e["data"].get("id") == message_id
    ]


async def settled(client: TestClient[Any, Any]) -> None:
    """Return once the app's scheduler has run everything due on the clock now."""
    async with asyncio.timeout(WAIT):
        await client.app[SCHEDULER].settled()


async def wait_for_event(
    client: TestClient[Any, Any], who: Actor, kind: str, message_id: int
) -> dict[str, Any]:
    """The event, once the app's scheduler has run everything due on the clock now."""
    await settled(client)
    found = await events_of(client, who, kind, message_id)
    assert found, f"no {kind} for message {message_id}"
    return found[0]


async def audit(client: TestClient[Any, Any], admin: Actor, action: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/staff/audit?action={action}", headers=admin.headers)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["entries"])


ALLOWED_ORIGIN = "http://127.0.0.1:8080"


def url_of(app_client: TestClient[Any, Any]) -> str:
    return str(app_client.make_url("/"))


async def connect(
    sio: socketio.AsyncClient,
    app_client: TestClient[Any, Any],
    *,
    token: str | None,
    headers: dict[str, str] | None = None,
) -> None:
    await sio.connect(
        url_of(app_client),
        auth={"token": token} if token is not None else None,
        headers=headers or {},
        transports=["websocket"],
        wait_timeout=WAIT,
    )
