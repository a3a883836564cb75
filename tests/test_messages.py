"""Messages: paid, idempotent, private, delivered over the event stream."""

from __future__ import annotations

import asyncio
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
    balance,
    connect,
    fund,
    funded_contact,
    history,
    log_in,
    send,
    stored_messages,
)


async def test_family_and_resident_message_each_other(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await fund(services, resident_wallet(resident.id), 500)

    status, sent = await send(app_client, family, contact_id, "Hello Marcus", "f-1")
    assert status == 201, sent
    assert sent["body"] == "Hello Marcus"
    assert sent["status"] == "delivered"
    assert sent["sender"] == {"kind": "family", "id": family.id}
    assert sent["price_cents"] == 50
    assert sent["paid_by"] == "you"

    status, reply = await send(app_client, resident, contact_id, "Hi Jane", "r-1")
    assert status == 201, reply
    assert reply["sender"] == {"kind": "resident", "id": resident.id}
    assert reply["paid_by"] == "you"

    status, page = await history(app_client, resident, contact_id)
    assert status == 200
    assert [m["body"] for m in page["messages"]] == ["Hi Jane", "Hello Marcus"]
    assert page["messages"][1]["paid_by"] == "sender"
    assert await balance(services, family_wallet(family.id)) == 450
    assert await balance(services, resident_wallet(resident.id)) == 450


async def test_message_of_30000_chars_is_accepted_and_stored_intact(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    body = ("👵🏽 Grüße 你好 " * 3000)[:30_000]
    assert len(body) == 30_000
    status, sent = await send(app_client, family, contact_id, body, "long-1")
    assert status == 201, sent
    status, page = await history(app_client, resident, contact_id)
    assert page["messages"][0]["body"] == body


async def test_message_over_30000_chars_is_refused(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    status, data = await send(app_client, family, contact_id, "😀" * 30_001, "long-2")
    assert status == 422
    assert_error(data, "invalid_fields")
    assert "30,000" in data["error"]["fields"]["body"]
    assert await stored_messages(services) == 0


async def test_empty_or_whitespace_only_message_is_refused(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    for i, body in enumerate(["", "   ", "\n\t \u3000", "a\x00b"]):
        status, data = await send(app_client, family, contact_id, body, f"blank-{i}")
        assert status == 422, body
        assert_error(data, "invalid_fields")
        assert "body" in data["error"]["fields"]
    assert await stored_messages(services) == 0


async def test_a_send_needs_an_idempotency_key(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    resp = await app_client.post(
        "/api/v1/messages", json={"contact_id": contact_id, "body": "hi"}, headers=family.headers
    )
    assert resp.status == 422
    assert "client_id" in (await resp.json())["error"]["fields"]


async def test_recipient_pays_when_sender_has_49_cents_and_recipient_50(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await fund(services, family_wallet(family.id), 49)
    await fund(services, resident_wallet(resident.id), 50)
    status, sent = await send(app_client, family, contact_id, "Can you pay?", "p-1")
    assert status == 201, sent
    assert sent["paid_by"] == "recipient"
    assert await balance(services, family_wallet(family.id)) == 49
    assert await balance(services, resident_wallet(resident.id)) == 0
    status, page = await history(app_client, resident, contact_id)
    assert page["messages"][0]["paid_by"] == "you"


async def test_neither_able_to_pay_is_402_and_nothing_is_stored(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
    sio: socketio.AsyncClient,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await fund(services, family_wallet(family.id), 49)
    await fund(services, resident_wallet(resident.id), 49)
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sio.on("event", got.put_nowait)
    await connect(sio, app_client, token=resident.token, headers={"Origin": ALLOWED_ORIGIN})
    status, data = await send(app_client, family, contact_id, "Anyone?", "poor-1")
    assert status == 402
    assert_error(data, "insufficient_funds")
    assert "Marcus Reed" in data["error"]["message"]
    assert await stored_messages(services) == 0
    assert (await history(app_client, family, contact_id))[1]["messages"] == []
    assert await balance(services, family_wallet(family.id)) == 49
    assert await balance(services, resident_wallet(resident.id)) == 49
    # A round trip on the same socket: anything pushed before it has arrived by its answer.
    replay = await sio.call("sync", {"since": 0}, timeout=WAIT)
    assert got.empty()
    # The contact's request and approval, then the deposit: no message.
    assert [e["type"] for e in replay["events"]] == [
        "contact.updated",
        "contact.updated",
        "wallet.updated",
    ]


async def test_first_two_saturday_messages_are_free_and_the_third_costs_50(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await fund(services, family_wallet(family.id), 100)
    clock.advance(seconds=(A_SATURDAY_AFTERNOON - clock.now()).total_seconds())
    # Three days on, the sessions have expired: sign in again.
    family = await log_in(
        app_client, "/api/v1/sessions", {"username": "jane", "password": PASSWORD}
    )
    prices = []
    for i in range(3):
        status, sent = await send(app_client, family, contact_id, f"Saturday {i}", f"sat-{i}")
        assert status == 201, sent
        prices.append((sent["price_cents"], sent["paid_by"]))
    assert prices == [(0, None), (0, None), (50, "you")]
    assert await balance(services, family_wallet(family.id)) == 50


async def test_retry_with_same_client_id_returns_same_message_and_charges_once(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    status, first = await send(app_client, family, contact_id, "Once", "same-1")
    assert status == 201
    resp = await app_client.post(
        "/api/v1/messages",
        json={"contact_id": contact_id, "body": "Once"},
        headers={**family.headers, "Idempotency-Key": "same-1"},
    )
    assert resp.status == 200
    assert await resp.json() == first
    status, data = await send(app_client, family, contact_id, "Twice?", "same-1")
    assert status == 409
    assert_error(data, "idempotency_key_reused")
    assert await stored_messages(services) == 1
    assert await balance(services, family_wallet(family.id)) == 450


async def test_messages_need_an_approved_contact(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    resp = await app_client.post(
        "/api/v1/contacts",
        json={"resident_id": world.residents["A1001"]},
        headers=family.headers,
    )
    contact_id = (await resp.json())["id"]
    await fund(services, family_wallet(family.id), 500)
    status, data = await send(app_client, family, contact_id, "Too early", "early-1")
    assert status == 409
    assert_error(data, "contact_not_approved")
    assert "not been approved" in data["error"]["message"]


async def test_family_cannot_read_or_delete_other_familys_messages(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    other_resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    status, sent = await send(app_client, family, contact_id, "Private", "priv-1")
    assert status == 201
    for intruder in (other_family, other_resident):
        status, data = await history(app_client, intruder, contact_id)
        assert status == 404
        assert_error(data, "not_found")
        resp = await app_client.delete(f"/api/v1/messages/{sent['id']}", headers=intruder.headers)
        assert resp.status == 404
        status, data = await send(app_client, intruder, contact_id, "Hi", "intrude")
        assert status == 404
    resp = await app_client.delete("/api/v1/messages/999999", headers=family.headers)
    assert resp.status == 404


async def test_delete_for_me_hides_only_for_me(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    _, sent = await send(app_client, family, contact_id, "Forget this", "del-1")
    resp = await app_client.delete(f"/api/v1/messages/{sent['id']}", headers=family.headers)
    assert resp.status == 204
    assert (await history(app_client, family, contact_id))[1]["messages"] == []
    page = (await history(app_client, resident, contact_id))[1]["messages"]
    assert [m["id"] for m in page] == [sent["id"]]
    resp = await app_client.delete(f"/api/v1/messages/{sent['id']}", headers=family.headers)
    assert resp.status == 404


async def test_history_is_paged_newest_first_by_cursor(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    for i in range(5):
        await send(app_client, family, contact_id, f"m{i}", f"page-{i}")
    resp = await app_client.get(
        f"/api/v1/messages?contact_id={contact_id}&limit=3", headers=family.headers
    )
    page = await resp.json()
    assert [m["body"] for m in page["messages"]] == ["m4", "m3", "m2"]
    resp = await app_client.get(
        f"/api/v1/messages?contact_id={contact_id}&limit=3&before={page['next_before']}",
        headers=family.headers,
    )
    page = await resp.json()
    assert [m["body"] for m in page["messages"]] == ["m1", "m0"]
    assert page["next_before"] is None


async def test_recipient_receives_message_new_over_the_socket(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
    sio: socketio.AsyncClient,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sio.on("event", got.put_nowait)
    await connect(sio, app_client, token=resident.token, headers={"Origin": ALLOWED_ORIGIN})
    status, sent = await send(app_client, family, contact_id, "Are you there?", "live-1")
    assert status == 201
    event = await asyncio.wait_for(got.get(), WAIT)
    while event["type"] != "message.new":
        event = await asyncio.wait_for(got.get(), WAIT)
    assert event["data"]["id"] == sent["id"]
    assert event["data"]["body"] == "Are you there?"
    assert event["data"]["paid_by"] == "sender"


async def test_message_send_over_the_socket_is_acked_with_the_stored_message(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
    sio: socketio.AsyncClient,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await fund(services, resident_wallet(resident.id), 500)
    await connect(sio, app_client, token=resident.token, headers={"Origin": ALLOWED_ORIGIN})
    payload = {"contact_id": contact_id, "body": "From my tablet", "client_id": "sock-1"}
    stored = await sio.call("message:send", payload, timeout=WAIT)
    assert stored["body"] == "From my tablet"
    assert stored["sender"] == {"kind": "resident", "id": resident.id}
    assert stored["paid_by"] == "you"
    again = await sio.call("message:send", payload, timeout=WAIT)
    assert again == stored
    assert await balance(services, resident_wallet(resident.id)) == 450
    bad = await sio.call(
        "message:send", {"contact_id": contact_id, "body": " ", "client_id": "sock-2"}, timeout=WAIT
    )
    assert bad["error"]["code"] == "invalid_fields"
    missing = await sio.call("message:send", {"contact_id": contact_id}, timeout=WAIT)
    assert missing["error"]["code"] == "invalid_fields"
    page = (await history(app_client, family, contact_id))[1]["messages"]
    assert [m["id"] for m in page] == [stored["id"]]
