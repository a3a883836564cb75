"""The review queue as a reviewer sees it: oldest first, with the conversation just before."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient

from server.domain.ledger import family_wallet, resident_wallet
from server.services.context import Services
from server.services.delivery import do_release_due
from tests.fakes import FrozenClock
from tests.story import (
    REVIEW_ALL,
    Actor,
    World,
    approved_contact,
    audit,
    events_of,
    fund,
    funded_contact,
    queue,
    send,
    set_policy,
    wait_for_event,
)


async def test_queue_is_oldest_first_with_the_conversation_before_each_item(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await fund(services, family_wallet(family.id), 1000)
    await fund(services, resident_wallet(resident.id), 1000)
    before = []
    for n in range(7):
        who = family if n % 2 == 0 else resident
        before.append((await send(app_client, who, contact_id, f"chat {n}", f"b-{n}"))[1])
    await set_policy(
        app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL, outgoing=REVIEW_ALL
    )
    _, first = await send(app_client, family, contact_id, "first held", "h-1")
    _, second = await send(app_client, resident, contact_id, "second held", "h-2")

    items = await queue(app_client, reviewer)
    assert [i["id"] for i in items] == [first["id"], second["id"]]
    # The five messages actually exchanged before it, oldest first; never another held one.
    assert [m["body"] for m in items[0]["context"]] == [f"chat {n}" for n in range(2, 7)]
    assert [m["body"] for m in items[1]["context"]] == [f"chat {n}" for n in range(2, 7)]
    assert items[1]["sender"] == {"kind": "resident", "id": resident.id}
    assert items[1]["matched"] == ["outgoing: review all"]


async def test_queue_items_mark_where_the_rules_match(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    resp = await app_client.put(
        f"/api/v1/staff/facilities/{world.facility_id}/policy",
        json={
            "incoming": {"mode": "review_flagged", "delay_minutes": 0},
            "outgoing": {"mode": "instant", "delay_minutes": 0},
            "rules": [{"kind": "word", "pattern": "knife", "note": ""}],
        },
        headers=facility_admin.headers,
    )
    assert resp.status == 200, await resp.text()
    _, sent = await send(app_client, family, contact_id, "🙂 a KNIFE, not a knifepoint", "k-1")
    assert sent["status"] == "pending_review"
    [item] = await queue(app_client, reviewer)
    assert [(h["start"], h["end"]) for h in item["highlights"]] == [(4, 9)]  # code points
    assert "knife" in item["highlights"][0]["rule"]


async def test_approving_while_the_contact_is_blocked_waits_for_the_unblock(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL)
    _, sent = await send(app_client, family, contact_id, "held", "w-1")
    resp = await app_client.post(
        f"/api/v1/contacts/{contact_id}/block",
        json={"reason": "Threats"},
        headers=facility_admin.headers,
    )
    assert resp.status == 200
    resp = await app_client.post(
        f"/api/v1/staff/review/{sent['id']}/approve", headers=reviewer.headers
    )
    assert resp.status == 200
    assert (await resp.json())["status"] == "scheduled"
    assert await do_release_due(services) == 0
    assert await events_of(app_client, resident, "message.new", sent["id"]) == []
    resp = await app_client.post(
        f"/api/v1/contacts/{contact_id}/unblock",
        json={"reason": "Cleared"},
        headers=facility_admin.headers,
    )
    assert resp.status == 200, await resp.text()
    await wait_for_event(app_client, resident, "message.new", sent["id"])


async def test_staff_never_read_what_was_said_while_a_contact_was_privileged(
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
    path = f"/api/v1/staff/contacts/{contact_id}/privilege"
    counsel = {"kind": "legal_counsel", "bar_number": "4512890", "bar_state": "NY"}
    assert (await app_client.post(path, json=counsel, headers=facility_admin.headers)).status == 200
    clock.advance(seconds=1)
    await send(app_client, family, contact_id, "Privileged advice", "pv-1")
    clock.advance(seconds=1)
    resp = await app_client.delete(
        path, json={"reason": "No longer counsel"}, headers=facility_admin.headers
    )
    assert resp.status == 200, await resp.text()
    clock.advance(seconds=1)
    await send(app_client, family, contact_id, "Ordinary news", "pv-2")
    resp = await app_client.get(
        f"/api/v1/staff/messages?contact_id={contact_id}", headers=reviewer.headers
    )
    assert resp.status == 200
    assert [m["body"] for m in (await resp.json())["messages"]] == ["Ordinary news"]


async def test_reading_the_review_queue_is_audited_with_who_what_and_when(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    """The queue shows message bodies: every read of it is a staff action in the log."""
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL)
    _, first = await send(app_client, family, contact_id, "held one", "q-1")
    _, second = await send(app_client, family, contact_id, "held two", "q-2")
    clock.advance(minutes=3)
    read_at = clock.now()
    assert [i["id"] for i in await queue(app_client, reviewer)] == [first["id"], second["id"]]

    [entry] = await audit(app_client, facility_admin, "review.view")
    assert entry["staff"]["id"] == reviewer.id
    assert entry["facility_id"] == world.facility_id
    assert datetime.fromisoformat(entry["at"]) == read_at
    assert entry["details"]["shown"] == [first["id"], second["id"]]
    # An empty look is recorded too: who looked, and that nothing was there.
    await app_client.post(f"/api/v1/staff/review/{first['id']}/approve", headers=reviewer.headers)
    await app_client.post(
        f"/api/v1/staff/review/{second['id']}/reject",
        json={"reason": "Not allowed"},
        headers=reviewer.headers,
    )
    assert await queue(app_client, facility_admin) == []
    latest = (await audit(app_client, facility_admin, "review.view"))[0]
    assert latest["staff"]["id"] == facility_admin.id and latest["details"]["shown"] == []
