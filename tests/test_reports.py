"""Message reports: per facility-local day, messages sent, held for review, approved and
rejected, and the median review time; only for the facility's own staff and support."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event

from moderation.services.reports import (
    Decision,
    SentCount,
    aggregate,
    check_range,
    day_windows,
    median_seconds,
)
from server.config import Config
from server.domain.ledger import family_wallet
from server.errors import FieldErrors
from server.services.context import Services
from tests.fakes import FrozenClock
from tests.story import (
    REVIEW_ALL,
    Actor,
    World,
    approved_contact,
    assert_error,
    delay,
    fund,
    funded_contact,
    mark_privileged,
    send,
    set_policy,
)

NY = "America/New_York"
_ids = itertools.count(1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- the pure part ------------------------------------------------------------------------


def test_a_day_is_the_facilitys_local_day_even_when_the_clocks_change() -> None:
    spring, autumn = date(2026, 3, 8), date(2026, 11, 1)  # New York's changes in 2026
    [day] = day_windows(spring, spring, NY)
    assert (day.start, day.end) == (at("2026-03-08T05:00:00"), at("2026-03-09T04:00:00"))
    [day] = day_windows(autumn, autumn, NY)
    assert day.end - day.start == timedelta(hours=25)
    week = day_windows(date(2026, 10, 29), date(2026, 11, 4), NY)
    assert [w.day.day for w in week] == [29, 30, 31, 1, 2, 3, 4]
    assert all(a.end == b.start for a, b in itertools.pairwise(week))


def test_decisions_count_on_the_day_they_were_taken_with_the_median_review_time() -> None:
    windows = day_windows(date(2026, 11, 18), date(2026, 11, 20), NY)
    sent_18 = at("2026-11-18T15:00:00")
    decisions = [
        Decision(sent_18, sent_18 + timedelta(seconds=600), rejected=False),
        Decision(sent_18, sent_18 + timedelta(seconds=1800), rejected=True),
        # Midnight in New York belongs to the new day.
        Decision(sent_18, at("2026-11-19T05:00:00"), rejected=False),
        Decision(sent_18, at("2026-11-19T04:59:59.999999"), rejected=True),
        Decision(sent_18, at("2026-11-21T05:00:00"), rejected=True),  # after the range
    ]
    lines = aggregate(windows, sent={date(2026, 11, 18): SentCount(5, 4)}, decisions=decisions)
    assert [(d.day.day, d.sent, d.held, d.approved, d.rejected) for d in lines] == [
        (18, 5, 4, 1, 2),
        (19, 0, 0, 1, 0),
        (20, 0, 0, 0, 0),
    ]
    assert lines[0].median_review_seconds == 1800  # of 600, 1800 and 50400
    assert lines[1].median_review_seconds == 50400
    assert lines[2].median_review_seconds is None


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    assert median_seconds([]) is None
    assert median_seconds([timedelta(seconds=s) for s in (60, 10, 30)]) == 30
    assert median_seconds([timedelta(seconds=s) for s in (10, 20, 40, 1000)]) == 30
    assert median_seconds([timedelta(seconds=1.4)]) == 1


def test_report_range_defaults_to_the_last_14_days_and_is_at_most_92() -> None:
    today = date(2026, 11, 18)
    assert check_range(None, None, today=today) == (date(2026, 11, 5), today)
    assert check_range(None, date(2026, 1, 14), today=today) == (
        date(2026, 1, 1),
        date(2026, 1, 14),
    )
    assert check_range(date(2026, 11, 1), None, today=today) == (date(2026, 11, 1), today)
    assert check_range(today, today, today=today) == (today, today)
    assert check_range(date(2026, 1, 1), date(2026, 4, 2), today=today)[1] == date(2026, 4, 2)
    with pytest.raises(FieldErrors) as too_long:
        check_range(date(2026, 1, 1), date(2026, 4, 3), today=today)
    assert "93" in too_long.value.fields["to"]
    with pytest.raises(FieldErrors) as reversed_:
        check_range(date(2026, 11, 19), today, today=today)
    assert "from" in reversed_.value.fields


# --- through the API ----------------------------------------------------------------------


@pytest.fixture
def config(config: Config) -> Config:
    """These stories span days: everyone stays signed in for them."""
    week = 7 * 24 * 3600
    return dataclasses.replace(config, session_idle_seconds=week, session_max_seconds=week)


async def report(
    client: TestClient[Any, Any], who: Actor, facility_id: int, query: str = ""
) -> tuple[int, dict[str, Any]]:
    resp = await client.get(
        f"/api/v1/staff/facilities/{facility_id}/reports/messages{query}", headers=who.headers
    )
    return resp.status, await resp.json()


async def send_ok(client: TestClient[Any, Any], who: Actor, contact_id: int) -> dict[str, Any]:
    status, sent = await send(client, who, contact_id, "Hello from home", f"rep-{next(_ids)}")
    assert status == 201, sent
    return sent


async def decide(
    client: TestClient[Any, Any], reviewer: Actor, message_id: int, verdict: str
) -> None:
    body = {"reason": "Mentions another resident"} if verdict == "reject" else None
    resp = await client.post(
        f"/api/v1/staff/review/{message_id}/{verdict}", json=body, headers=reviewer.headers
    )
    assert resp.status == 200, await resp.text()


async def test_report_counts_sent_held_and_decisions_per_facility_local_day(
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
    lawyer = await approved_contact(app_client, other_family, resident, world)
    await mark_privileged(services, lawyer)
    await fund(services, family_wallet(family.id), 1_000)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL)

    # Wednesday 18 November, 10:00 in New York.
    m1, m2, m3 = [await send_ok(app_client, family, contact_id) for _ in range(3)]
    assert {m["status"] for m in (m1, m2, m3)} == {"pending_review"}
    reply = await send_ok(app_client, resident, contact_id)  # outgoing: instant
    assert reply["status"] == "delivered"
    privileged = await send_ok(app_client, other_family, lawyer)  # never held, not counted
    assert privileged["status"] == "delivered"
    clock.advance(minutes=10)
    await decide(app_client, reviewer, m1["id"], "approve")  # 600 s
    clock.advance(minutes=20)
    await decide(app_client, reviewer, m2["id"], "reject")  # 1800 s
    # 23:30 in New York is still the 18th there, though the 19th in UTC.
    clock.advance(hours=13, minutes=0)  # 2026-11-19 04:30 UTC
    m4 = await send_ok(app_client, family, contact_id)
    # 00:30 on the 19th in New York.
    clock.advance(hours=1)
    await decide(app_client, reviewer, m3["id"], "approve")  # 14.5 hours after sending
    m5 = await send_ok(app_client, family, contact_id)  # held, still waiting
    # A delayed message has screening notes but was never held.
    await set_policy(app_client, facility_admin, world.facility_id, incoming=delay(15))
    delayed = await send_ok(app_client, family, contact_id)
    assert (m4["status"], m5["status"], delayed["status"]) == (
        "pending_review",
        "pending_review",
        "scheduled",
    )

    status, data = await report(
        app_client, reviewer, world.facility_id, "?from=2026-11-18&to=2026-11-20"
    )
    assert status == 200, data
    assert (data["facility_id"], data["timezone"]) == (world.facility_id, NY)
    assert (data["from"], data["to"]) == ("2026-11-18", "2026-11-20")
    assert data["days"] == [
        {
            "date": "2026-11-18",
            "sent": 5,  # m1-m4 and the reply
            "held": 4,
            "approved": 1,
            "rejected": 1,
            "median_review_seconds": 1200,
        },
        {
            "date": "2026-11-19",
            "sent": 2,
            "held": 1,
            "approved": 1,
            "rejected": 0,
            "median_review_seconds": 52200,
        },
        {
            "date": "2026-11-20",
            "sent": 0,
            "held": 0,
            "approved": 0,
            "rejected": 0,
            "median_review_seconds": None,
        },
    ]
    # By default the last 14 days, ending today in New York (the 19th); the same for the
    # admin and for support.
    for who in (facility_admin, support):
        status, recent = await report(app_client, who, world.facility_id)
        assert status == 200
        assert (recent["from"], recent["to"]) == ("2026-11-06", "2026-11-19")
        assert len(recent["days"]) == 14
        assert recent["days"][-2:] == data["days"][:2]
        assert {d["sent"] for d in recent["days"][:-2]} == {0}


async def test_a_rejection_overturned_on_appeal_still_counts_as_a_rejection(
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
    await set_policy(app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL)
    sent = await send_ok(app_client, family, contact_id)
    clock.advance(minutes=2)
    await decide(app_client, reviewer, sent["id"], "reject")
    resp = await app_client.post(
        f"/api/v1/messages/{sent['id']}/appeal",
        json={"text": "It was about his lawyer's visit"},
        headers=family.headers,
    )
    assert resp.status == 201, await resp.text()
    clock.advance(days=1)
    queue = await app_client.get("/api/v1/staff/appeals", headers=facility_admin.headers)
    [appeal] = (await queue.json())["items"]
    resp = await app_client.post(
        f"/api/v1/staff/appeals/{appeal['id']}/decide",
        json={"decision": "overturn", "reason": "Legitimate logistics"},
        headers=facility_admin.headers,
    )
    assert resp.status == 200, await resp.text()

    _, data = await report(app_client, reviewer, world.facility_id, "?from=2026-11-18")
    assert [
        (d["date"], d["sent"], d["held"], d["approved"], d["rejected"]) for d in data["days"]
    ] == [("2026-11-18", 1, 1, 0, 1), ("2026-11-19", 0, 0, 0, 0)]
    assert data["days"][0]["median_review_seconds"] == 120


async def test_messages_sent_while_a_contact_was_privileged_are_never_counted(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    privilege = f"/api/v1/staff/contacts/{contact_id}/privilege"
    resp = await app_client.post(
        privilege,
        json={"kind": "legal_counsel", "bar_number": "12345", "bar_state": "NY"},
        headers=facility_admin.headers,
    )
    assert resp.status == 200, await resp.text()
    await send_ok(app_client, family, contact_id)
    clock.advance(minutes=5)
    resp = await app_client.delete(
        privilege, json={"reason": "Counsel withdrew"}, headers=facility_admin.headers
    )
    assert resp.status == 200, await resp.text()
    _, data = await report(app_client, facility_admin, world.facility_id)
    assert data["days"][-1]["sent"] == 0  # the privileged one stays private
    clock.advance(minutes=5)
    await send_ok(app_client, family, contact_id)
    _, data = await report(app_client, facility_admin, world.facility_id)
    assert data["days"][-1]["sent"] == 1


async def test_staff_of_another_facility_get_404_and_see_nothing_of_it(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    other_facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=REVIEW_ALL)
    await send_ok(app_client, family, contact_id)

    status, data = await report(app_client, other_facility_admin, world.facility_id)
    assert status == 404
    assert_error(data, "not_found")
    status, data = await report(app_client, other_facility_admin, world.other_facility_id)
    assert status == 200
    assert data["timezone"] == "America/Los_Angeles"
    assert {(d["sent"], d["held"]) for d in data["days"]} == {(0, 0)}
    _, data = await report(app_client, support, world.facility_id)
    assert data["days"][-1]["sent"] == 1 and data["days"][-1]["held"] == 1
    # A facility that does not exist looks the same as another facility's.
    status, data = await report(app_client, support, 999_999)
    assert status == 404
    assert_error(data, "not_found")


async def test_families_and_residents_cannot_read_reports(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> None:
    for who in (family, resident):
        status, data = await report(app_client, who, world.facility_id)
        assert status == 403
        assert_error(data, "wrong_account_kind")
    resp = await app_client.get(f"/api/v1/staff/facilities/{world.facility_id}/reports/messages")
    assert resp.status == 401


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("?from=2026-11-19&to=2026-11-18", "from", "on or before the end date, 2026-11-18"),
        ("?from=2026-08-18&to=2026-11-18", "to", "at most 92 days; this range has 93"),
        ("?from=2026-12-01", "from", "on or before the end date, 2026-11-18"),
        ("?from=2026-13-01", "from", "real date"),
        ("?from=yesterday", "from", "2026-11-18"),
        ("?to=2026-11-18T00:00:00Z", "to", "2026-11-18"),
        ("?to=1999-12-31", "to", "between 2000 and 2999"),
    ],
)
async def test_a_bad_report_range_is_refused_with_a_clear_message(
    app_client: TestClient[Any, Any],
    facility_admin: Actor,
    world: World,
    query: str,
    field: str,
    says: str,
) -> None:
    status, data = await report(app_client, facility_admin, world.facility_id, query)
    assert status == 422, data
    assert says in data["error"]["fields"][field], data


async def test_a_92_day_report_is_the_longest_and_takes_two_queries_whatever_its_length(
    app_client: TestClient[Any, Any], services: Services, facility_admin: Actor, world: World
) -> None:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The report's reads (the delivery loop reads messages meanwhile, but not this way).
        if "FROM messages" in statement and "contacts.privileged" in statement:
            statements.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for query in ("?from=2026-11-18&to=2026-11-18", "?from=2026-08-19&to=2026-11-18"):
            statements.clear()
            status, data = await report(app_client, facility_admin, world.facility_id, query)
            assert status == 200, data
            assert len(statements) == 2, statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(data["days"]) == 92
    assert data["days"][0]["date"] == "2026-08-19" and data["days"][-1]["date"] == "2026-11-18"
