"""The review queue as a reviewer sees it: oldest first, with the conversation just before."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from server.domain.ledger import family_wallet, resident_wallet
from server.services.context import Services
from tests.conftest import Actor, World
from tests.test_delivery import REVIEW_ALL, set_policy
from tests.test_messages import approved_contact, fund, send


async def queue(client: TestClient[Any, Any], who: Actor) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/staff/review", headers=who.headers)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["items"])


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
