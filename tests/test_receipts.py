"""Read receipts, unread counts per contact, the price before sending, and the owner's export."""

from __future__ import annotations

import json
from typing import Any

import socketio
from aiohttp.test_utils import TestClient

from server.domain.ledger import family_wallet, resident_wallet
from server.services.context import Services
from tests.fakes import FrozenClock
from tests.story import (
    A_SATURDAY_AFTERNOON,
    ALLOWED_ORIGIN,
    PASSWORD,
    WAIT,
    Actor,
    World,
    approved_contact,
    assert_error,
    connect,
    events,
    fund,
    funded_contact,
    history,
    log_in,
    send,
    wait_for_event,
)


async def unread(client: TestClient[Any, Any], who: Actor) -> dict[str, Any]:
    resp = await client.get("/api/v1/messages/unread", headers=who.headers)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def mark_read(
    client: TestClient[Any, Any], who: Actor, contact_id: int, up_to_id: int
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        "/api/v1/messages/read",
        json={"contact_id": contact_id, "up_to_id": up_to_id},
        headers=who.headers,
    )
    return resp.status, await resp.json()


async def test_unread_counts_and_read_receipts(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    sent = [(await send(app_client, family, contact_id, f"m{n}", f"u-{n}"))[1] for n in range(3)]
    assert await unread(app_client, resident) == {
        "contacts": [{"contact_id": contact_id, "unread": 3}],
        "total": 3,
    }
    assert (await unread(app_client, family))["total"] == 0, "your own messages are not unread"

    status, result = await mark_read(app_client, resident, contact_id, sent[1]["id"])
    assert status == 200
    assert result == {"contact_id": contact_id, "marked": 2, "unread": 1}
    receipt = await wait_for_event(app_client, family, "message.status", sent[0]["id"])
    assert receipt["data"]["status"] == "read" and receipt["data"]["read_at"]
    assert await wait_for_event(app_client, resident, "message.status", sent[1]["id"])
    statuses = [m["status"] for m in (await history(app_client, family, contact_id))[1]["messages"]]
    assert statuses == ["delivered", "read", "read"]

    again = await mark_read(app_client, resident, contact_id, sent[1]["id"])
    assert again[1]["marked"] == 0, "a receipt goes out once"
    receipts = [e for e in await events(app_client, family) if e["type"] == "message.status"]
    assert len(receipts) == 2
    await mark_read(app_client, resident, contact_id, sent[2]["id"])
    assert (await unread(app_client, resident))["total"] == 0


async def test_only_the_recipient_can_mark_read(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    _, sent = await send(app_client, family, contact_id, "hello", "o-1")
    status, body = await mark_read(app_client, other_family, contact_id, sent["id"])
    assert status == 404
    assert_error(body, "not_found")
    # The sender marking their own message changes nothing.
    status, body = await mark_read(app_client, family, contact_id, sent["id"])
    assert status == 200 and body["marked"] == 0
    assert (await unread(app_client, resident))["total"] == 1


async def test_message_read_over_the_socket(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
    sio: socketio.AsyncClient,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    _, sent = await send(app_client, family, contact_id, "hello", "k-1")
    await connect(sio, app_client, token=resident.token, headers={"Origin": ALLOWED_ORIGIN})
    answer = await sio.call(
        "message:read", {"contact_id": contact_id, "up_to_id": sent["id"]}, timeout=WAIT
    )
    assert answer == {"contact_id": contact_id, "marked": 1, "unread": 0}
    bad = await sio.call("message:read", {"contact_id": contact_id}, timeout=WAIT)
    assert bad["error"]["code"] == "invalid_fields"
    nobody = await sio.call("message:read", {"contact_id": 999999, "up_to_id": 1}, timeout=WAIT)
    assert nobody["error"]["code"] == "not_found"


async def quote(client: TestClient[Any, Any], who: Actor, contact_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/messages/quote?contact_id={contact_id}", headers=who.headers)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def test_the_price_is_shown_before_sending(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    nobody = await quote(app_client, family, contact_id)
    assert nobody["price_cents"] == 50 and nobody["payer"] is None
    assert nobody["can_send"] is False
    assert nobody["why_not"].startswith("Neither you nor Marcus Reed has enough money")
    await fund(services, resident_wallet(resident.id), 50)
    await fund(services, family_wallet(family.id), 49)
    assert (await quote(app_client, family, contact_id))["payer"] == "recipient"
    await fund(services, family_wallet(family.id), 1)
    mine = await quote(app_client, family, contact_id)
    assert mine == {
        "contact_id": contact_id,
        "price_cents": 50,
        "message_price_cents": 50,
        "free_remaining_today": 0,
        "payer": "you",
        "can_send": True,
        "why_not": None,
        "text_cents": 50,
        "photos": 0,
        "photo_price_cents": 100,
        "photos_cents": 0,
    }
    other = await app_client.get("/api/v1/messages/quote?contact_id=999999", headers=family.headers)
    assert other.status == 404


async def test_saturday_quote_counts_down_the_free_messages(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    clock.advance(seconds=(A_SATURDAY_AFTERNOON - clock.now()).total_seconds())
    # Days on, the sessions have expired: sign in again.
    family = await log_in(
        app_client, "/api/v1/sessions", {"username": "jane", "password": PASSWORD}
    )
    first = await quote(app_client, family, contact_id)
    assert (first["price_cents"], first["free_remaining_today"], first["payer"]) == (0, 2, None)
    assert first["can_send"] is True
    await send(app_client, family, contact_id, "one", "sat-1")
    assert (await quote(app_client, family, contact_id))["free_remaining_today"] == 1
    await send(app_client, family, contact_id, "two", "sat-2")
    third = await quote(app_client, family, contact_id)
    assert (third["price_cents"], third["free_remaining_today"], third["payer"]) == (50, 0, "you")


async def test_export_as_text_and_json_for_the_owner_only(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await fund(services, resident_wallet(resident.id), 500)
    await send(app_client, family, contact_id, "Hello Marcus 👋\nsecond line", "e-1")
    await send(app_client, resident, contact_id, "Привет 你好", "e-2")
    _, hidden = await send(app_client, family, contact_id, "forget this", "e-3")
    await app_client.delete(f"/api/v1/messages/{hidden['id']}", headers=family.headers)

    resp = await app_client.get(
        f"/api/v1/messages/export?contact_id={contact_id}&format=txt", headers=family.headers
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert "attachment" in resp.headers["Content-Disposition"]
    text = await resp.text()
    assert "Hello Marcus 👋\n  second line" in text
    assert "Marcus Reed:\n  Привет 你好" in text
    assert "forget this" not in text

    resp = await app_client.get(
        f"/api/v1/messages/export?contact_id={contact_id}&format=json", headers=resident.headers
    )
    exported = json.loads(await resp.text())
    assert (exported["you"], exported["with"]) == ("Marcus Reed", "Jane Reed")
    bodies = [m["body"] for m in exported["messages"]]
    assert bodies == ["Hello Marcus 👋\nsecond line", "Привет 你好", "forget this"]
    resp = await app_client.get(
        f"/api/v1/messages/export?contact_id={contact_id}", headers=other_family.headers
    )
    assert resp.status == 404
    bad = await app_client.get(
        f"/api/v1/messages/export?contact_id={contact_id}&format=pdf", headers=family.headers
    )
    assert bad.status == 422


async def test_the_quote_says_why_a_message_cannot_be_sent(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    resp = await app_client.put(
        f"/api/v1/staff/facilities/{world.facility_id}/policy",
        json={
            "incoming": {"mode": "instant", "delay_minutes": 0},
            "outgoing": {"mode": "instant", "delay_minutes": 0},
            "restrictions": [
                {
                    "resident_id": resident.id,
                    "kind": "no_messaging",
                    "until": "2026-12-01",
                    "reason": "sanction",
                }
            ],
        },
        headers=facility_admin.headers,
    )
    assert resp.status == 200, await resp.text()
    restricted = await quote(app_client, family, contact_id)
    assert restricted["can_send"] is False and "2026" in restricted["why_not"]
    status, refused = await send(app_client, family, contact_id, "hi", "q-1")
    assert status == 403 and refused["error"]["message"] == restricted["why_not"]

    resp = await app_client.post(
        f"/api/v1/contacts/{contact_id}/block",
        json={"reason": "Contraband plans"},
        headers=facility_admin.headers,
    )
    assert resp.status == 200, await resp.text()
    blocked = await quote(app_client, family, contact_id)
    assert blocked["can_send"] is False and "blocked" in blocked["why_not"]
