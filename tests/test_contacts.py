"""Contacts: a family member asks, the resident decides, staff block."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.services.context import Services
from server.storage.models import AuditEntry
from tests.story import Actor, World, assert_error, post


async def request_contact(
    client: TestClient[Any, Any], family: Actor, resident_id: int
) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/contacts",
        json={"resident_id": resident_id, "relationship": "mother"},
        headers=family.headers,
    )
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def test_family_requests_and_resident_approves(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    assert contact["status"] == "pending"

    resp = await app_client.get("/api/v1/contacts?status=pending", headers=resident.headers)
    pending = (await resp.json())["contacts"]
    assert [c["id"] for c in pending] == [contact["id"]]
    assert pending[0]["family"]["name"] == "Jane Reed"

    resp = await app_client.post(
        f"/api/v1/contacts/{contact['id']}/approve", headers=resident.headers
    )
    assert resp.status == 200
    assert (await resp.json())["status"] == "approved"


async def test_family_cannot_see_other_familys_contact(
    app_client: TestClient[Any, Any], family: Actor, other_family: Actor, world: World
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    resp = await app_client.get(f"/api/v1/contacts/{contact['id']}", headers=other_family.headers)
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")
    resp = await app_client.post(
        f"/api/v1/contacts/{contact['id']}/remove", headers=other_family.headers
    )
    assert resp.status == 404
    resp = await app_client.get("/api/v1/contacts", headers=other_family.headers)
    assert (await resp.json())["contacts"] == []


async def get(client: TestClient[Any, Any], path: str, actor: Actor) -> tuple[int, dict[str, Any]]:
    resp = await client.get(path, headers=actor.headers)
    data: dict[str, Any] = await resp.json()
    return resp.status, data


async def test_resident_denies_and_family_may_ask_again(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    status, denied = await post(app_client, f"/api/v1/contacts/{contact['id']}/deny", resident)
    assert status == 200 and denied["status"] == "denied"

    again = await request_contact(app_client, family, world.residents["A1001"])
    assert again["id"] == contact["id"]
    assert again["status"] == "pending"


async def test_family_removes_an_approved_contact(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    await post(app_client, f"/api/v1/contacts/{contact['id']}/approve", resident)
    status, removed = await post(app_client, f"/api/v1/contacts/{contact['id']}/remove", family)
    assert status == 200 and removed["status"] == "removed"
    status, seen = await get(app_client, f"/api/v1/contacts/{contact['id']}", resident)
    assert status == 200 and seen["status"] == "removed"


async def test_resident_removes_an_approved_contact(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    await post(app_client, f"/api/v1/contacts/{contact['id']}/approve", resident)
    status, removed = await post(app_client, f"/api/v1/contacts/{contact['id']}/remove", resident)
    assert status == 200 and removed["status"] == "removed"
    status, seen = await get(app_client, f"/api/v1/contacts/{contact['id']}", family)
    assert status == 200 and seen["status"] == "removed"


async def test_retry_of_pending_request_returns_same_contact(
    app_client: TestClient[Any, Any], family: Actor, world: World
) -> None:
    first = await request_contact(app_client, family, world.residents["A1001"])
    status, retry = await post(
        app_client,
        "/api/v1/contacts",
        family,
        {"resident_id": world.residents["A1001"], "relationship": "mother"},
    )
    assert status == 200
    assert retry == first
    _, listed = await get(app_client, "/api/v1/contacts", family)
    assert [c["id"] for c in listed["contacts"]] == [first["id"]]


async def test_requesting_an_approved_contact_is_a_conflict(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    await post(app_client, f"/api/v1/contacts/{contact['id']}/approve", resident)
    status, data = await post(
        app_client, "/api/v1/contacts", family, {"resident_id": world.residents["A1001"]}
    )
    assert status == 409
    assert_error(data, "illegal_transition")
    _, seen = await get(app_client, f"/api/v1/contacts/{contact['id']}", family)
    assert seen["status"] == "approved"


async def test_staff_block_with_reason_is_audited(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    reason = "Contact with a co-defendant (case 24-1187)"
    status, blocked = await post(
        app_client, f"/api/v1/contacts/{contact['id']}/block", facility_admin, {"reason": reason}
    )
    assert status == 200
    assert blocked["status"] == "blocked"
    assert blocked["status_reason"] == reason

    async with services.db.read() as tx:
        entries = (
            await tx.scalars(select(AuditEntry).where(AuditEntry.action == "contact.block"))
        ).all()
    assert len(entries) == 1
    entry = entries[0]
    assert entry.staff_id == facility_admin.id
    assert entry.reason == reason
    assert entry.facility_id == world.facility_id
    assert (entry.target_type, entry.target_id) == ("contact", contact["id"])
    assert entry.details == {"from": "pending", "to": "blocked", "until": None}


async def test_blocked_contact_cannot_be_requested_again(
    app_client: TestClient[Any, Any], family: Actor, facility_admin: Actor, world: World
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    await post(
        app_client,
        f"/api/v1/contacts/{contact['id']}/block",
        facility_admin,
        {"reason": "Threats made during a visit"},
    )
    status, data = await post(
        app_client, "/api/v1/contacts", family, {"resident_id": world.residents["A1001"]}
    )
    assert status == 409
    assert_error(data, "illegal_transition")
    assert "blocked" in data["error"]["message"]
    _, seen = await get(app_client, f"/api/v1/contacts/{contact['id']}", family)
    assert seen["status"] == "blocked"


async def test_block_without_reason_is_refused(
    app_client: TestClient[Any, Any], family: Actor, facility_admin: Actor, world: World
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    status, data = await post(
        app_client, f"/api/v1/contacts/{contact['id']}/block", facility_admin, {}
    )
    assert status == 422
    assert "reason" in data["error"]["fields"]
    _, seen = await get(app_client, f"/api/v1/contacts/{contact['id']}", family)
    assert seen["status"] == "pending"


async def test_block_reason_over_1000_chars_is_refused(
    app_client: TestClient[Any, Any], family: Actor, facility_admin: Actor, world: World
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    path = f"/api/v1/contacts/{contact['id']}/block"
    status, data = await post(app_client, path, facility_admin, {"reason": "x" * 1001})
    assert status == 422
    assert "reason" in data["error"]["fields"]
    status, data = await post(app_client, path, facility_admin, {"reason": "x" * 1000})
    assert status == 200
    assert data["status"] == "blocked"


async def test_staff_of_other_facility_get_404(
    app_client: TestClient[Any, Any],
    family: Actor,
    reviewer: Actor,
    other_facility_admin: Actor,
    world: World,
) -> None:
    contact = await request_contact(app_client, family, world.residents["Z9001"])
    path = f"/api/v1/contacts/{contact['id']}"

    status, data = await get(app_client, path, reviewer)
    assert status == 404
    assert_error(data, "not_found")
    status, data = await post(app_client, f"{path}/block", reviewer, {"reason": "not yours"})
    assert status == 404
    assert_error(data, "not_found")
    _, listed = await get(app_client, "/api/v1/contacts", reviewer)
    assert listed["contacts"] == []

    status, data = await get(app_client, path, other_facility_admin)
    assert status == 200 and data["status"] == "pending"


async def test_support_staff_see_every_facility(
    app_client: TestClient[Any, Any], family: Actor, support: Actor, world: World
) -> None:
    here = await request_contact(app_client, family, world.residents["A1001"])
    there = await request_contact(app_client, family, world.residents["Z9001"])
    for contact in (here, there):
        status, _ = await get(app_client, f"/api/v1/contacts/{contact['id']}", support)
        assert status == 200
    _, listed = await get(app_client, "/api/v1/contacts", support)
    assert {c["id"] for c in listed["contacts"]} == {here["id"], there["id"]}


async def test_resident_cannot_see_other_residents_contact(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    other_resident: Actor,
    world: World,
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    status, data = await get(app_client, f"/api/v1/contacts/{contact['id']}", other_resident)
    assert status == 404
    assert_error(data, "not_found")
    status, data = await post(
        app_client, f"/api/v1/contacts/{contact['id']}/approve", other_resident
    )
    assert status == 404
    _, listed = await get(app_client, "/api/v1/contacts", other_resident)
    assert listed["contacts"] == []
    status, _ = await get(app_client, f"/api/v1/contacts/{contact['id']}", resident)
    assert status == 200


async def test_family_cannot_approve_own_request(
    app_client: TestClient[Any, Any], family: Actor, world: World
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    status, data = await post(app_client, f"/api/v1/contacts/{contact['id']}/approve", family)
    assert status == 403
    assert_error(data)
    _, seen = await get(app_client, f"/api/v1/contacts/{contact['id']}", family)
    assert seen["status"] == "pending"


async def test_unknown_contact_id_is_404(
    app_client: TestClient[Any, Any], family: Actor, world: World
) -> None:
    status, data = await get(app_client, "/api/v1/contacts/987654", family)
    assert status == 404
    assert_error(data, "not_found")


async def test_non_numeric_contact_id_is_404(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> None:
    status, data = await get(app_client, "/api/v1/contacts/abc", family)
    assert status == 404
    assert_error(data, "not_found")
    status, data = await post(app_client, "/api/v1/contacts/abc/approve", resident)
    assert status == 404
    assert_error(data, "not_found")


async def test_family_may_have_contacts_in_several_facilities(
    app_client: TestClient[Any, Any], family: Actor, world: World
) -> None:
    marcus = await request_contact(app_client, family, world.residents["A1001"])
    olive = await request_contact(app_client, family, world.residents["Z9001"])
    assert marcus["facility"]["id"] == world.facility_id
    assert olive["facility"]["id"] == world.other_facility_id
    _, listed = await get(app_client, "/api/v1/contacts", family)
    assert {
        (c["resident"]["resident_number"], c["facility"]["id"]) for c in listed["contacts"]
    } == {
        ("A1001", world.facility_id),
        ("Z9001", world.other_facility_id),
    }


async def test_listing_contacts_needs_sign_in(
    app_client: TestClient[Any, Any], world: World
) -> None:
    resp = await app_client.get("/api/v1/contacts")
    assert resp.status == 401
    assert_error(await resp.json(), "unauthenticated")


async def test_concurrent_retries_of_a_request_make_one_contact(
    app_client: TestClient[Any, Any], family: Actor, world: World
) -> None:
    body = {"resident_id": world.residents["A1001"], "relationship": "mother"}
    responses = await asyncio.gather(
        *(app_client.post("/api/v1/contacts", json=body, headers=family.headers) for _ in range(4))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200, 200, 200, 201], [await r.text() for r in responses]
    ids = {(await r.json())["id"] for r in responses}
    assert len(ids) == 1
    _, listed = await get(app_client, "/api/v1/contacts", family)
    assert [c["id"] for c in listed["contacts"]] == list(ids)


async def test_both_parties_hear_of_every_contact_change_on_their_event_stream(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> None:
    contact = await request_contact(app_client, family, world.residents["A1001"])
    await app_client.post(f"/api/v1/contacts/{contact['id']}/approve", headers=resident.headers)
    for who in (family, resident):
        resp = await app_client.get("/api/v1/events?since=0", headers=who.headers)
        updates = [e["data"] for e in (await resp.json())["events"]]
        assert [(u["id"], u["status"]) for u in updates] == [
            (contact["id"], "pending"),
            (contact["id"], "approved"),
        ]
