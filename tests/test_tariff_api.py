"""A facility's tariff over HTTP: public prices, the staff view with rate-cap warnings, and the
facility admin's audited edit."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.domain.tariff import DEFAULT_TARIFF
from server.services.context import Services
from server.services.tariffs import tariff_of
from server.storage.models import AuditEntry
from tests.story import Actor, World, assert_error, compliant_body

Client = TestClient[Any, Any]


def public_path(facility_id: int) -> str:
    return f"/api/v1/facilities/{facility_id}/tariff"


def staff_path(facility_id: int) -> str:
    return f"/api/v1/staff/facilities/{facility_id}/tariff"


async def audit_entries(services: Services) -> list[AuditEntry]:
    async with services.db.read() as tx:
        stmt = select(AuditEntry).where(AuditEntry.action == "tariff.update")
        return list((await tx.scalars(stmt.order_by(AuditEntry.id))).all())


async def public_tariff(client: Client, facility_id: int) -> dict[str, Any]:
    resp = await client.get(public_path(facility_id))
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def test_public_tariff_shows_the_defaults_without_internal_settings(
    app_client: Client, world: World
) -> None:
    data = await public_tariff(app_client, world.facility_id)
    assert data["tariff"] == DEFAULT_TARIFF.public_json()
    assert data["tariff"]["wallet_deposit_min_cents"] == 500
    assert data["tariff"]["calling_deposit_fee_cents"]["operator"] == 595
    assert "refund_approval_threshold_cents" not in data["tariff"]
    assert data["facility"] == {
        "id": world.facility_id,
        "name": "Riverside",
        "timezone": "America/New_York",
    }
    assert data["updated_at"] is None


async def test_public_tariff_of_unknown_facility_is_404(app_client: Client, world: World) -> None:
    for path in (public_path(999_999), "/api/v1/facilities/abc/tariff"):
        resp = await app_client.get(path)
        assert resp.status == 404
        assert_error(await resp.json(), "not_found")


async def test_staff_see_the_full_tariff_with_rate_cap_warnings(
    app_client: Client, world: World, reviewer: Actor
) -> None:
    resp = await app_client.get(staff_path(world.facility_id), headers=reviewer.headers)
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    assert data["tariff"] == DEFAULT_TARIFF.to_json()
    assert data["is_default"] is True
    assert data["rate_caps"]["profile"] == "fcc_2024"
    assert "verify" in data["rate_caps"]["notice"]
    warned = {w["field"]: w["severity"] for w in data["warnings"]}
    assert warned["remote_visit_cents_per_minute"] == "error"
    assert warned["calling_deposit_fee_cents.operator"] == "error"
    assert warned["wallet_deposit_fee_cents"] == "warning"


async def test_support_staff_may_read_any_facilitys_tariff(
    app_client: Client, world: World, support: Actor
) -> None:
    resp = await app_client.get(staff_path(world.other_facility_id), headers=support.headers)
    assert resp.status == 200


async def test_other_facilitys_admin_cannot_see_the_staff_tariff(
    app_client: Client, world: World, other_facility_admin: Actor
) -> None:
    resp = await app_client.get(staff_path(world.facility_id), headers=other_facility_admin.headers)
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")


async def test_family_and_anonymous_cannot_use_the_staff_tariff(
    app_client: Client, world: World, family: Actor
) -> None:
    resp = await app_client.get(staff_path(world.facility_id), headers=family.headers)
    assert resp.status == 403
    resp = await app_client.get(staff_path(world.facility_id))
    assert resp.status == 401


async def test_facility_admin_changes_the_tariff_and_families_see_it(
    app_client: Client, world: World, facility_admin: Actor, services: Services
) -> None:
    body = {**compliant_body(), "message_cents": 35, "reason": "FCC 2024 caps"}
    resp = await app_client.put(
        staff_path(world.facility_id), json=body, headers=facility_admin.headers
    )
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    assert data["warnings"] == []
    assert data["is_default"] is False
    assert data["updated_by_staff_id"] == facility_admin.id
    assert data["updated_at"] == "2026-11-18T15:00:00+00:00"

    public = await public_tariff(app_client, world.facility_id)
    assert public["tariff"]["message_cents"] == 35
    assert public["tariff"]["remote_visit_cents_per_minute"] == 16
    assert public["tariff"]["calling_deposit_fee_cents"]["operator"] == 0
    # What the deposit and messaging services read.
    assert (await tariff_of(services, facility_id=world.facility_id)).message_cents == 35
    # The other facility keeps its own (default) tariff.
    other = await public_tariff(app_client, world.other_facility_id)
    assert other["tariff"] == DEFAULT_TARIFF.public_json()


async def test_tariff_change_is_audited_with_before_and_after(
    app_client: Client, world: World, facility_admin: Actor, services: Services
) -> None:
    body = {**compliant_body(), "reason": "FCC 2024 caps"}
    resp = await app_client.put(
        staff_path(world.facility_id), json=body, headers=facility_admin.headers
    )
    assert resp.status == 200, await resp.text()

    [entry] = await audit_entries(services)
    assert entry.staff_id == facility_admin.id
    assert entry.facility_id == world.facility_id
    assert (entry.target_type, entry.target_id) == ("facility", world.facility_id)
    assert entry.reason == "FCC 2024 caps"
    assert entry.details["before"] == DEFAULT_TARIFF.to_json()
    assert entry.details["after"] == compliant_body()
    assert set(entry.details["changed"]) == {
        "remote_visit_cents_per_minute",
        "wallet_deposit_fee_cents",
        "calling_deposit_fee_cents",
    }

    # The same tariff again changes nothing and records nothing (a retried PUT).
    resp = await app_client.put(
        staff_path(world.facility_id), json=body, headers=facility_admin.headers
    )
    assert resp.status == 200
    assert len(await audit_entries(services)) == 1

    # A second change records the first one's result as its "before".
    again = {**compliant_body(), "photo_cents": 90}
    resp = await app_client.put(
        staff_path(world.facility_id), json=again, headers=facility_admin.headers
    )
    assert resp.status == 200
    second = (await audit_entries(services))[1]
    assert second.details["before"] == compliant_body()
    assert second.details["changed"] == ["photo_cents"]
    assert second.reason is None


async def test_reviewer_cannot_change_the_tariff(
    app_client: Client, world: World, reviewer: Actor, services: Services
) -> None:
    resp = await app_client.put(
        staff_path(world.facility_id), json=compliant_body(), headers=reviewer.headers
    )
    assert resp.status == 403
    assert_error(await resp.json(), "forbidden")
    assert await audit_entries(services) == []


async def test_support_staff_cannot_change_a_tariff(
    app_client: Client, world: World, support: Actor
) -> None:
    resp = await app_client.put(
        staff_path(world.facility_id), json=compliant_body(), headers=support.headers
    )
    assert resp.status == 403


async def test_other_facilitys_admin_cannot_change_the_tariff(
    app_client: Client, world: World, other_facility_admin: Actor, services: Services
) -> None:
    resp = await app_client.put(
        staff_path(world.facility_id), json=compliant_body(), headers=other_facility_admin.headers
    )
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")
    assert (await public_tariff(app_client, world.facility_id))["tariff"] == (
        DEFAULT_TARIFF.public_json()
    )
    assert await audit_entries(services) == []


async def test_family_cannot_change_a_tariff(
    app_client: Client, world: World, family: Actor
) -> None:
    resp = await app_client.put(
        staff_path(world.facility_id), json=compliant_body(), headers=family.headers
    )
    assert resp.status == 403


async def test_bad_tariff_is_refused_field_by_field_and_nothing_changes(
    app_client: Client, world: World, facility_admin: Actor, services: Services
) -> None:
    body = compliant_body()
    body["message_cents"] = -1
    body["size_class"] = "huge_jail"
    del body["calling_deposit_fee_cents"]["mail"]
    body["trust_deposit_fee_tiers"]["online"] = [
        {"up_to_cents": 5_000, "fee_cents": 100},
        {"up_to_cents": 4_000, "fee_cents": 200},
    ]
    resp = await app_client.put(
        staff_path(world.facility_id), json=body, headers=facility_admin.headers
    )
    assert resp.status == 422
    data = await resp.json()
    assert_error(data, "invalid_fields")
    assert set(data["error"]["fields"]) == {
        "message_cents",
        "size_class",
        "calling_deposit_fee_cents.mail",
        "trust_deposit_fee_tiers.online.1.up_to_cents",
    }
    assert (await public_tariff(app_client, world.facility_id))["tariff"] == (
        DEFAULT_TARIFF.public_json()
    )
    assert await audit_entries(services) == []


async def test_tariff_body_of_the_wrong_shape_is_refused(
    app_client: Client, world: World, facility_admin: Actor
) -> None:
    body = compliant_body()
    body["photo_cents"] = "100"
    body["message_cents"] = 0.5
    del body["size_class"]
    body["colour"] = "blue"
    resp = await app_client.put(
        staff_path(world.facility_id), json=body, headers=facility_admin.headers
    )
    assert resp.status == 422
    fields = (await resp.json())["error"]["fields"]
    assert fields == {
        "photo_cents": "Must be a whole number.",
        "message_cents": "Must be a whole number.",
        "size_class": "This field is required.",
        "colour": "Unknown field.",
    }


async def test_openapi_describes_the_tariff_routes(app_client: Client) -> None:
    doc = await (await app_client.get("/api/openapi.json")).json()
    assert "get" in doc["paths"]["/api/v1/facilities/{id}/tariff"]
    staff = doc["paths"]["/api/v1/staff/facilities/{id}/tariff"]
    assert set(staff) == {"get", "put"}
    assert "TariffBody" in doc["components"]["schemas"]
    assert "FeeTierBody" in doc["components"]["schemas"]
