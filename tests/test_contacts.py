"""Contacts: a family member asks, the resident decides, staff block."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import Actor, World, assert_error


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
