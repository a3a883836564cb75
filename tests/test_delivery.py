"""Facility delivery rules: the policy, delayed delivery released by the database, the review
queue's decisions (refund on rejection), privileged contacts, and staff's read-only view."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from server.domain.ledger import family_wallet, resident_wallet
from server.services.context import Services
from server.services.delivery import do_release_due
from tests.fakes import FrozenClock
from tests.story import (
    INSTANT,
    REVIEW_ALL,
    Actor,
    World,
    approved_contact,
    assert_error,
    audit,
    balance,
    delay,
    events,
    events_of,
    fund,
    funded_contact,
    held_message,
    history,
    mark_privileged,
    send,
    set_policy,
    wait_for_event,
)

# --- the policy ---------------------------------------------------------------------------


async def test_policy_starts_instant_and_an_admins_change_is_kept_with_its_history(
    app_client: TestClient[Any, Any], facility_admin: Actor, reviewer: Actor, world: World
) -> None:
    path = f"/api/v1/staff/facilities/{world.facility_id}/policy"
    first = await (await app_client.get(path, headers=reviewer.headers)).json()
    assert first["policy"]["incoming"] == first["policy"]["outgoing"] == INSTANT
    assert first["version"] == 0 and first["history"] == []

    changed = await set_policy(app_client, facility_admin, world.facility_id, incoming=delay(30))
    assert changed["version"] == 1
    assert changed["policy"]["incoming"] == delay(30)
    assert [h["version"] for h in changed["history"]] == [1]
    assert changed["history"][0]["reason"] == "test"
    assert changed["history"][0]["changed_by"] == "Admin"
    again = await set_policy(app_client, facility_admin, world.facility_id, incoming=delay(30))
    assert again["version"] == 1, "the same policy again is not a new version"
    [entry] = await audit(app_client, facility_admin, "policy.update")
    assert entry["details"]["before"]["incoming"] == INSTANT
    assert entry["details"]["after"]["incoming"] == delay(30)


async def test_reviewers_cannot_change_policy(
    app_client: TestClient[Any, Any], reviewer: Actor, world: World
) -> None:
    resp = await app_client.put(
        f"/api/v1/staff/facilities/{world.facility_id}/policy",
        json={"incoming": REVIEW_ALL, "outgoing": INSTANT},
        headers=reviewer.headers,
    )
    assert resp.status == 403
    assert_error(await resp.json(), "forbidden")


async def test_staff_of_another_facility_get_404_for_its_policy(
    app_client: TestClient[Any, Any], other_facility_admin: Actor, world: World
) -> None:
    path = f"/api/v1/staff/facilities/{world.facility_id}/policy"
    assert (await app_client.get(path, headers=other_facility_admin.headers)).status == 404
    resp = await app_client.put(
        path,
        json={"incoming": REVIEW_ALL, "outgoing": INSTANT},
        headers=other_facility_admin.headers,
    )
    assert resp.status == 404


async def test_a_bad_policy_is_refused_field_by_field_and_changes_nothing(
    app_client: TestClient[Any, Any], facility_admin: Actor, world: World
) -> None:
    path = f"/api/v1/staff/facilities/{world.facility_id}/policy"
    for incoming, field in (
        ({"mode": "delay", "delay_minutes": 0}, "incoming.delay_minutes"),
        ({"mode": "delay", "delay_minutes": 10081}, "incoming.delay_minutes"),
        ({"mode": "later", "delay_minutes": 0}, "incoming.mode"),
    ):
        resp = await app_client.put(
            path, json={"incoming": incoming, "outgoing": INSTANT}, headers=facility_admin.headers
        )
        assert resp.status == 422
        body = await resp.json()
        assert field in body["error"]["fields"], body
    current = await (await app_client.get(path, headers=facility_admin.headers)).json()
    assert current["version"] == 0


# --- delayed delivery ---------------------------------------------------------------------


async def test_a_delayed_message_is_released_by_the_scheduler_when_due(
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

    status, sent = await send(app_client, family, contact_id, "See you soon", "d-1")
    assert status == 201, sent
    assert sent["status"] == "scheduled"
    assert sent["deliver_at"] == "2026-11-18T15:15:00+00:00"
    assert sent["price_cents"] == 50 and sent["paid_by"] == "you"
    # Not yet the resident's: not in their history, nothing in their stream.
    assert (await history(app_client, resident, contact_id))[1]["messages"] == []
    assert await events_of(app_client, resident, "message.new", sent["id"]) == []
    # The resident's outgoing messages are not delayed.
    await fund(services, resident_wallet(resident.id), 100)
    status, reply = await send(app_client, resident, contact_id, "ok", "r-1")
    assert reply["status"] == "delivered"

    clock.advance(minutes=14, seconds=59)
    assert await do_release_due(services) == 0
    clock.advance(seconds=1)
    new = await wait_for_event(app_client, resident, "message.new", sent["id"])
    assert new["data"]["status"] == "delivered"
    assert new["data"]["body"] == "See you soon"
    told = await wait_for_event(app_client, family, "message.status", sent["id"])
    assert told["data"]["status"] == "delivered"
    page = (await history(app_client, resident, contact_id))[1]["messages"]
    assert [m["id"] for m in page] == [reply["id"], sent["id"]]
    assert await balance(services, family_wallet(family.id)) == 450


async def test_concurrent_releases_deliver_each_due_message_once(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await fund(services, family_wallet(family.id), 5000)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=delay(1))
    ids = []
    for n in range(12):
        status, sent = await send(app_client, family, contact_id, f"m{n}", f"c-{n}")
        assert status == 201
        ids.append(sent["id"])
    clock.advance(minutes=2)
    # Four releasers at once (plus the app's own loop): each message is claimed once.
    await asyncio.gather(*(do_release_due(services) for _ in range(4)))
    for message_id in ids:
        await wait_for_event(app_client, resident, "message.new", message_id)
    delivered = [
        e["data"]["id"] for e in await events(app_client, resident) if e["type"] == "message.new"
    ]
    assert sorted(delivered) == sorted(ids)


async def test_a_policy_change_applies_to_the_next_message(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    assert (await send(app_client, family, contact_id, "a", "p-1"))[1]["status"] == "delivered"
    await set_policy(app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL)
    assert (await send(app_client, family, contact_id, "b", "p-2"))[1]["status"] == (
        "pending_review"
    )
    await set_policy(app_client, facility_admin, world.facility_id)
    assert (await send(app_client, family, contact_id, "c", "p-3"))[1]["status"] == "delivered"


# --- review ------------------------------------------------------------------------------


async def test_a_held_message_waits_in_the_queue_until_approved(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id, sent = await held_message(
        app_client, services, family, resident, facility_admin, world
    )
    assert (await history(app_client, resident, contact_id))[1]["messages"] == []
    queue = await (await app_client.get("/api/v1/staff/review", headers=reviewer.headers)).json()
    [item] = queue["items"]
    assert item["id"] == sent["id"] and item["body"] == "Held for review"
    assert item["matched"] == ["incoming: review all"]
    assert item["recipient_name"] == "Marcus Reed"

    resp = await app_client.post(
        f"/api/v1/staff/review/{sent['id']}/approve", headers=reviewer.headers
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "delivered"
    new = await wait_for_event(app_client, resident, "message.new", sent["id"])
    assert new["data"]["body"] == "Held for review"
    told = await wait_for_event(app_client, family, "message.status", sent["id"])
    assert told["data"]["status"] == "delivered"
    queue = await (await app_client.get("/api/v1/staff/review", headers=reviewer.headers)).json()
    assert queue["items"] == []
    [entry] = await audit(app_client, facility_admin, "review.approve")
    assert entry["target_id"] == sent["id"] and entry["staff"]["name"] == "Reviewer"


async def test_a_rejected_message_refunds_its_payer_and_tells_the_sender_why(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id, sent = await held_message(
        app_client, services, family, resident, facility_admin, world
    )
    assert await balance(services, family_wallet(family.id)) == 450
    resp = await app_client.post(
        f"/api/v1/staff/review/{sent['id']}/reject",
        json={"reason": "Mentions another resident's case"},
        headers=reviewer.headers,
    )
    assert resp.status == 200, await resp.text()
    assert await balance(services, family_wallet(family.id)) == 500
    told = await wait_for_event(app_client, family, "message.status", sent["id"])
    assert told["data"]["status"] == "rejected"
    assert told["data"]["rejection_reason"] == "Mentions another resident's case"
    assert told["data"]["refunded_cents"] == 50
    mine = (await history(app_client, family, contact_id))[1]["messages"]
    assert mine[0]["status"] == "rejected" and mine[0]["refunded"] is True
    assert (await history(app_client, resident, contact_id))[1]["messages"] == []
    assert await events_of(app_client, resident, "message.new", sent["id"]) == []
    [entry] = await audit(app_client, facility_admin, "review.reject")
    assert entry["reason"] == "Mentions another resident's case"

    again = await app_client.post(
        f"/api/v1/staff/review/{sent['id']}/reject", json={"reason": "x"}, headers=reviewer.headers
    )
    assert again.status == 409
    assert_error(await again.json(), "already_decided")
    late = await app_client.post(
        f"/api/v1/staff/review/{sent['id']}/approve", headers=facility_admin.headers
    )
    assert late.status == 409
    assert "Reviewer already rejected" in (await late.json())["error"]["message"]
    assert await balance(services, family_wallet(family.id)) == 500


async def test_two_reviewers_deciding_at_once_exactly_one_wins(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    _, sent = await held_message(app_client, services, family, resident, facility_admin, world)
    approve, reject = await asyncio.gather(
        app_client.post(f"/api/v1/staff/review/{sent['id']}/approve", headers=reviewer.headers),
        app_client.post(
            f"/api/v1/staff/review/{sent['id']}/reject",
            json={"reason": "no"},
            headers=facility_admin.headers,
        ),
    )
    assert sorted([approve.status, reject.status]) == [200, 409]
    refunded = reject.status == 200
    assert await balance(services, family_wallet(family.id)) == (500 if refunded else 450)
    decisions = await audit(app_client, facility_admin, "review.approve") + await audit(
        app_client, facility_admin, "review.reject"
    )
    assert len(decisions) == 1


async def test_review_bad_input_and_privacy(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    other_facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    _, sent = await held_message(app_client, services, family, resident, facility_admin, world)
    path = f"/api/v1/staff/review/{sent['id']}"
    for reason in ("", "x" * 501):
        resp = await app_client.post(
            f"{path}/reject", json={"reason": reason}, headers=reviewer.headers
        )
        assert resp.status == 422
    resp = await app_client.post(f"{path}/approve", headers=other_facility_admin.headers)
    assert resp.status == 404
    other_queue = await app_client.get("/api/v1/staff/review", headers=other_facility_admin.headers)
    assert (await other_queue.json())["items"] == []
    assert (await app_client.post(f"{path}/approve", headers=support.headers)).status == 403
    assert (await app_client.post(f"{path}/approve", headers=family.headers)).status == 403
    assert (
        await app_client.post("/api/v1/staff/review/999999/approve", headers=reviewer.headers)
    ).status == 404
    # A message that was never held is not reviewable.
    await set_policy(app_client, facility_admin, world.facility_id)
    _, instant = await send(app_client, family, sent["contact_id"], "hi", "i-1")
    resp = await app_client.post(
        f"/api/v1/staff/review/{instant['id']}/approve", headers=reviewer.headers
    )
    assert resp.status == 404
    # Nothing changed by the refusals.
    assert await balance(services, family_wallet(family.id)) == 400
    queue = await (await app_client.get("/api/v1/staff/review", headers=reviewer.headers)).json()
    assert [i["id"] for i in queue["items"]] == [sent["id"]]


# --- privileged contacts and staff's view -------------------------------------------------


async def test_privileged_messages_are_never_held_and_free(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    reviewer: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await mark_privileged(services, contact_id)
    await set_policy(
        app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL, outgoing=REVIEW_ALL
    )
    status, sent = await send(app_client, family, contact_id, "Privileged and confidential", "l-1")
    assert status == 201, sent
    assert sent["status"] == "delivered" and sent["price_cents"] == 0 and sent["paid_by"] is None
    queue = await (await app_client.get("/api/v1/staff/review", headers=reviewer.headers)).json()
    assert queue["items"] == []
    resp = await app_client.get(
        f"/api/v1/staff/messages?contact_id={contact_id}", headers=reviewer.headers
    )
    assert resp.status == 403
    assert_error(await resp.json(), "privileged_contact")
    assert "Privileged and confidential" not in await resp.text()


async def test_facility_staff_read_conversations_read_only_and_each_view_is_audited(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    other_facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    _, sent = await send(app_client, family, contact_id, "Hello", "s-1")
    path = f"/api/v1/staff/messages?contact_id={contact_id}"
    page = await (await app_client.get(path, headers=reviewer.headers)).json()
    assert [m["id"] for m in page["messages"]] == [sent["id"]]
    assert page["messages"][0]["recipient"] == {"kind": "resident", "id": resident.id}
    assert (await app_client.get(path, headers=other_facility_admin.headers)).status == 404
    assert (await app_client.get(path, headers=family.headers)).status == 403
    [entry] = await audit(app_client, facility_admin, "messages.view")
    assert entry["target_id"] == contact_id and entry["details"]["shown"] == [sent["id"]]
