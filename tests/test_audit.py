"""The audit log: every staff action with who, when, what and why; search, filters and a CSV
export for facility admins (their facility) and support (every facility); append-only."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, insert, select

from server.domain.ledger import family_wallet
from server.services.context import Services
from server.storage.models import AuditEntry
from tests.fakes import FrozenClock
from tests.story import (
    INSTANT,
    REVIEW_ALL,
    START,
    Actor,
    World,
    approved_contact,
    assert_error,
    fund,
    send,
    set_policy,
)

AUDIT = "/api/v1/staff/audit"
CSV_COLUMNS = [
    "id",
    "at",
    "facility_id",
    "staff_id",
    "staff_name",
    "staff_role",
    "action",
    "target_type",
    "target_id",
    "reason",
    "details",
]
_ids = itertools.count(1)


async def entries(
    client: TestClient[Any, Any], who: Actor, query: str = ""
) -> list[dict[str, Any]]:
    resp = await client.get(f"{AUDIT}?limit=200{query}", headers=who.headers)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["entries"])


async def export(
    client: TestClient[Any, Any], who: Actor, query: str = ""
) -> tuple[list[dict[str, str]], dict[str, str]]:
    resp = await client.get(f"{AUDIT}?format=csv{query}", headers=who.headers)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/csv"
    text = await resp.text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]], dict(resp.headers)


async def post(
    client: TestClient[Any, Any], who: Actor, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    resp = await client.post(path, json=body, headers=who.headers)
    assert resp.status in (200, 201), await resp.text()
    return dict(await resp.json())


async def held(client: TestClient[Any, Any], family: Actor, contact_id: int) -> int:
    status, sent = await send(client, family, contact_id, "Held for review", f"a-{next(_ids)}")
    assert status == 201 and sent["status"] == "pending_review", sent
    return int(sent["id"])


def iso(clock: FrozenClock) -> str:
    return clock.now().isoformat()


# --- every staff action is recorded ---------------------------------------------------------


async def test_every_staff_action_is_in_the_log_with_who_when_what_and_why(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    other_contact = await approved_contact(app_client, other_family, resident, world)
    await fund(services, family_wallet(family.id), 500)
    expected: list[tuple[str, Actor, str | None, str | None, int | None, str]] = []

    clock.advance(minutes=1)
    resp = await app_client.put(
        f"/api/v1/staff/facilities/{world.facility_id}/policy",
        json={"incoming": REVIEW_ALL, "outgoing": INSTANT, "reason": "Lockdown on unit B"},
        headers=facility_admin.headers,
    )
    assert resp.status == 200, await resp.text()
    expected.append(
        (
            "policy.update",
            facility_admin,
            "Lockdown on unit B",
            "facility",
            world.facility_id,
            iso(clock),
        )
    )

    approved, rejected = (
        await held(app_client, family, contact_id),
        await held(app_client, family, contact_id),
    )
    clock.advance(minutes=1)
    await post(app_client, reviewer, f"/api/v1/staff/review/{approved}/approve")
    expected.append(("review.approve", reviewer, None, "message", approved, iso(clock)))
    clock.advance(minutes=1)
    await post(
        app_client,
        reviewer,
        f"/api/v1/staff/review/{rejected}/reject",
        {"reason": "Mentions another resident's case"},
    )
    expected.append(
        (
            "review.reject",
            reviewer,
            "Mentions another resident's case",
            "message",
            rejected,
            iso(clock),
        )
    )

    clock.advance(minutes=1)
    await post(
        app_client,
        facility_admin,
        f"/api/v1/contacts/{other_contact}/block",
        {"reason": "Threatened a witness"},
    )
    expected.append(
        (
            "contact.block",
            facility_admin,
            "Threatened a witness",
            "contact",
            other_contact,
            iso(clock),
        )
    )

    # Support refunds the approved message's charge, found on the family's statement.
    clock.advance(minutes=1)
    resp = await app_client.get(
        f"/api/v1/staff/accounts/{family.id}/statement", headers=support.headers
    )
    lines = (await resp.json())["lines"]
    charge = next(x for x in lines if x["kind"] == "charge" and x["refundable_cents"])
    refund = await post(
        app_client,
        support,
        "/api/v1/staff/refunds",
        {
            "family_account_id": family.id,
            "kind": "refund",
            "amount_cents": 50,
            "charge_id": charge["transaction_id"],
            "reason": "Delivered late during the outage",
            "client_id": "refund-1",
        },
    )
    expected.append(
        (
            "refund.issue",
            support,
            "Delivered late during the outage",
            None,
            refund["request_id"],
            iso(clock),
        )
    )

    clock.advance(minutes=1)
    await post(
        app_client,
        facility_admin,
        f"/api/v1/staff/contacts/{contact_id}/privilege",
        {
            "kind": "legal_counsel",
            "bar_number": "12345",
            "bar_state": "NY",
            "note": "Public defender, verified by phone",
        },
    )
    expected.append(
        (
            "contact.privilege",
            facility_admin,
            "Public defender, verified by phone",
            "contact",
            contact_id,
            iso(clock),
        )
    )
    clock.advance(minutes=1)
    resp = await app_client.delete(
        f"/api/v1/staff/contacts/{contact_id}/privilege",
        json={"reason": "Counsel withdrew from the case"},
        headers=facility_admin.headers,
    )
    assert resp.status == 200, await resp.text()
    expected.append(
        (
            "contact.privilege_revoke",
            facility_admin,
            "Counsel withdrew from the case",
            "contact",
            contact_id,
            iso(clock),
        )
    )

    log = await entries(app_client, support)
    for action, who, why, target_type, target_id, when in expected:
        [entry] = [e for e in log if e["action"] == action]
        assert entry["staff"]["id"] == who.id, action
        assert entry["staff"]["name"] == who.principal["display_name"], action
        assert entry["at"] == when, action
        assert entry["reason"] == why, action
        assert entry["target_id"] == target_id, action
        if target_type is not None:
            assert entry["target_type"] == target_type, action
        assert entry["facility_id"] == world.facility_id, action
    assert "Held for review" not in str(log)  # what, never message content
    logins = [e for e in log if e["action"] == "staff.login"]
    assert {e["staff"]["id"] for e in logins} == {reviewer.id, facility_admin.id, support.id}
    assert {e["at"] for e in logins} == {START.isoformat()}


# --- append-only ----------------------------------------------------------------------------


async def test_the_audit_log_has_no_route_that_changes_or_removes_an_entry(
    app_client: TestClient[Any, Any], services: Services, support: Actor
) -> None:
    paths = (await (await app_client.get("/api/openapi.json")).json())["paths"]
    audit_paths = {p: set(ops) for p, ops in paths.items() if p.startswith(AUDIT)}
    assert audit_paths == {AUDIT: {"get"}}
    before = await entries(app_client, support)
    assert before
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        for path in (AUDIT, f"{AUDIT}/{before[0]['id']}"):
            resp = await app_client.request(method, path, headers=support.headers)
            assert resp.status in (404, 405), (method, path)
    assert await entries(app_client, support) == before


# --- search and filters ---------------------------------------------------------------------


async def story(
    client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    admin: Actor,
    world: World,
) -> dict[str, int]:
    """A policy change, an approval and a rejection at the facility, a minute apart."""
    contact_id = await approved_contact(client, family, resident, world)
    await fund(services, family_wallet(family.id), 500)
    await set_policy(client, admin, world.facility_id, incoming=REVIEW_ALL)
    first, second = await held(client, family, contact_id), await held(client, family, contact_id)
    clock.advance(minutes=1)
    await post(client, reviewer, f"/api/v1/staff/review/{first}/approve")
    clock.advance(minutes=1)
    await post(
        client,
        reviewer,
        f"/api/v1/staff/review/{second}/reject",
        {"reason": "Mentions another resident's CASE"},
    )
    return {"approved": first, "rejected": second, "contact": contact_id}


async def test_search_finds_entries_by_reason_action_target_and_staff_name(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    ids = await story(
        app_client, services, clock, family, resident, reviewer, facility_admin, world
    )

    async def found(q: str) -> list[str]:
        return [e["action"] for e in await entries(app_client, facility_admin, f"&q={q}")]

    assert await found("resident%27s%20case") == ["review.reject"]
    assert await found("mentions") == ["review.reject"]  # case-insensitive
    assert await found("case%20reviewer") == ["review.reject"]  # every word, any field
    assert await found("case%20admin") == []
    assert await found("APPROVE") == ["review.approve"]
    assert await found(f"message:{ids['approved']}") == ["review.approve"]
    by_number = await entries(app_client, facility_admin, f"&q={ids['rejected']}")
    assert ids["rejected"] in {e["target_id"] for e in by_number}
    assert set(await found("reviewer")) == {"staff.login", "review.approve", "review.reject"}
    assert await found("policy") == ["policy.update"]
    assert await found("%20%20") == await found("")  # blank: no search
    everything = await entries(app_client, facility_admin)
    assert await found("") == [e["action"] for e in everything]

    # Combined with the other filters.
    by_reviewer = await entries(app_client, facility_admin, f"&staff_id={reviewer.id}")
    assert [e["action"] for e in by_reviewer] == ["review.reject", "review.approve", "staff.login"]
    assert await entries(
        app_client, facility_admin, f"&staff_id={reviewer.id}&q=approve&action=review.*"
    ) == [by_reviewer[1]]
    since = (clock.now() - timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    assert [
        e["action"] for e in await entries(app_client, facility_admin, f"&from={since}&q=review")
    ] == ["review.reject"]


async def test_like_wildcards_in_the_search_are_literal(
    app_client: TestClient[Any, Any],
    facility_admin: Actor,
    world: World,
) -> None:
    path = f"/api/v1/staff/facilities/{world.facility_id}/policy"
    for incoming, reason in (
        (REVIEW_ALL, "sure_thing: 100% of messages"),
        (INSTANT, "surexthing: 1000 messages"),
    ):
        resp = await app_client.put(
            path,
            json={"incoming": incoming, "outgoing": INSTANT, "reason": reason},
            headers=facility_admin.headers,
        )
        assert resp.status == 200, await resp.text()

    async def reasons(q: str) -> list[str | None]:
        return [e["reason"] for e in await entries(app_client, facility_admin, f"&q={q}")]

    literal = ["sure_thing: 100% of messages"]
    assert await reasons("sure_thing") == literal
    assert await reasons("100%25") == literal
    assert await reasons("%25") == literal
    assert await reasons("_") == literal
    assert await reasons("1%250") == []
    assert await reasons("%5C") == []  # a backslash is literal too
    assert len(await reasons("thing")) == 2


async def test_staff_of_another_facility_find_nothing_of_it(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    other_facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    await story(app_client, services, clock, family, resident, reviewer, facility_admin, world)
    assert await entries(app_client, other_facility_admin, "&q=case") == []
    assert await entries(app_client, other_facility_admin, f"&staff_id={reviewer.id}") == []
    theirs = await entries(app_client, other_facility_admin)
    assert {e["facility_id"] for e in theirs} == {world.other_facility_id}
    resp = await app_client.get(
        f"{AUDIT}?facility_id={world.facility_id}&q=case", headers=other_facility_admin.headers
    )
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")
    # Support sees every facility, and may narrow to one.
    assert [e["action"] for e in await entries(app_client, support, "&q=case")] == ["review.reject"]
    narrowed = await entries(app_client, support, f"&facility_id={world.other_facility_id}")
    assert narrowed == theirs


async def test_bad_audit_queries_are_refused_field_by_field(
    app_client: TestClient[Any, Any], facility_admin: Actor
) -> None:
    for query, field in (
        ("q=" + "x" * 101, "q"),
        ("staff_id=0", "staff_id"),
        ("staff_id=abc", "staff_id"),
        ("format=xml", "format"),
        ("limit=201", "limit"),
        ("q=a%00b", "q"),
    ):
        resp = await app_client.get(f"{AUDIT}?{query}", headers=facility_admin.headers)
        assert resp.status == 422, query
        assert field in (await resp.json())["error"]["fields"], query
    resp = await app_client.get(f"{AUDIT}?q={'x' * 100}", headers=facility_admin.headers)
    assert resp.status == 200


async def test_reviewers_families_and_residents_cannot_read_or_export_the_log(
    app_client: TestClient[Any, Any], reviewer: Actor, family: Actor, resident: Actor
) -> None:
    for who, code in ((reviewer, "forbidden"), (family, "wrong_account_kind")):
        for query in ("", "?format=csv", "?q=login"):
            resp = await app_client.get(f"{AUDIT}{query}", headers=who.headers)
            assert resp.status == 403, query
            assert_error(await resp.json(), code)
    resp = await app_client.get(f"{AUDIT}?format=csv", headers=resident.headers)
    assert resp.status == 403
    assert (await app_client.get(f"{AUDIT}?format=csv")).status == 401


# --- the CSV export -------------------------------------------------------------------------


async def test_a_facility_admin_exports_only_their_facilitys_entries(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    other_facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    ids = await story(
        app_client, services, clock, family, resident, reviewer, facility_admin, world
    )
    listed = await entries(app_client, facility_admin)
    rows, headers = await export(app_client, facility_admin)
    assert headers["X-Truncated"] == "false" and "X-Next-Before" not in headers
    assert headers["Content-Disposition"].startswith("attachment; filename=")
    assert {r["facility_id"] for r in rows} == {str(world.facility_id)}
    assert [int(r["id"]) for r in rows] == [e["id"] for e in listed]
    [rejection] = [r for r in rows if r["action"] == "review.reject"]
    assert rejection["reason"] == "Mentions another resident's CASE"
    assert rejection["staff_name"] == "Reviewer" and rejection["staff_role"] == "reviewer"
    assert rejection["target_type"] == "message"
    assert rejection["target_id"] == str(ids["rejected"])
    assert rejection["at"] == "2026-11-18T15:02:00.000000Z"
    assert '"contact_id":' in rejection["details"]

    # Filters apply to the export; the other facility's admin exports none of this.
    rows, _ = await export(app_client, facility_admin, "&q=case")
    assert [r["action"] for r in rows] == ["review.reject"]
    assert rows[0]["target_id"] == str(ids["rejected"])
    theirs, _ = await export(app_client, other_facility_admin)
    assert {r["facility_id"] for r in theirs} == {str(world.other_facility_id)}
    assert not any("CASE" in r["reason"] for r in theirs)
    resp = await app_client.get(
        f"{AUDIT}?format=csv&facility_id={world.facility_id}",
        headers=other_facility_admin.headers,
    )
    assert resp.status == 404

    # Support: every facility and the house's own entries, or one facility.
    everything, _ = await export(app_client, support)
    assert {r["facility_id"] for r in everything} >= {
        str(world.facility_id),
        str(world.other_facility_id),
        "",
    }
    one, _ = await export(app_client, support, f"&facility_id={world.other_facility_id}")
    assert {r["facility_id"] for r in one} == {str(world.other_facility_id)}

    # Each export is itself recorded, with its filters.
    exports = await entries(app_client, facility_admin, "&action=audit.export")
    assert [e["staff"]["id"] for e in exports] == [facility_admin.id, facility_admin.id]
    assert exports[0]["details"]["filters"] == {"q": "case"}
    assert exports[0]["details"]["rows"] == 1


async def test_a_spreadsheet_formula_in_a_reason_is_exported_as_text(
    app_client: TestClient[Any, Any], facility_admin: Actor, world: World
) -> None:
    resp = await app_client.put(
        f"/api/v1/staff/facilities/{world.facility_id}/policy",
        json={"incoming": REVIEW_ALL, "outgoing": INSTANT, "reason": '=HYPERLINK("x","y")'},
        headers=facility_admin.headers,
    )
    assert resp.status == 200
    rows, _ = await export(app_client, facility_admin, "&action=policy.update")
    assert rows[0]["reason"] == '\'=HYPERLINK("x","y")'


async def test_an_export_holds_at_most_10000_entries_and_says_where_the_rest_start(
    app_client: TestClient[Any, Any],
    services: Services,
    facility_admin: Actor,
    world: World,
) -> None:
    # Ten thousand and one earlier actions, written straight into the log.
    async with services.db.transaction() as tx:
        await tx.execute(
            insert(AuditEntry),
            [
                {
                    "at": START - timedelta(minutes=n),
                    "facility_id": world.facility_id,
                    "staff_id": facility_admin.id,
                    "action": "messages.view",
                    "target_type": "contact",
                    "target_id": 1,
                    "reason": None,
                    "details": {"n": n},
                }
                for n in range(10_001)
            ],
        )
    rows, headers = await export(app_client, facility_admin, "&action=messages.view")
    assert len(rows) == 10_000
    assert headers["X-Truncated"] == "true"
    assert headers["X-Next-Before"] == rows[-1]["id"]
    rest, headers = await export(
        app_client, facility_admin, f"&action=messages.view&before={headers['X-Next-Before']}"
    )
    assert len(rest) == 1 and headers["X-Truncated"] == "false"
    recorded = await entries(app_client, facility_admin, "&action=audit.export")
    assert [e["details"]["truncated"] for e in recorded] == [False, True]
    assert recorded[1]["details"]["rows"] == 10_000
    async with services.db.read() as tx:
        exports = await tx.scalar(select(func.count()).where(AuditEntry.action == "audit.export"))
    assert exports == 2
