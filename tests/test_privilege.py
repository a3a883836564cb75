"""Privileged contacts: a facility admin marks legal counsel or an abuse line after recording
credentials; its messages are then free, never held and never shown to staff; staff see that
it is privileged and the credentials; the audit log has the marking, never what was said."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.domain.ledger import family_wallet
from server.services.context import Services
from server.storage.case_models import sent_while_privileged
from server.storage.message_models import Message
from tests.fakes import FrozenClock
from tests.story import (
    REVIEW_ALL,
    Actor,
    World,
    approved_contact,
    assert_error,
    audit,
    balance,
    events,
    funded_contact,
    send,
    set_policy,
)

COUNSEL = {"kind": "legal_counsel", "bar_number": "4512890", "bar_state": "ny"}
HOTLINE = {"kind": "abuse_line", "organisation": "Safe Horizon", "note": "State PREA line"}


async def mark(
    client: TestClient[Any, Any], who: Actor, contact_id: int, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        f"/api/v1/staff/contacts/{contact_id}/privilege", json=body, headers=who.headers
    )
    return resp.status, await resp.json()


async def revoke(
    client: TestClient[Any, Any], who: Actor, contact_id: int, reason: str = "No longer counsel"
) -> tuple[int, dict[str, Any]]:
    resp = await client.delete(
        f"/api/v1/staff/contacts/{contact_id}/privilege",
        json={"reason": reason},
        headers=who.headers,
    )
    return resp.status, await resp.json()


async def contact_as(client: TestClient[Any, Any], who: Actor, contact_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/contacts/{contact_id}", headers=who.headers)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def test_a_facility_admin_marks_legal_counsel_privileged_with_bar_credentials(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    status, marked = await mark(app_client, facility_admin, contact_id, COUNSEL)
    assert status == 200, marked
    assert marked["privileged"] is True
    privilege = marked["privilege"]
    assert privilege["kind"] == "legal_counsel"
    assert (privilege["bar_number"], privilege["bar_state"]) == ("4512890", "NY")
    assert privilege["summary"] == "Legal counsel, bar number 4512890 (NY)"
    assert privilege["granted_by"] == "Admin"

    # Every staff member of the facility sees it, in the listing too; the parties see only
    # that the contact is privileged.
    seen = await contact_as(app_client, reviewer, contact_id)
    assert seen["privileged"] is True and seen["privilege"]["summary"] == privilege["summary"]
    resp = await app_client.get("/api/v1/contacts", headers=reviewer.headers)
    [listed] = (await resp.json())["contacts"]
    assert listed["privilege"]["bar_state"] == "NY"
    for party in (family, resident):
        theirs = await contact_as(app_client, party, contact_id)
        assert theirs["privileged"] is True and "privilege" not in theirs
        updates = [e["data"] for e in await events(app_client, party)]
        assert updates[-1]["id"] == contact_id and updates[-1]["privileged"] is True


async def test_an_abuse_line_is_marked_with_its_organisation(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    status, marked = await mark(app_client, facility_admin, contact_id, HOTLINE)
    assert status == 200, marked
    assert marked["privilege"]["summary"] == "Abuse reporting line: Safe Horizon"
    assert marked["privilege"]["note"] == "State PREA line"
    assert marked["privilege"]["bar_number"] is None


async def test_messages_on_a_contact_marked_privileged_are_free_never_held_and_hidden_from_staff(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_policy(
        app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL, outgoing=REVIEW_ALL
    )
    assert (await mark(app_client, facility_admin, contact_id, COUNSEL))[0] == 200
    status, sent = await send(app_client, family, contact_id, "Privileged and confidential", "p-1")
    assert status == 201, sent
    assert sent["status"] == "delivered" and sent["price_cents"] == 0 and sent["paid_by"] is None
    assert await balance(services, family_wallet(family.id)) == 500
    queue = await (await app_client.get("/api/v1/staff/review", headers=reviewer.headers)).json()
    assert queue["items"] == []
    for who in (reviewer, facility_admin):
        resp = await app_client.get(
            f"/api/v1/staff/messages?contact_id={contact_id}", headers=who.headers
        )
        assert resp.status == 403
        assert_error(await resp.json(), "privileged_contact")
        assert "Privileged and confidential" not in await resp.text()


async def test_reviewers_cannot_mark_privileged(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    support: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    for who in (reviewer, support, family):
        status, data = await mark(app_client, who, contact_id, COUNSEL)
        assert status == 403, data
        assert_error(data)
    assert (await contact_as(app_client, facility_admin, contact_id))["privileged"] is False
    assert (await mark(app_client, facility_admin, contact_id, COUNSEL))[0] == 200
    assert (await revoke(app_client, reviewer, contact_id))[0] == 403
    assert (await contact_as(app_client, facility_admin, contact_id))["privileged"] is True


async def test_staff_of_another_facility_get_404_for_its_privileged_contacts(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    other_facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    status, data = await mark(app_client, other_facility_admin, contact_id, COUNSEL)
    assert status == 404
    assert_error(data, "not_found")
    assert (await mark(app_client, facility_admin, contact_id, COUNSEL))[0] == 200
    status, data = await revoke(app_client, other_facility_admin, contact_id)
    assert status == 404
    assert_error(data, "not_found")
    assert (await mark(app_client, facility_admin, 987654, COUNSEL))[0] == 404
    assert (await contact_as(app_client, facility_admin, contact_id))["privileged"] is True


async def test_the_audit_log_records_the_privilege_marking_but_not_message_content(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await send(app_client, family, contact_id, "The plea offer expires Friday", "a-1")
    assert (await mark(app_client, facility_admin, contact_id, COUNSEL))[0] == 200
    await send(app_client, family, contact_id, "Do not discuss the case by phone", "a-2")
    assert (await revoke(app_client, facility_admin, contact_id, "Bar membership lapsed"))[0] == 200

    [marked] = await audit(app_client, facility_admin, "contact.privilege")
    assert marked["staff"]["name"] == "Admin"
    assert (marked["target_type"], marked["target_id"]) == ("contact", contact_id)
    assert marked["details"]["kind"] == "legal_counsel"
    assert (marked["details"]["bar_number"], marked["details"]["bar_state"]) == ("4512890", "NY")
    [revoked] = await audit(app_client, facility_admin, "contact.privilege_revoke")
    assert revoked["reason"] == "Bar membership lapsed"
    assert revoked["details"]["revoked"]["bar_number"] == "4512890"
    resp = await app_client.get("/api/v1/staff/audit", headers=facility_admin.headers)
    text = await resp.text()
    assert "plea offer" not in text and "by phone" not in text


async def test_credentials_are_checked_field_by_field(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"kind": "legal_counsel"}, {"bar_number", "bar_state"}),
        ({**COUNSEL, "bar_state": "NYC"}, {"bar_state"}),
        ({**COUNSEL, "bar_number": "x" * 41}, {"bar_number"}),
        ({**COUNSEL, "bar_number": "12#34"}, {"bar_number"}),
        ({**COUNSEL, "organisation": "Legal Aid"}, {"organisation"}),
        ({"kind": "abuse_line"}, {"organisation"}),
        ({"kind": "abuse_line", "organisation": "   "}, {"organisation"}),
        ({**HOTLINE, "organisation": "x" * 201}, {"organisation"}),
        ({**HOTLINE, "bar_number": "1"}, {"bar_number"}),
        ({**HOTLINE, "note": "x" * 501}, {"note"}),
        ({"kind": "chaplain"}, {"kind"}),
    ]
    for body, fields in cases:
        status, data = await mark(app_client, facility_admin, contact_id, body)
        assert status == 422, (body, data)
        assert set(data["error"]["fields"]) == fields, (body, data)
    assert (await contact_as(app_client, facility_admin, contact_id))["privileged"] is False
    at_limits = {**HOTLINE, "organisation": "x" * 200, "note": "n" * 500}
    assert (await mark(app_client, facility_admin, contact_id, at_limits))[0] == 200
    at_limits = {**COUNSEL, "bar_number": "9" * 40}
    status, marked = await mark(app_client, facility_admin, contact_id, at_limits)
    assert status == 200 and marked["privilege"]["kind"] == "legal_counsel", "replaced"


async def test_revoking_makes_the_contacts_messages_priced_and_screened_again(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL)
    assert (await mark(app_client, facility_admin, contact_id, COUNSEL))[0] == 200
    for reason in ("", "x" * 501):
        assert (await revoke(app_client, facility_admin, contact_id, reason))[0] == 422
    status, revoked = await revoke(app_client, facility_admin, contact_id, "x" * 500)
    assert status == 200 and revoked["privileged"] is False and revoked["privilege"] is None
    status, sent = await send(app_client, family, contact_id, "Hello again", "r-1")
    assert status == 201 and sent["status"] == "pending_review" and sent["price_cents"] == 50
    status, data = await revoke(app_client, facility_admin, contact_id)
    assert status == 409
    assert_error(data, "not_privileged")


async def test_messages_sent_while_a_contact_was_privileged_stay_known_after_revocation(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    # What staff views use to keep counsel's messages out even once the privilege is gone.
    contact_id = await funded_contact(app_client, services, family, resident, world)
    _, before = await send(app_client, family, contact_id, "before", "w-1")
    clock.advance(minutes=1)
    await mark(app_client, facility_admin, contact_id, COUNSEL)
    _, during = await send(app_client, family, contact_id, "during", "w-2")
    clock.advance(minutes=1)
    await revoke(app_client, facility_admin, contact_id)
    _, after = await send(app_client, family, contact_id, "after", "w-3")
    async with services.db.read() as tx:
        hidden = list(await tx.scalars(select(Message.id).where(sent_while_privileged())))
    assert hidden == [during["id"]]
    assert before["id"] not in hidden and after["id"] not in hidden
