"""The `/staff` socket.io namespace: a facility's review consoles hear of held messages and
decisions live; nobody else does."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient

from server.config import Config
from server.services.context import Services
from tests.story import (
    ALLOWED_ORIGIN,
    REVIEW_ALL,
    TEST_REDIS_URL,
    WAIT,
    Actor,
    World,
    funded_contact,
    need_service,
    send,
    set_policy,
    url_of,
)


@pytest.fixture(params=["in_process", "redis"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """SQLite, with socket.io's fan-out in process and, when configured, through Redis under
    a prefix of this test's own (so other runs on the same Redis stay apart)."""
    redis_url = None
    if request.param == "redis":
        redis_url = need_service(TEST_REDIS_URL, "test_redis")
    return Config(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/homeline.db",
        redis_url=redis_url,
        redis_prefix=f"homeline-test-{secrets.token_hex(6)}",
        var_dir=tmp_path / "var",
        secret_key="test-secret",
        public_url=ALLOWED_ORIGIN,
    )


@pytest.fixture
async def consoles() -> AsyncIterator[list[socketio.AsyncClient]]:
    made: list[socketio.AsyncClient] = []
    yield made
    for client in made:
        await client.disconnect()


async def console(
    made: list[socketio.AsyncClient],
    app_client: TestClient[Any, Any],
    who: Actor,
) -> tuple[socketio.AsyncClient, asyncio.Queue[tuple[str, Any]]]:
    """A staff console connected to `/staff`, collecting what it is told."""
    client = socketio.AsyncClient(reconnection=False, request_timeout=1)
    made.append(client)
    heard: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    for name in ("review.held", "review.decided"):
        client.on(name, lambda data, name=name: heard.put_nowait((name, data)), namespace="/staff")
    await client.connect(
        url_of(app_client),
        auth={"token": who.token},
        headers={"Origin": ALLOWED_ORIGIN},
        transports=["websocket"],
        namespaces=["/staff"],
        wait_timeout=WAIT,
    )
    return client, heard


async def test_a_held_message_and_its_decision_reach_the_facilitys_consoles_live(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    other_facility_admin: Actor,
    world: World,
    consoles: list[socketio.AsyncClient],
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL)
    _, mine = await console(consoles, app_client, reviewer)
    other, theirs = await console(consoles, app_client, other_facility_admin)

    status, sent = await send(app_client, family, contact_id, "Please check this", "live-1")
    assert status == 201 and sent["status"] == "pending_review"
    name, data = await asyncio.wait_for(mine.get(), WAIT)
    assert name == "review.held"
    item = data["item"]
    assert (item["id"], item["body"], item["matched"]) == (
        sent["id"],
        "Please check this",
        ["incoming: review all"],
    )
    assert (item["sender_name"], item["recipient_name"]) == ("Jane Reed", "Marcus Reed")
    # As the queue shows it: with the conversation before it (none yet) and no highlights.
    assert (item["context"], item["highlights"]) == ([], [])

    resp = await app_client.post(
        f"/api/v1/staff/review/{sent['id']}/reject",
        json={"reason": "Not allowed"},
        headers=facility_admin.headers,
    )
    assert resp.status == 200
    name, data = await asyncio.wait_for(mine.get(), WAIT)
    assert (name, data) == (
        "review.decided",
        {"id": sent["id"], "status": "rejected", "by": "Admin"},
    )
    # A barrier, not a sleep: the decision was pushed before `mine` heard it, and the other
    # console's answer to a call of its own comes after anything pushed to it before.
    answer = await other.call("barrier", {}, namespace="/staff", timeout=WAIT)
    assert answer["error"]["code"] == "unknown_event"
    assert theirs.empty(), "another facility's console hears nothing"


async def test_only_staff_may_open_the_staff_namespace(
    app_client: TestClient[Any, Any],
    family: Actor,
    support: Actor,
    world: World,
) -> None:
    for who in (family, support):
        client = socketio.AsyncClient(reconnection=False, request_timeout=1)
        refused: list[Any] = []
        client.on("connect_error", refused.append, namespace="/staff")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                url_of(app_client),
                auth={"token": who.token},
                headers={"Origin": ALLOWED_ORIGIN},
                transports=["websocket"],
                namespaces=["/staff"],
                wait_timeout=WAIT,
            )
        await client.disconnect()
    # Global support staff name the facility they watch.
    client = socketio.AsyncClient(reconnection=False, request_timeout=1)
    try:
        await client.connect(
            url_of(app_client),
            auth={"token": support.token, "facility_id": world.facility_id},
            headers={"Origin": ALLOWED_ORIGIN},
            transports=["websocket"],
            namespaces=["/staff"],
            wait_timeout=WAIT,
        )
        assert "/staff" in client.namespaces
    finally:
        await client.disconnect()


async def test_opening_the_live_review_feed_is_audited(
    app_client: TestClient[Any, Any],
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
    consoles: list[socketio.AsyncClient],
) -> None:
    """The feed pushes what held messages say: who opened it, when and for which facility is
    in the audit log, as every read of the queue is."""
    await console(consoles, app_client, reviewer)
    resp = await app_client.get(
        "/api/v1/staff/audit?action=review.feed_opened", headers=facility_admin.headers
    )
    assert resp.status == 200, await resp.text()
    entries = (await resp.json())["entries"]
    assert [(e["staff"]["id"], e["facility_id"]) for e in entries] == [
        (reviewer.id, world.facility_id)
    ]
