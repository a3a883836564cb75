"""Appeals: the sender of a rejected message appeals once; the facility's administrators
uphold or overturn; an overturned message is delivered, still free; the sender hears the
outcome on their event stream."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from aiohttp.test_utils import TestClient

from server.domain.ledger import family_wallet
from server.services.context import Services
from tests.fakes import FrozenClock
from tests.story import (
    ALLOWED_ORIGIN,
    WAIT,
    Actor,
    World,
    assert_error,
    audit,
    balance,
    connect,
    events_of,
    held_message,
    history,
    send,
    set_policy,
    settled,
    wait_for_event,
)

REJECTION = "Mentions another resident's case"


async def rejected_message(
    client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    admin: Actor,
    world: World,
) -> tuple[int, dict[str, Any]]:
    """A message from Jane to Marcus, held and rejected by the reviewer (Jane refunded)."""
    contact_id, sent = await held_message(client, services, family, resident, admin, world)
    resp = await client.post(
        f"/api/v1/staff/review/{sent['id']}/reject",
        json={"reason": REJECTION},
        headers=reviewer.headers,
    )
    assert resp.status == 200, await resp.text()
    await set_policy(client, admin, world.facility_id)  # back to instant for what follows
    return contact_id, sent


async def appeal(
    client: TestClient[Any, Any], who: Actor, message_id: int, text: str = "It is about my own case"
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        f"/api/v1/messages/{message_id}/appeal", json={"text": text}, headers=who.headers
    )
    return resp.status, await resp.json()


async def decide(
    client: TestClient[Any, Any], who: Actor, appeal_id: int, decision: str, reason: str = "ok"
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        f"/api/v1/staff/appeals/{appeal_id}/decide",
        json={"decision": decision, "reason": reason},
        headers=who.headers,
    )
    return resp.status, await resp.json()


async def appeals_of(client: TestClient[Any, Any], who: Actor) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/api/v1/staff/appeals", headers=who.headers)
    return resp.status, await resp.json()


async def test_an_overturned_appeal_delivers_the_message_free_and_tells_the_sender(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id, sent = await rejected_message(
        app_client, services, family, resident, reviewer, facility_admin, world
    )
    assert await balance(services, family_wallet(family.id)) == 500

    status, mine = await appeal(app_client, family, sent["id"], "It is about my own case")
    assert status == 201, mine
    assert mine["status"] == "rejected"
    assert mine["appeal"]["status"] == "pending"
    assert mine["appeal"]["text"] == "It is about my own case"
    assert mine["appeal"]["rejection_reason"] == REJECTION
    assert mine["appeal"]["decision_reason"] is None
    page = (await history(app_client, family, contact_id))[1]["messages"]
    assert page[0]["appeal"]["status"] == "pending"

    status, queue = await appeals_of(app_client, facility_admin)
    assert status == 200
    [item] = queue["items"]
    assert item["status"] == "pending" and item["text"] == "It is about my own case"
    assert item["rejection_reason"] == REJECTION and item["rejected_by"] == "Reviewer"
    assert item["message"]["id"] == sent["id"] and item["message"]["body"] == "Held for review"
    assert item["sender_name"] == "Jane Reed" and item["recipient_name"] == "Marcus Reed"

    status, decided = await decide(
        app_client, facility_admin, item["id"], "overturn", "It concerns her own case only"
    )
    assert status == 200, decided
    assert decided["status"] == "overturned" and decided["decided_by"] == "Admin"
    assert decided["message"]["status"] == "delivered"

    new = await wait_for_event(app_client, resident, "message.new", sent["id"])
    assert new["data"]["body"] == "Held for review"
    assert new["data"]["rejection_reason"] is None and new["data"]["appeal"] is None
    told = [
        e["data"]
        for e in await events_of(app_client, family, "message.status", sent["id"])
        if e["data"].get("appeal")
    ]
    assert [t["appeal"]["status"] for t in told] == ["pending", "overturned"]
    assert told[-1]["status"] == "delivered"
    assert told[-1]["appeal"]["decision_reason"] == "It concerns her own case only"

    page = (await history(app_client, family, contact_id))[1]["messages"]
    assert page[0]["status"] == "delivered" and page[0]["refunded"] is True
    assert page[0]["appeal"]["status"] == "overturned"
    theirs = (await history(app_client, resident, contact_id))[1]["messages"]
    assert [m["id"] for m in theirs] == [sent["id"]] and theirs[0]["appeal"] is None
    assert await balance(services, family_wallet(family.id)) == 500, "still free"
    assert (await appeals_of(app_client, facility_admin))[1]["items"] == []
    [entry] = await audit(app_client, facility_admin, "appeal.overturn")
    assert entry["reason"] == "It concerns her own case only"
    assert entry["target_type"] == "appeal" and entry["details"]["message_id"] == sent["id"]


async def test_an_upheld_appeal_keeps_the_message_rejected_and_tells_the_sender(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id, sent = await rejected_message(
        app_client, services, family, resident, reviewer, facility_admin, world
    )
    await appeal(app_client, family, sent["id"])
    [item] = (await appeals_of(app_client, facility_admin))[1]["items"]
    status, decided = await decide(app_client, facility_admin, item["id"], "uphold", "Rule 4")
    assert status == 200 and decided["status"] == "upheld"
    told = (await events_of(app_client, family, "message.status", sent["id"]))[-1]["data"]
    assert told["status"] == "rejected"
    assert told["appeal"]["status"] == "upheld" and told["appeal"]["decision_reason"] == "Rule 4"
    assert (await history(app_client, resident, contact_id))[1]["messages"] == []
    assert await events_of(app_client, resident, "message.new", sent["id"]) == []
    page = (await history(app_client, family, contact_id))[1]["messages"]
    assert page[0]["status"] == "rejected" and page[0]["rejection_reason"] == REJECTION
    assert page[0]["appeal"]["status"] == "upheld"
    [entry] = await audit(app_client, facility_admin, "appeal.uphold")
    assert entry["reason"] == "Rule 4"


async def test_appealing_twice_is_409(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    _, sent = await rejected_message(
        app_client, services, family, resident, reviewer, facility_admin, world
    )
    first, second = await asyncio.gather(
        appeal(app_client, family, sent["id"], "first"),
        appeal(app_client, family, sent["id"], "second"),
    )
    assert sorted([first[0], second[0]]) == [201, 409]
    status, data = await appeal(app_client, family, sent["id"], "third")
    assert status == 409
    assert_error(data, "already_appealed")
    assert len((await appeals_of(app_client, facility_admin))[1]["items"]) == 1


async def test_appeal_text_over_500_chars_or_empty_is_refused(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    _, sent = await rejected_message(
        app_client, services, family, resident, reviewer, facility_admin, world
    )
    for text in ("", "   ", "x" * 501):
        status, data = await appeal(app_client, family, sent["id"], text)
        assert status == 422, data
        assert "text" in data["error"]["fields"]
    assert (await appeals_of(app_client, facility_admin))[1]["items"] == []
    status, data = await appeal(app_client, family, sent["id"], "é" * 500)
    assert status == 201, data


async def test_only_the_sender_can_appeal_and_only_a_rejected_message(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id, sent = await rejected_message(
        app_client, services, family, resident, reviewer, facility_admin, world
    )
    for who in (resident, other_family):
        status, data = await appeal(app_client, who, sent["id"])
        assert status == 404
        assert_error(data, "not_found")
    assert (await appeal(app_client, facility_admin, sent["id"]))[0] == 403
    assert (await appeal(app_client, family, 987654))[0] == 404
    _, delivered = await send(app_client, family, contact_id, "hello", "ok-1")
    assert delivered["status"] == "delivered"
    assert (await appeal(app_client, family, delivered["id"]))[0] == 404
    # A message the sender deleted for themselves is gone for them, appeal included.
    resp = await app_client.delete(f"/api/v1/messages/{sent['id']}", headers=family.headers)
    assert resp.status == 204
    assert (await appeal(app_client, family, sent["id"]))[0] == 404


async def test_one_decision_wins_and_a_second_is_409(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    _, sent = await rejected_message(
        app_client, services, family, resident, reviewer, facility_admin, world
    )
    await appeal(app_client, family, sent["id"])
    [item] = (await appeals_of(app_client, facility_admin))[1]["items"]
    overturn, uphold = await asyncio.gather(
        decide(app_client, facility_admin, item["id"], "overturn"),
        decide(app_client, facility_admin, item["id"], "uphold"),
    )
    assert sorted([overturn[0], uphold[0]]) == [200, 409]
    loser = uphold if uphold[0] == 409 else overturn
    assert_error(loser[1], "already_decided")
    assert "Admin already" in loser[1]["error"]["message"]
    decisions = await audit(app_client, facility_admin, "appeal.overturn") + await audit(
        app_client, facility_admin, "appeal.uphold"
    )
    assert len(decisions) == 1
    delivered = await events_of(app_client, resident, "message.new", sent["id"])
    assert len(delivered) == (1 if overturn[0] == 200 else 0)


async def test_appeals_privacy_and_bad_decisions(
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
    _, sent = await rejected_message(
        app_client, services, family, resident, reviewer, facility_admin, world
    )
    await appeal(app_client, family, sent["id"])
    [item] = (await appeals_of(app_client, facility_admin))[1]["items"]
    # Staff of another facility: nothing to see, and the appeal does not exist for them.
    assert (await appeals_of(app_client, other_facility_admin))[1]["items"] == []
    status, data = await decide(app_client, other_facility_admin, item["id"], "overturn")
    assert status == 404
    assert_error(data, "not_found")
    # Reviewers do not decide appeals of their own decisions; support sees, does not decide.
    assert (await appeals_of(app_client, reviewer))[0] == 403
    assert (await decide(app_client, reviewer, item["id"], "overturn"))[0] == 403
    assert [i["id"] for i in (await appeals_of(app_client, support))[1]["items"]] == [item["id"]]
    assert (await decide(app_client, support, item["id"], "overturn"))[0] == 403
    assert (await appeals_of(app_client, family))[0] == 403
    assert (await decide(app_client, facility_admin, 987654, "overturn"))[0] == 404
    for body in (
        {"decision": "overturn", "reason": ""},
        {"decision": "overturn", "reason": "x" * 501},
        {"decision": "maybe", "reason": "ok"},
    ):
        resp = await app_client.post(
            f"/api/v1/staff/appeals/{item['id']}/decide", json=body, headers=facility_admin.headers
        )
        assert resp.status == 422
    # None of the refusals decided anything.
    assert [i["id"] for i in (await appeals_of(app_client, facility_admin))[1]["items"]] == [
        item["id"]
    ]
    assert await events_of(app_client, resident, "message.new", sent["id"]) == []
    assert (await decide(app_client, facility_admin, item["id"], "uphold", "x" * 500))[0] == 200


async def test_an_appeal_overturned_while_the_contact_is_blocked_waits_for_the_unblock(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id, sent = await rejected_message(
        app_client, services, family, resident, reviewer, facility_admin, world
    )
    await appeal(app_client, family, sent["id"])
    [item] = (await appeals_of(app_client, facility_admin))[1]["items"]
    resp = await app_client.post(
        f"/api/v1/contacts/{contact_id}/block",
        json={"reason": "Investigation pending"},
        headers=facility_admin.headers,
    )
    assert resp.status == 200
    status, decided = await decide(app_client, facility_admin, item["id"], "overturn")
    assert status == 200 and decided["message"]["status"] == "scheduled"
    clock.advance(minutes=5)
    await settled(app_client)
    assert await events_of(app_client, resident, "message.new", sent["id"]) == []
    resp = await app_client.post(
        f"/api/v1/contacts/{contact_id}/unblock",
        json={"reason": "Investigation closed"},
        headers=facility_admin.headers,
    )
    assert resp.status == 200
    new = await wait_for_event(app_client, resident, "message.new", sent["id"])
    assert new["data"]["body"] == "Held for review"


async def test_the_sender_hears_the_appeals_outcome_over_the_socket(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
    sio: socketio.AsyncClient,
) -> None:
    _, sent = await rejected_message(
        app_client, services, family, resident, reviewer, facility_admin, world
    )
    await appeal(app_client, family, sent["id"])
    [item] = (await appeals_of(app_client, facility_admin))[1]["items"]
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sio.on("event", got.put_nowait)
    await connect(sio, app_client, token=family.token, headers={"Origin": ALLOWED_ORIGIN})
    await decide(app_client, facility_admin, item["id"], "overturn", "Allowed")
    async with asyncio.timeout(WAIT):
        while True:
            event = await got.get()
            appealed = event["data"].get("appeal") if event["type"] == "message.status" else None
            if appealed and appealed["status"] == "overturned":
                break
    assert event["data"]["id"] == sent["id"] and event["data"]["status"] == "delivered"
    assert appealed["decision_reason"] == "Allowed"


async def test_reading_the_appeals_is_audited_with_the_messages_shown(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    """Each appeal shows the rejected message's body: every read of the list is audited."""
    _, sent = await rejected_message(
        app_client, services, family, resident, reviewer, facility_admin, world
    )
    await appeal(app_client, family, sent["id"])
    for who in (facility_admin, support):
        [item] = (await appeals_of(app_client, who))[1]["items"]
        assert item["message"]["body"]
    entries = await audit(app_client, support, "appeals.view")
    assert [(e["staff"]["id"], e["details"]) for e in entries] == [
        (support.id, {"shown": [item["id"]], "messages": [sent["id"]]}),
        (facility_admin.id, {"shown": [item["id"]], "messages": [sent["id"]]}),
    ]
