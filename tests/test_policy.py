"""The facility policy through the console's API: the whole document (rules, restrictions,
rejection reasons, visiting hours, time zone), who may change it, every limit and bad field,
and what it does to the next message sent."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from moderation.domain.policy import MAX_NOTE_CHARS, MAX_RULES
from server.domain.ledger import family_wallet, resident_wallet
from server.services.context import Services
from tests.story import (
    Actor,
    World,
    approved_contact,
    assert_error,
    audit,
    balance,
    document,
    fund,
    funded_contact,
    history,
    mark_privileged,
    path_of,
    queue,
    send,
)

FLAGGED = {"mode": "review_flagged", "delay_minutes": 0}


async def put(
    client: TestClient[Any, Any], who: Actor, world: World, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    resp = await client.put(path_of(world), json=body, headers=who.headers)
    return resp.status, dict(await resp.json())


async def get(client: TestClient[Any, Any], who: Actor, world: World) -> dict[str, Any]:
    resp = await client.get(path_of(world), headers=who.headers)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def set_rules(
    client: TestClient[Any, Any], admin: Actor, world: World, *rules: dict[str, Any], **more: Any
) -> None:
    status, body = await put(
        client, admin, world, document(incoming=FLAGGED, rules=list(rules), **more)
    )
    assert status == 200, body


FULL = {
    "incoming": FLAGGED,
    "outgoing": {"mode": "delay", "delay_minutes": 30},
    "photos": {"mode": "review_all", "delay_minutes": 0},
    "rules": [
        {"kind": "word", "pattern": "knife", "note": "weapons"},
        {"kind": "phrase", "pattern": "meet me at", "note": ""},
        {"kind": "regex", "pattern": r"\d{3}-\d{4}", "note": "phone numbers"},
    ],
    "rejection_reasons": ["Threatens safety", "Mentions another resident's case"],
    "visiting_hours": {
        "mon": [["09:00", "12:00"], ["13:00", "17:00"]],
        "tue": [],
        "wed": [["09:00", "17:00"]],
        "thu": [],
        "fri": [],
        "sat": [["08:00", "20:00"]],
        "sun": [],
    },
    "timezone": "America/Chicago",
}


async def test_the_whole_policy_is_kept_with_its_history_and_audited(
    app_client: TestClient[Any, Any], facility_admin: Actor, reviewer: Actor, world: World
) -> None:
    first = await get(app_client, reviewer, world)
    assert first["policy"]["timezone"] == "America/New_York", "the facility's own zone"
    assert len(first["policy"]["rejection_reasons"]) == 5
    assert first["tariff_url"] == f"/api/v1/staff/facilities/{world.facility_id}/tariff"

    marcus = world.residents["A1001"]
    restriction = {"resident_id": marcus, "kind": "review_all", "until": "2026-12-01"}
    sent = {**FULL, "restrictions": [{**restriction, "reason": "Pending hearing"}]}
    status, changed = await put(app_client, facility_admin, world, {**sent, "reason": "Audit"})
    assert status == 200, changed
    assert changed["policy"] == sent
    assert changed["version"] == 1
    shown = await get(app_client, reviewer, world)
    assert shown["policy"] == sent
    assert shown["history"][0]["policy"] == sent and shown["history"][0]["reason"] == "Audit"
    [entry] = await audit(app_client, facility_admin, "policy.update")
    assert entry["details"]["before"] == first["policy"]
    assert entry["details"]["after"] == sent

    tariff = await app_client.get(shown["tariff_url"], headers=facility_admin.headers)
    assert tariff.status == 200, await tariff.text()
    assert (await tariff.json())["facility"]["timezone"] == "America/Chicago"


async def test_a_policy_without_a_timezone_keeps_the_facilitys(
    app_client: TestClient[Any, Any], facility_admin: Actor, world: World
) -> None:
    status, body = await put(app_client, facility_admin, world, document(timezone="Europe/Paris"))
    assert status == 200, body
    status, body = await put(app_client, facility_admin, world, document(incoming=FLAGGED))
    assert status == 200, body
    assert body["policy"]["timezone"] == "Europe/Paris"
    assert body["version"] == 2


async def test_only_the_facilitys_admins_change_its_policy(
    app_client: TestClient[Any, Any],
    facility_admin: Actor,
    reviewer: Actor,
    other_facility_admin: Actor,
    support: Actor,
    family: Actor,
    world: World,
) -> None:
    for who, status, code in (
        (reviewer, 403, "forbidden"),
        (support, 403, "forbidden"),
        (family, 403, None),
        (other_facility_admin, 404, "not_found"),
    ):
        got, body = await put(app_client, who, world, FULL)
        assert got == status, (who.principal, body)
        assert_error(body, code)
    assert (await get(app_client, facility_admin, world))["version"] == 0
    seen = await app_client.get(path_of(world), headers=other_facility_admin.headers)
    assert seen.status == 404


async def test_each_bad_field_is_refused_by_name_and_changes_nothing(
    app_client: TestClient[Any, Any], facility_admin: Actor, world: World
) -> None:
    other_facilitys_resident = world.residents["Z9001"]
    for body, field in (
        (document(incoming=FLAGGED, rules=[{"kind": "emoji", "pattern": "x"}]), "rules.0.kind"),
        (document(rules=[{"kind": "word", "pattern": ""}]), "rules.0.pattern"),
        (document(rules=[{"kind": "word", "pattern": "x" * 201}]), "rules.0.pattern"),
        (document(rules=[{"kind": "word", "pattern": "two words"}]), "rules.0.pattern"),
        (document(rules=[{"kind": "regex", "pattern": ".*"}]), "rules.0.pattern"),
        (document(rules=[{"kind": "word", "pattern": "x", "note": "n" * 501}]), "rules.0.note"),
        (document(rules=[{"kind": "word"}]), "rules.0.pattern"),
        (document(photos={"mode": "sometimes"}), "photos.mode"),
        (
            document(
                restrictions=[{"resident_id": other_facilitys_resident, "kind": "review_all"}]
            ),
            "restrictions.0.resident_id",
        ),
        (
            document(restrictions=[{"resident_id": 1, "kind": "review_all", "until": "soon"}]),
            "restrictions.0.until",
        ),
        (document(restrictions=[{"resident_id": 1, "kind": "silence"}]), "restrictions.0.kind"),
        (document(rejection_reasons=["Spam", "SPAM"]), "rejection_reasons.1"),
        (document(rejection_reasons=["r" * 201]), "rejection_reasons.0"),
        (document(rejection_reasons=[f"r{n}" for n in range(51)]), "rejection_reasons"),
        (document(visiting_hours={"mon": [["09:00", "25:00"]]}), "visiting_hours.mon.0"),
        (document(visiting_hours={"mon": [["09:00"]]}), "visiting_hours.mon.0"),
        (document(visiting_hours={"funday": []}), "visiting_hours.funday"),
        (document(timezone="Atlantis/Capital"), "timezone"),
        (document(timezone="x" * 65), "timezone"),
        (document(colour="blue"), "colour"),
    ):
        status, answer = await put(app_client, facility_admin, world, body)
        assert status == 422, (field, answer)
        assert_error(answer, "invalid_fields")
        assert field in answer["error"]["fields"], (field, answer)
    current = await get(app_client, facility_admin, world)
    assert current["version"] == 0
    assert current["policy"]["timezone"] == "America/New_York"


async def test_invalid_regex_syntax_is_refused_with_its_error(
    app_client: TestClient[Any, Any], facility_admin: Actor, world: World
) -> None:
    status, body = await put(
        app_client, facility_admin, world, document(rules=[{"kind": "regex", "pattern": "(a|b"}])
    )
    assert status == 422
    message = body["error"]["fields"]["rules.0.pattern"]
    assert message.startswith("Not a valid regular expression: missing )"), message


async def test_oversized_rule_list_is_refused(
    app_client: TestClient[Any, Any], facility_admin: Actor, world: World
) -> None:
    rules = [{"kind": "word", "pattern": f"w{n}"} for n in range(MAX_RULES + 1)]
    status, body = await put(app_client, facility_admin, world, document(rules=rules))
    assert status == 422
    assert body["error"]["fields"] == {"rules": "At most 200 rules; this list has 201."}
    assert (await get(app_client, facility_admin, world))["version"] == 0


async def test_the_longest_rule_list_with_the_longest_notes_is_accepted(
    app_client: TestClient[Any, Any], facility_admin: Actor, world: World
) -> None:
    # Larger than the API's usual 64 KiB body: the policy has a limit of its own.
    rules = [
        {"kind": "phrase", "pattern": f"p{n:03d} " + "é" * 195, "note": "ñ" * MAX_NOTE_CHARS}
        for n in range(MAX_RULES)
    ]
    status, body = await put(app_client, facility_admin, world, document(rules=rules))
    assert status == 200, body
    assert len(body["policy"]["rules"]) == MAX_RULES


async def test_regex_that_would_take_too_long_is_refused_when_saved(
    app_client: TestClient[Any, Any], facility_admin: Actor, world: World
) -> None:
    rules = [{"kind": "regex", "pattern": "b.*d"}, {"kind": "regex", "pattern": r"(\w+\s?)+$"}]
    status, body = await put(app_client, facility_admin, world, document(rules=rules))
    assert status == 422, body
    assert list(body["error"]["fields"]) == ["rules.1.pattern"]
    assert body["error"]["fields"]["rules.1.pattern"].startswith(
        "This pattern takes too long to check"
    )
    assert (await get(app_client, facility_admin, world))["version"] == 0


# --- what the policy does to messages -----------------------------------------------------


async def test_review_flagged_holds_only_matching_messages_and_the_queue_names_the_rule(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_rules(app_client, facility_admin, world, {"kind": "word", "pattern": "knife"})

    status, plain = await send(app_client, family, contact_id, "See you at the visit", "f-1")
    assert status == 201 and plain["status"] == "delivered", plain
    status, penknife = await send(app_client, family, contact_id, "Lost my penknife", "f-2")
    assert penknife["status"] == "delivered", "a word rule matches whole words only"
    status, flagged = await send(app_client, family, contact_id, "Bring the KNIFE", "f-3")
    assert status == 201 and flagged["status"] == "pending_review", flagged
    [item] = await queue(app_client, reviewer)
    assert item["id"] == flagged["id"]
    assert item["matched"] == ['word "knife"']
    # The resident's replies follow the outgoing rule (instant): not screened by the words.
    await fund(services, resident_wallet(resident.id), 100)
    status, reply = await send(app_client, resident, contact_id, "No knife here", "r-1")
    assert reply["status"] == "delivered"


async def test_a_rule_change_applies_to_the_next_message(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_rules(app_client, facility_admin, world)
    assert (await send(app_client, family, contact_id, "cash app me", "c-1"))[1]["status"] == (
        "delivered"
    )
    await set_rules(app_client, facility_admin, world, {"kind": "regex", "pattern": "cash ?app"})
    assert (await send(app_client, family, contact_id, "CashApp me", "c-2"))[1]["status"] == (
        "pending_review"
    )
    await set_rules(app_client, facility_admin, world)
    assert (await send(app_client, family, contact_id, "cash app me", "c-3"))[1]["status"] == (
        "delivered"
    )


async def test_a_message_a_pattern_cannot_check_in_time_is_held_for_review(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    # Quick on ordinary text, so it is accepted; quadratic on a long run of one letter.
    await set_rules(app_client, facility_admin, world, {"kind": "regex", "pattern": "b.*d"})
    status, sent = await send(app_client, family, contact_id, "b" * 30_000, "t-1")
    assert status == 201 and sent["status"] == "pending_review", sent
    [item] = await queue(app_client, reviewer)
    assert item["matched"] == ["regex /b.*d/ (timed out)"]


async def test_restriction_no_messaging_refuses_sends_and_charges_nothing(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await fund(services, resident_wallet(resident.id), 500)
    restriction = {"resident_id": resident.id, "kind": "no_messaging", "until": "2026-12-01"}
    status, body = await put(
        app_client, facility_admin, world, document(restrictions=[restriction])
    )
    assert status == 200, body

    status, refused = await send(app_client, family, contact_id, "Hello", "n-1")
    assert status == 403
    assert_error(refused, "messaging_restricted")
    assert "December 1, 2026" in refused["error"]["message"]
    status, refused = await send(app_client, resident, contact_id, "Hello", "n-2")
    assert status == 403
    assert_error(refused, "messaging_restricted")
    assert "your messaging" in refused["error"]["message"]
    assert await balance(services, family_wallet(family.id)) == 500
    assert await balance(services, resident_wallet(resident.id)) == 500
    assert (await history(app_client, family, contact_id))[1]["messages"] == []

    # Lifted: the next message goes through.
    assert (await put(app_client, facility_admin, world, document()))[0] == 200
    status, sent = await send(app_client, family, contact_id, "Hello", "n-3")
    assert status == 201 and sent["status"] == "delivered", sent


async def test_restriction_review_all_holds_that_residents_messages(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    restriction = {"resident_id": resident.id, "kind": "review_all", "until": None}
    status, body = await put(
        app_client, facility_admin, world, document(restrictions=[restriction])
    )
    assert status == 200, body
    status, sent = await send(app_client, family, contact_id, "Hello", "h-1")
    assert sent["status"] == "pending_review", sent
    [item] = await queue(app_client, reviewer)
    assert item["matched"] == ["restriction: review all"]


async def test_privileged_contacts_stay_reachable_under_every_rule_and_restriction(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await mark_privileged(services, contact_id)
    restriction = {"resident_id": resident.id, "kind": "no_messaging", "until": None}
    await set_rules(
        app_client,
        facility_admin,
        world,
        {"kind": "word", "pattern": "hearing"},
        restrictions=[restriction],
    )
    status, sent = await send(app_client, family, contact_id, "About your hearing", "l-1")
    assert status == 201 and sent["status"] == "delivered", sent
    status, reply = await send(app_client, resident, contact_id, "Thank you", "l-2")
    assert status == 201 and reply["status"] == "delivered", reply
    assert await queue(app_client, reviewer) == []
