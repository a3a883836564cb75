"""Contacts and messages through the API: connecting, sending, blocking, the facility's
rules and the review queue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from server.domain.ledger import family_wallet
from server.services.context import Services
from server.storage.message_models import Message
from server.storage.models import Contact
from tests.story.money import fund
from tests.story.stage import Actor, World

A_SATURDAY_AFTERNOON = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)  # 15:00 in New York


async def approved_contact(
    client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> int:
    resp = await client.post(
        "/api/v1/contacts",
        json={"resident_id": world.residents["A1001"]},
        headers=family.headers,
    )
    assert resp.status == 201, await resp.text()
    contact_id = int((await resp.json())["id"])
    resp = await client.post(f"/api/v1/contacts/{contact_id}/approve", headers=resident.headers)
    assert resp.status == 200, await resp.text()
    return contact_id


async def funded_contact(
    client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
    *,
    cents: int = 500,
) -> int:
    """The most common opening: an approved contact, and $5.00 on the family's wallet."""
    contact_id = await approved_contact(client, family, resident, world)
    await fund(services, family_wallet(family.id), cents)
    return contact_id


async def send(
    client: TestClient[Any, Any],
    who: Actor,
    contact_id: int,
    body: str,
    client_id: str,
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        "/api/v1/messages",
        json={"contact_id": contact_id, "body": body, "client_id": client_id},
        headers=who.headers,
    )
    return resp.status, await resp.json()


async def history(client: TestClient[Any, Any], who: Actor, contact_id: int) -> Any:
    resp = await client.get(f"/api/v1/messages?contact_id={contact_id}", headers=who.headers)
    return resp.status, await resp.json()


async def stored_messages(services: Services) -> int:
    async with services.db.read() as tx:
        return int(await tx.scalar(select(func.count(Message.id))) or 0)


async def post(
    client: TestClient[Any, Any], path: str, who: Actor, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(path, json=body, headers=who.headers)
    return resp.status, await resp.json()


async def block(
    client: TestClient[Any, Any],
    who: Actor,
    contact_id: int,
    reason: str = "Threats made during a visit",
    until: str | None = None,
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"reason": reason}
    if until is not None:
        body["until"] = until
    return await post(client, f"/api/v1/contacts/{contact_id}/block", who, body)


async def block_family(
    client: TestClient[Any, Any],
    who: Actor,
    facility_id: int,
    family_account_id: int,
    reason: str = "Smuggling attempt",
    until: str | None = None,
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"family_account_id": family_account_id, "reason": reason}
    if until is not None:
        body["until"] = until
    return await post(client, f"/api/v1/staff/facilities/{facility_id}/blocks", who, body)


INSTANT = {"mode": "instant", "delay_minutes": 0}
REVIEW_ALL = {"mode": "review_all", "delay_minutes": 0}


def delay(minutes: int) -> dict[str, Any]:
    return {"mode": "delay", "delay_minutes": minutes}


async def set_policy(
    client: TestClient[Any, Any],
    admin: Actor,
    facility_id: int,
    *,
    incoming: dict[str, Any] = INSTANT,
    outgoing: dict[str, Any] = INSTANT,
) -> dict[str, Any]:
    resp = await client.put(
        f"/api/v1/staff/facilities/{facility_id}/policy",
        json={"incoming": incoming, "outgoing": outgoing, "reason": "test"},
        headers=admin.headers,
    )
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


def document(**fields: Any) -> dict[str, Any]:
    return {"incoming": INSTANT, "outgoing": INSTANT, **fields}


def path_of(world: World) -> str:
    return f"/api/v1/staff/facilities/{world.facility_id}/policy"


async def mark_privileged(services: Services, contact_id: int) -> None:
    # Marking (with credentials, by a facility admin) arrives with the moderation console;
    # here the flag is set directly to show what it does to messaging.
    async with services.db.transaction() as tx:
        await tx.execute(update(Contact).where(Contact.id == contact_id).values(privileged=True))


async def held_message(
    client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    admin: Actor,
    world: World,
    body: str = "Held for review",
) -> tuple[int, dict[str, Any]]:
    contact_id = await approved_contact(client, family, resident, world)
    await fund(services, family_wallet(family.id), 500)
    await set_policy(client, admin, world.facility_id, incoming=REVIEW_ALL)
    status, sent = await send(client, family, contact_id, body, "held-1")
    assert status == 201 and sent["status"] == "pending_review", sent
    return contact_id, sent


async def queue(client: TestClient[Any, Any], who: Actor) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/staff/review", headers=who.headers)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["items"])
