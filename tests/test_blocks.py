"""Blocks: a contact blocked (until a date, or until unblocked), a family account blocked at a
facility. While a block is in force no message passes either way (a clear 403, nothing stored
or charged), held and scheduled messages wait, and the family cannot ask to connect there."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient

from server.config import Config
from server.domain.ledger import family_wallet, resident_wallet
from server.services.context import Services
from server.services.delivery import do_release_due
from tests.fakes import FrozenClock
from tests.story import (
    ALLOWED_ORIGIN,
    REVIEW_ALL,
    WAIT,
    Actor,
    World,
    approved_contact,
    assert_error,
    audit,
    balance,
    block,
    block_family,
    connect,
    delay,
    events,
    events_of,
    fund,
    funded_contact,
    post,
    send,
    set_policy,
    settled,
    stored_messages,
    wait_for_event,
)

TODAY = "2026-11-18"  # START in New York (Riverside's time zone)
UNTIL_NEXT_NY_MIDNIGHT = {"hours": 14}  # 15:00 UTC -> 05:00 UTC, 00:00 in New York


@pytest.fixture
def config(config: Config) -> Config:
    """Sessions that outlast the days these stories skip through."""
    return replace(config, session_idle_seconds=3 * 86400, session_max_seconds=3 * 86400)


async def unblock(
    client: TestClient[Any, Any], who: Actor, contact_id: int, reason: str = "Reviewed"
) -> tuple[int, dict[str, Any]]:
    return await post(client, f"/api/v1/contacts/{contact_id}/unblock", who, {"reason": reason})


async def family_blocks(
    client: TestClient[Any, Any], who: Actor, facility_id: int, state: str = "active"
) -> tuple[int, dict[str, Any]]:
    resp = await client.get(
        f"/api/v1/staff/facilities/{facility_id}/blocks?state={state}", headers=who.headers
    )
    return resp.status, await resp.json()


async def lift(
    client: TestClient[Any, Any], who: Actor, facility_id: int, block_id: int, reason: str = "Done"
) -> tuple[int, dict[str, Any]]:
    resp = await client.delete(
        f"/api/v1/staff/facilities/{facility_id}/blocks/{block_id}",
        json={"reason": reason},
        headers=who.headers,
    )
    return resp.status, await resp.json()


async def contact_status(client: TestClient[Any, Any], who: Actor, contact_id: int) -> Any:
    resp = await client.get(f"/api/v1/contacts/{contact_id}", headers=who.headers)
    return (await resp.json())["status"]


# --- a blocked contact -------------------------------------------------------------------


async def test_a_blocked_partys_sends_are_refused_with_a_clear_error_and_nothing_is_charged(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await fund(services, resident_wallet(resident.id), 500)
    status, blocked = await block(app_client, facility_admin, contact_id, until="2026-12-01")
    assert status == 200 and blocked["status"] == "blocked"
    assert blocked["blocked_until"] == "2026-12-01"
    before = await stored_messages(services)
    for who in (family, resident):
        status, data = await send(app_client, who, contact_id, "Are you there?", f"b-{who.id}")
        assert status == 403, data
        assert_error(data, "blocked")
        assert data["error"]["message"] == (
            "Facility staff have blocked this contact through 2026-12-01; messages cannot be sent."
        )
    assert await stored_messages(services) == before
    assert await balance(services, family_wallet(family.id)) == 500
    assert await balance(services, resident_wallet(resident.id)) == 500
    assert (await contact_as_family(app_client, family, contact_id))["blocked_until"] == (
        "2026-12-01"
    )


async def contact_as_family(
    client: TestClient[Any, Any], family: Actor, contact_id: int
) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/contacts/{contact_id}", headers=family.headers)
    return dict(await resp.json())


async def test_a_blocked_partys_send_over_the_socket_is_refused(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
    sio: socketio.AsyncClient,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await fund(services, resident_wallet(resident.id), 500)
    await block(app_client, facility_admin, contact_id)
    await connect(sio, app_client, token=resident.token, headers={"Origin": ALLOWED_ORIGIN})
    payload = {"contact_id": contact_id, "body": "From my tablet", "client_id": "sock-1"}
    refused = await sio.call("message:send", payload, timeout=WAIT)
    assert refused["error"]["code"] == "blocked"
    assert "blocked this contact" in refused["error"]["message"]
    assert await stored_messages(services) == 0


async def test_unblock_returns_the_contact_to_its_status_before_the_block_and_is_audited(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    approved = await approved_contact(app_client, family, resident, world)
    resp = await app_client.post(
        "/api/v1/contacts",
        json={"resident_id": world.residents["A1001"]},
        headers=other_family.headers,
    )
    pending = (await resp.json())["id"]
    for contact_id, was in ((approved, "approved"), (pending, "pending")):
        assert (await block(app_client, facility_admin, contact_id))[0] == 200
        status, unblocked = await unblock(
            app_client, facility_admin, contact_id, "Cleared by security"
        )
        assert status == 200, unblocked
        assert unblocked["status"] == was and unblocked["status_reason"] is None
        assert unblocked["blocked_until"] is None
    entries = await audit(app_client, facility_admin, "contact.unblock")
    assert {(e["target_id"], e["details"]["to"]) for e in entries} == {
        (approved, "approved"),
        (pending, "pending"),
    }
    assert all(
        e["reason"] == "Cleared by security" and e["details"]["from"] == "blocked" for e in entries
    )
    updates = [
        e["data"] for e in await events(app_client, family) if e["type"] == "contact.updated"
    ]
    assert [u["status"] for u in updates][-2:] == ["blocked", "approved"]
    await fund(services, family_wallet(family.id), 500)
    assert (await send(app_client, family, approved, "Back again", "u-1"))[0] == 201

    status, data = await unblock(app_client, facility_admin, approved)
    assert status == 409
    assert_error(data, "illegal_transition")


async def test_unblock_bad_input_and_privacy(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    other_facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await block(app_client, facility_admin, contact_id)
    for reason in ("", "ab", "x" * 1001):
        status, data = await unblock(app_client, facility_admin, contact_id, reason)
        assert status == 422 and "reason" in data["error"]["fields"]
    status, data = await unblock(app_client, other_facility_admin, contact_id)
    assert status == 404
    assert_error(data, "not_found")
    for party in (family, resident):
        assert (await unblock(app_client, party, contact_id))[0] == 403
    assert await contact_status(app_client, reviewer, contact_id) == "blocked"
    assert (await unblock(app_client, facility_admin, contact_id, "x" * 1000))[0] == 200


async def test_block_end_date_in_the_past_or_too_far_ahead_is_refused(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    for until in ("2026-11-17", "2036-11-26", "2026-02-30", "18/11/2026", "20261201"):
        status, data = await block(app_client, facility_admin, contact_id, until=until)
        assert status == 422, (until, data)
        assert "until" in data["error"]["fields"]
    assert await contact_status(app_client, reviewer, contact_id) == "approved"
    # The last day allowed: 3660 days from today.
    status, blocked = await block(app_client, facility_admin, contact_id, until="2036-11-25")
    assert status == 200 and blocked["blocked_until"] == "2036-11-25"


async def test_a_contact_block_with_an_end_date_ends_by_itself_after_its_last_day(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    assert (await block(app_client, facility_admin, contact_id, until=TODAY))[0] == 200
    clock.advance(hours=13, minutes=59)  # 23:59 in New York: still its last day
    assert (await send(app_client, family, contact_id, "Still blocked?", "e-1"))[0] == 403
    clock.advance(minutes=1)
    assert await contact_status(app_client, family, contact_id) == "approved"
    status, sent = await send(app_client, family, contact_id, "Hello again", "e-2")
    assert status == 201 and sent["status"] == "delivered"
    updates = [
        e["data"] for e in await events(app_client, resident) if e["type"] == "contact.updated"
    ]
    assert [u["status"] for u in updates][-2:] == ["blocked", "approved"]


async def test_a_scheduled_message_waits_while_the_contact_is_blocked_and_goes_after_unblock(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=delay(15))
    _, sent = await send(app_client, family, contact_id, "See you soon", "s-1")
    assert sent["status"] == "scheduled"
    await block(app_client, facility_admin, contact_id)
    clock.advance(minutes=30)
    assert await do_release_due(services) == 0
    await settled(app_client)  # and the app's own scheduler
    assert await events_of(app_client, resident, "message.new", sent["id"]) == []
    await unblock(app_client, facility_admin, contact_id)
    new = await wait_for_event(app_client, resident, "message.new", sent["id"])
    assert new["data"]["body"] == "See you soon"
    assert await balance(services, family_wallet(family.id)) == 450, "charged once, at sending"


async def test_a_held_message_waits_while_the_contact_is_blocked_and_goes_after_unblock(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL)
    _, sent = await send(app_client, family, contact_id, "Held for review", "h-1")
    assert sent["status"] == "pending_review"
    await block(app_client, facility_admin, contact_id)
    clock.advance(hours=2)
    await do_release_due(services)
    assert await events_of(app_client, resident, "message.new", sent["id"]) == []
    queue = await (await app_client.get("/api/v1/staff/review", headers=reviewer.headers)).json()
    assert [i["id"] for i in queue["items"]] == [sent["id"]]
    await unblock(app_client, facility_admin, contact_id)
    resp = await app_client.post(
        f"/api/v1/staff/review/{sent['id']}/approve", headers=reviewer.headers
    )
    assert resp.status == 200
    new = await wait_for_event(app_client, resident, "message.new", sent["id"])
    assert new["data"]["body"] == "Held for review"


async def test_a_blocked_contacts_backlog_does_not_hold_back_other_due_messages(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    blocked = await approved_contact(app_client, family, resident, world)
    other = await approved_contact(app_client, other_family, resident, world)
    await fund(services, family_wallet(family.id), 500)
    await fund(services, family_wallet(other_family.id), 500)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=delay(1))
    for n in range(3):
        assert (await send(app_client, family, blocked, f"m{n}", f"k-{n}"))[0] == 201
    clock.advance(seconds=30)
    _, later = await send(app_client, other_family, other, "Not blocked", "o-1")
    await block(app_client, facility_admin, blocked)
    clock.advance(minutes=5)
    # A batch of two, the three oldest due messages all blocked: the fourth still goes out.
    await do_release_due(services, limit=2)
    await wait_for_event(app_client, resident, "message.new", later["id"])


# --- a family account blocked at a facility -------------------------------------------------


async def test_a_family_blocked_at_a_facility_can_neither_message_nor_ask_to_connect_there(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await fund(services, resident_wallet(resident.id), 500)
    status, made = await block_family(
        app_client, facility_admin, world.facility_id, family.id, "Smuggling attempt", "2026-12-24"
    )
    assert status == 201, made
    assert made["family"] == {"id": family.id, "name": "Jane Reed"}
    assert made["status"] == "active" and made["until"] == "2026-12-24"
    assert made["created_by"] == "Admin"

    sentence = (
        "Facility staff at Riverside have blocked this family account from contact with the "
        "facility's residents through 2026-12-24."
    )
    for who in (family, resident):
        status, data = await send(app_client, who, contact_id, "Hi", f"f-{who.id}")
        assert status == 403
        assert_error(data, "blocked")
        assert data["error"]["message"] == sentence
    status, data = await post(
        app_client, "/api/v1/contacts", family, {"resident_id": world.residents["A1002"]}
    )
    assert status == 403
    assert_error(data, "blocked")
    # Other facilities are not touched.
    status, _ = await post(
        app_client, "/api/v1/contacts", family, {"resident_id": world.residents["Z9001"]}
    )
    assert status == 201
    assert await stored_messages(services) == 0
    assert await balance(services, family_wallet(family.id)) == 500

    _, listed = await family_blocks(app_client, facility_admin, world.facility_id)
    assert [b["id"] for b in listed["items"]] == [made["id"]]
    [entry] = await audit(app_client, facility_admin, "family.block")
    assert entry["reason"] == "Smuggling attempt" and entry["target_id"] == family.id

    status, lifted = await lift(
        app_client, facility_admin, world.facility_id, made["id"], "Cleared"
    )
    assert status == 200 and lifted["status"] == "lifted" and lifted["lifted_by"] == "Admin"
    assert (await send(app_client, family, contact_id, "Hi again", "f-after"))[0] == 201
    assert (await family_blocks(app_client, facility_admin, world.facility_id))[1]["items"] == []
    _, every = await family_blocks(app_client, facility_admin, world.facility_id, "all")
    assert [b["status"] for b in every["items"]] == ["lifted"]
    [entry] = await audit(app_client, facility_admin, "family.unblock")
    assert entry["reason"] == "Cleared"
    status, data = await lift(app_client, facility_admin, world.facility_id, made["id"])
    assert status == 409
    assert_error(data, "not_in_force")


async def test_family_blocks_bad_input_and_privacy(
    app_client: TestClient[Any, Any],
    family: Actor,
    other_family: Actor,
    resident: Actor,
    facility_admin: Actor,
    other_facility_admin: Actor,
    world: World,
) -> None:
    await approved_contact(app_client, family, resident, world)
    here, there = world.facility_id, world.other_facility_id
    # Staff of another facility: the facility and its blocks do not exist for them.
    status, data = await block_family(app_client, other_facility_admin, here, family.id)
    assert status == 404
    assert_error(data, "not_found")
    assert (await family_blocks(app_client, other_facility_admin, here))[0] == 404
    # A family without any contact at the facility cannot be named.
    assert (await block_family(app_client, facility_admin, here, other_family.id))[0] == 404
    assert (await block_family(app_client, other_facility_admin, there, family.id))[0] == 404
    for reason, until in (("ab", None), ("x" * 1001, None), ("Fine", "2026-11-17")):
        status, data = await block_family(
            app_client, facility_admin, here, family.id, reason, until
        )
        assert status == 422, data
    assert (await block_family(app_client, family, here, family.id))[0] == 403
    status, made = await block_family(app_client, facility_admin, here, family.id, "x" * 1000)
    assert status == 201 and made["until"] is None
    status, data = await block_family(app_client, facility_admin, here, family.id)
    assert status == 409
    assert_error(data, "already_blocked")
    status, data = await lift(app_client, other_facility_admin, here, made["id"])
    assert status == 404
    status, data = await lift(app_client, other_facility_admin, there, made["id"])
    assert status == 404
    for reason in ("", "x" * 1001):
        assert (await lift(app_client, facility_admin, here, made["id"], reason))[0] == 422
    _, listed = await family_blocks(app_client, facility_admin, here)
    assert [b["status"] for b in listed["items"]] == ["active"]


async def test_a_family_block_with_an_end_date_ends_by_itself(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_policy(app_client, facility_admin, world.facility_id, outgoing=delay(10))
    await fund(services, resident_wallet(resident.id), 500)
    _, waiting = await send(app_client, resident, contact_id, "Call me", "w-1")
    assert waiting["status"] == "scheduled"
    status, made = await block_family(
        app_client, facility_admin, world.facility_id, family.id, until=TODAY
    )
    assert status == 201
    clock.advance(minutes=20)
    assert await do_release_due(services) == 0
    assert await events_of(app_client, family, "message.new", waiting["id"]) == []
    clock.advance(**UNTIL_NEXT_NY_MIDNIGHT)
    await wait_for_event(app_client, family, "message.new", waiting["id"])
    assert (await send(app_client, family, contact_id, "Hello", "w-2"))[0] == 201
    assert (await family_blocks(app_client, facility_admin, world.facility_id))[1]["items"] == []
    _, every = await family_blocks(app_client, facility_admin, world.facility_id, "all")
    assert [b["status"] for b in every["items"]] == ["ended"]
    status, data = await lift(app_client, facility_admin, world.facility_id, made["id"])
    assert status == 409
    assert_error(data, "not_in_force")


async def test_support_staff_manage_any_facilitys_family_blocks(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    support: Actor,
    world: World,
) -> None:
    await approved_contact(app_client, family, resident, world)
    status, made = await block_family(app_client, support, world.facility_id, family.id)
    assert status == 201
    assert (await family_blocks(app_client, support, world.facility_id))[1]["items"][0]["id"] == (
        made["id"]
    )
    assert (await family_blocks(app_client, support, 987654))[0] == 404
    assert (await lift(app_client, support, world.facility_id, made["id"]))[0] == 200
