"""Customer care: staff find a family account, refund a charge or credit the wallet with a
reason, a second staff member approves above the facility's limit, every step is audited, and
staff of another facility see nothing of it."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from server.domain.ledger import SystemCode, TransactionKind, family_wallet
from server.services import ledger
from server.services.context import Services, StaffRole
from server.services.roster import do_add_staff
from server.storage.models import AuditEntry, LedgerTransaction, RefundRequest
from tests.story import PASSWORD, Actor, World, assert_error, call, staff_sign_in

LIMIT = 2_500  # the default tariff's refund_approval_threshold_cents
_keys = itertools.count(1)


def key() -> str:
    return f"care-{next(_keys)}"


# --- setting the scene: money through the ledger itself ----------------------------------


async def fund(services: Services, family: Actor, cents: int = 5_000) -> None:
    await ledger.do_deposit(
        services,
        target=family_wallet(family.id),
        amount_cents=cents,
        fee_cents=150,
        idem=ledger.Idempotency("test", key(), {"cents": cents}),
        facility_id=None,
        reference="sbx_test",
        details={"channel": "online"},
    )


async def charge(
    services: Services, family: Actor, facility_id: int, cents: int = 50, memo: str = "Message"
) -> int:
    receipt = await ledger.do_charge(
        services,
        payers=[family_wallet(family.id)],
        amount_cents=cents,
        revenue=SystemCode.MESSAGE_REVENUE,
        idem=ledger.Idempotency("test", key(), {"cents": cents}),
        facility_id=facility_id,
        memo=memo,
    )
    return receipt.transaction_id


async def wallet_cents(services: Services, family: Actor) -> int:
    for b in await ledger.balances(services, family_account_id=family.id):
        if b.owner_key == family_wallet(family.id).owner_key:
            return b.balance_cents
    return 0


async def connect(client: TestClient[Any, Any], family: Actor, resident_id: int) -> None:
    """A contact makes the family visible to that facility's staff."""
    resp = await client.post(
        "/api/v1/contacts", json={"resident_id": resident_id}, headers=family.headers
    )
    assert resp.status == 201, await resp.text()


async def issue(
    client: TestClient[Any, Any],
    staff: Actor,
    family: Actor,
    *,
    amount: Any,
    charge_id: int | None = None,
    kind: str = "refund",
    reason: str = "Message was not delivered",
    client_id: str | None = None,
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {
        "family_account_id": family.id,
        "kind": kind,
        "amount_cents": amount,
        "reason": reason,
        "client_id": client_id or key(),
    }
    if charge_id is not None:
        body["charge_id"] = charge_id
    return await call(client, "POST", "/api/v1/staff/refunds", staff, body)


async def audit(services: Services, action: str) -> list[AuditEntry]:
    async with services.db.read() as tx:
        return list(
            (
                await tx.scalars(
                    select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
                )
            ).all()
        )


async def refunds_of(services: Services, charge_id: int) -> int:
    async with services.db.read() as tx:
        return int(
            await tx.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(
                    LedgerTransaction.kind == TransactionKind.REFUND.value,
                    LedgerTransaction.corrects_id == charge_id,
                )
            )
            or 0
        )


async def staff_member(
    client: TestClient[Any, Any], services: Services, username: str, facility_id: int | None
) -> Actor:
    role = StaffRole.SUPPORT if facility_id is None else StaffRole.FACILITY_ADMIN
    await do_add_staff(
        services,
        username=username,
        password=PASSWORD,
        display_name=username.title(),
        role=role,
        facility_id=facility_id,
    )
    return await staff_sign_in(client, username)


# --- refunds within the limit ------------------------------------------------------------


async def test_support_refunds_a_charge_within_the_limit_at_once(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    support: Actor,
    world: World,
) -> None:
    await fund(services, family, 2_000)
    charge_id = await charge(services, family, world.facility_id, 50)
    assert await wallet_cents(services, family) == 1_950

    status, done = await issue(
        app_client, support, family, amount=50, charge_id=charge_id, client_id="r-1"
    )
    assert status == 201, done
    assert done["status"] == "done"
    assert done["transaction_id"] and done["request"]["approval_required"] is False
    assert done["request"]["decided_by"]["id"] == support.id
    assert await wallet_cents(services, family) == 2_000

    [entry] = await audit(services, "refund.issue")
    assert entry.staff_id == support.id
    assert entry.reason == "Message was not delivered"
    assert entry.facility_id == world.facility_id  # the charge's facility
    assert entry.target_type == "refund_request" and entry.target_id == done["request_id"]
    assert entry.details["amount_cents"] == 50
    assert entry.details["charge_id"] == charge_id
    assert entry.details["family_account_id"] == family.id

    # A retry with the same client_id is the same refund; nothing moves again.
    status, again = await issue(
        app_client, support, family, amount=50, charge_id=charge_id, client_id="r-1"
    )
    assert status == 201
    assert again["transaction_id"] == done["transaction_id"]
    assert await wallet_cents(services, family) == 2_000
    assert await refunds_of(services, charge_id) == 1
    assert len(await audit(services, "refund.issue")) == 1


async def test_same_client_id_for_another_refund_is_409(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    support: Actor,
    world: World,
) -> None:
    await fund(services, family)
    charge_id = await charge(services, family, world.facility_id, 100)
    status, _ = await issue(
        app_client, support, family, amount=40, charge_id=charge_id, client_id="same"
    )
    assert status == 201
    status, data = await issue(
        app_client, support, family, amount=60, charge_id=charge_id, client_id="same"
    )
    assert status == 409
    assert_error(data, "idempotency_key_reused")
    assert await wallet_cents(services, family) == 5_000 - 100 + 40


async def test_idempotency_key_header_works_like_client_id(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    support: Actor,
    world: World,
) -> None:
    await fund(services, family)
    body = {"family_account_id": family.id, "kind": "credit", "amount_cents": 100}
    headers = {**support.headers, "Idempotency-Key": "hdr-1"}
    answers = []
    for _ in range(2):
        resp = await app_client.post(
            "/api/v1/staff/refunds", json={**body, "reason": "Sorry"}, headers=headers
        )
        assert resp.status == 201, await resp.text()
        answers.append((await resp.json())["transaction_id"])
    assert answers[0] == answers[1]
    assert await wallet_cents(services, family) == 5_100


async def test_refund_key_follows_the_one_idempotency_key_rule(
    app_client: TestClient[Any, Any], services: Services, family: Actor, support: Actor
) -> None:
    """Visible ASCII without spaces, 1 to 100 characters; header and client_id agree."""
    await fund(services, family)
    for bad in ("a b", "k" * 101, "caf\u00e9"):
        status, data = await issue(
            app_client, support, family, amount=10, kind="credit", client_id=bad
        )
        assert status == 422, bad
        assert "client_id" in data["error"]["fields"]
    body = {
        "family_account_id": family.id,
        "kind": "credit",
        "amount_cents": 10,
        "reason": "Sorry",
        "client_id": "one",
    }
    resp = await app_client.post(
        "/api/v1/staff/refunds", json=body, headers={**support.headers, "Idempotency-Key": "two"}
    )
    assert resp.status == 422
    assert "client_id" in (await resp.json())["error"]["fields"]
    status, _ = await issue(
        app_client, support, family, amount=10, kind="credit", client_id="k" * 100
    )
    assert status == 201
    assert await wallet_cents(services, family) == 5_000 + 10


# --- above the limit: two people ---------------------------------------------------------


async def test_refund_above_the_limit_needs_a_second_staff_member(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    await connect(app_client, family, world.residents["A1001"])
    await fund(services, family, 5_000)
    charge_id = await charge(services, family, world.facility_id, 3_000, memo="Video visit")
    assert await wallet_cents(services, family) == 2_000

    status, pending = await issue(
        app_client, facility_admin, family, amount=LIMIT + 1, charge_id=charge_id
    )
    assert status == 202, pending
    assert pending["status"] == "pending_approval"
    assert pending["transaction_id"] is None
    request_id = pending["request_id"]
    assert await wallet_cents(services, family) == 2_000  # nothing moved yet

    status, data = await call(
        app_client, "POST", f"/api/v1/staff/refunds/{request_id}/approve", facility_admin
    )
    assert status == 403
    assert_error(data, "own_request")
    assert await wallet_cents(services, family) == 2_000

    status, queue = await call(app_client, "GET", "/api/v1/staff/refunds?status=pending", support)
    assert status == 200
    assert [r["id"] for r in queue["requests"]] == [request_id]
    assert queue["requests"][0]["requested_by"]["name"] == "Admin"

    status, approved = await call(
        app_client, "POST", f"/api/v1/staff/refunds/{request_id}/approve", support
    )
    assert status == 200, approved
    assert approved["status"] == "approved"
    assert approved["decided_by"]["id"] == support.id
    assert approved["transaction_id"]
    assert await wallet_cents(services, family) == 2_000 + LIMIT + 1

    status, data = await call(
        app_client, "POST", f"/api/v1/staff/refunds/{request_id}/approve", support
    )
    assert status == 409
    assert_error(data, "decided")
    assert await refunds_of(services, charge_id) == 1
    assert await wallet_cents(services, family) == 2_000 + LIMIT + 1

    [asked] = await audit(services, "refund.request")
    [approval] = await audit(services, "refund.approve")
    assert asked.staff_id == facility_admin.id and approval.staff_id == support.id
    assert approval.reason == "Message was not delivered"
    assert approval.details["requested_by_staff_id"] == facility_admin.id

    status, queue = await call(app_client, "GET", "/api/v1/staff/refunds?status=pending", support)
    assert queue["requests"] == []


async def test_exactly_the_limit_moves_at_once(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    support: Actor,
    world: World,
) -> None:
    await fund(services, family)
    charge_id = await charge(services, family, world.facility_id, 3_000)
    status, data = await issue(app_client, support, family, amount=LIMIT, charge_id=charge_id)
    assert status == 201 and data["status"] == "done"


async def test_two_concurrent_approvals_move_money_once(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    second = await staff_member(app_client, services, "support2", None)
    await connect(app_client, family, world.residents["A1001"])
    await fund(services, family, 5_000)
    charge_id = await charge(services, family, world.facility_id, 4_000)
    status, pending = await issue(
        app_client, facility_admin, family, amount=4_000, charge_id=charge_id
    )
    assert status == 202
    path = f"/api/v1/staff/refunds/{pending['request_id']}/approve"

    answers = await asyncio.gather(
        call(app_client, "POST", path, support), call(app_client, "POST", path, second)
    )
    assert sorted(status for status, _ in answers) == [200, 409]
    assert await refunds_of(services, charge_id) == 1
    assert await wallet_cents(services, family) == 5_000
    assert len(await audit(services, "refund.approve")) == 1


async def test_an_interrupted_approval_is_finished_by_a_retry_without_paying_twice(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    """The approval committed and the ledger even moved the money, but the server died before
    noting the transaction on the request: the approver's retry pays nothing more."""
    await connect(app_client, family, world.residents["A1001"])
    await fund(services, family, 5_000)
    charge_id = await charge(services, family, world.facility_id, 3_000)
    _, pending = await issue(app_client, facility_admin, family, amount=3_000, charge_id=charge_id)
    request_id = pending["request_id"]
    async with services.db.transaction() as tx:
        await tx.execute(
            update(RefundRequest)
            .where(RefundRequest.id == request_id)
            .values(
                status="approved", decided_by_staff_id=support.id, decided_at=services.clock.now()
            )
        )
        row = await tx.get(RefundRequest, request_id)
        assert row is not None
        fingerprint = {
            "family_account_id": row.family_account_id,
            "kind": row.kind,
            "amount_cents": row.amount_cents,
            "reason": row.reason,
            "charge_id": row.charge_id,
        }
    first = await ledger.do_refund(
        services,
        charge_id=charge_id,
        amount_cents=3_000,
        idem=ledger.Idempotency("refund_request", str(request_id), fingerprint),
        reason=row.reason,
    )
    assert await wallet_cents(services, family) == 5_000

    # Someone else cannot take over the approval; the approver's retry finishes it.
    status, _ = await call(
        app_client, "POST", f"/api/v1/staff/refunds/{request_id}/approve", facility_admin
    )
    assert status == 409
    status, done = await call(
        app_client, "POST", f"/api/v1/staff/refunds/{request_id}/approve", support
    )
    assert status == 200, done
    assert done["transaction_id"] == first.transaction_id
    assert await refunds_of(services, charge_id) == 1
    assert await wallet_cents(services, family) == 5_000


async def test_reject_with_a_reason_moves_nothing(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    await connect(app_client, family, world.residents["A1001"])
    await fund(services, family, 5_000)
    charge_id = await charge(services, family, world.facility_id, 3_000)
    _, pending = await issue(app_client, facility_admin, family, amount=3_000, charge_id=charge_id)
    path = f"/api/v1/staff/refunds/{pending['request_id']}"

    status, data = await call(app_client, "POST", f"{path}/reject", support, {"reason": "no"})
    assert status == 422
    assert "reason" in data["error"]["fields"]
    status, data = await call(app_client, "POST", f"{path}/reject", support, {})
    assert status == 422

    status, rejected = await call(
        app_client, "POST", f"{path}/reject", support, {"reason": "The visit took place."}
    )
    assert status == 200, rejected
    assert rejected["status"] == "rejected"
    assert rejected["decision_reason"] == "The visit took place."
    assert rejected["decided_by"]["id"] == support.id

    for action in ("approve", "reject"):
        status, data = await call(
            app_client, "POST", f"{path}/{action}", support, {"reason": "Changed my mind"}
        )
        assert status == 409, data
        assert_error(data, "decided")
    assert await wallet_cents(services, family) == 2_000
    assert await refunds_of(services, charge_id) == 0

    [entry] = await audit(services, "refund.reject")
    assert entry.staff_id == support.id and entry.reason == "The visit took place."
    status, listed = await call(app_client, "GET", "/api/v1/staff/refunds?status=rejected", support)
    assert [r["id"] for r in listed["requests"]] == [pending["request_id"]]


# --- limits and bad input ----------------------------------------------------------------


async def test_refund_more_than_the_charge_is_refused(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    support: Actor,
    world: World,
) -> None:
    await fund(services, family, 5_000)
    small = await charge(services, family, world.facility_id, 50)
    status, data = await issue(app_client, support, family, amount=51, charge_id=small)
    assert status == 400
    assert_error(data, "refund_too_large")

    status, _ = await issue(app_client, support, family, amount=30, charge_id=small)
    assert status == 201
    status, data = await issue(app_client, support, family, amount=30, charge_id=small)
    assert status == 400
    assert "20 cents" in data["error"]["message"]
    assert await wallet_cents(services, family) == 5_000 - 50 + 30

    # Requests awaiting approval count too.
    big = await charge(services, family, world.facility_id, 3_000)
    status, _ = await issue(app_client, support, family, amount=2_600, charge_id=big)
    assert status == 202
    status, data = await issue(app_client, support, family, amount=500, charge_id=big)
    assert status == 400
    assert "400 cents" in data["error"]["message"]
    async with services.db.read() as tx:
        assert await tx.scalar(select(func.count()).select_from(RefundRequest)) == 2


BAD_AMOUNTS: list[Any] = [0, -1, 1.5, "5", True, None, 100_000_001]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
async def test_bad_amounts_are_refused_and_move_nothing(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    support: Actor,
    world: World,
    amount: Any,
) -> None:
    await fund(services, family, 2_000)
    charge_id = await charge(services, family, world.facility_id, 50)
    status, data = await issue(app_client, support, family, amount=amount, charge_id=charge_id)
    assert status == 422, data
    assert_error(data, "invalid_fields")
    assert "amount_cents" in data["error"]["fields"]
    await assert_nothing_moved(services, family, 1_950)


async def assert_nothing_moved(services: Services, family: Actor, cents: int) -> None:
    assert await wallet_cents(services, family) == cents
    async with services.db.read() as tx:
        assert await tx.scalar(select(func.count()).select_from(RefundRequest)) == 0
        assert (
            await tx.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.kind.in_(["refund", "credit"]))
            )
            == 0
        )


@pytest.mark.parametrize(
    ("reason", "sentence"),
    [
        ("ab", "Use at least 3 characters."),
        ("   ab   ", "Use at least 3 characters."),
        ("x" * 501, "Use at most 500 characters."),
        (7, "Must be text."),
    ],
)
async def test_reason_must_be_3_to_500_characters(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    support: Actor,
    world: World,
    reason: Any,
    sentence: str,
) -> None:
    await fund(services, family, 2_000)
    charge_id = await charge(services, family, world.facility_id, 50)
    status, data = await issue(
        app_client, support, family, amount=50, charge_id=charge_id, reason=reason
    )
    assert status == 422
    assert data["error"]["fields"]["reason"] == sentence
    await assert_nothing_moved(services, family, 1_950)


async def test_reason_of_exactly_500_characters_is_accepted(
    app_client: TestClient[Any, Any], services: Services, family: Actor, support: Actor
) -> None:
    status, data = await issue(
        app_client, support, family, amount=1, kind="credit", reason="r" * 500
    )
    assert status == 201, data


async def test_charge_rules_are_checked(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    other_family: Actor,
    support: Actor,
    world: World,
) -> None:
    await fund(services, family, 2_000)
    await fund(services, other_family, 2_000)
    mine = await charge(services, family, world.facility_id, 50)
    theirs = await charge(services, other_family, world.facility_id, 50)

    status, data = await issue(app_client, support, family, amount=10, charge_id=999_999)
    assert status == 404
    assert_error(data, "not_found")
    status, _ = await issue(app_client, support, family, amount=10, charge_id=theirs)
    assert status == 404  # a charge, but not this family's
    async with services.db.read() as tx:
        deposit_id = await tx.scalar(
            select(LedgerTransaction.id).where(LedgerTransaction.kind == "deposit").limit(1)
        )
    status, _ = await issue(app_client, support, family, amount=10, charge_id=deposit_id)
    assert status == 404  # not a charge
    status, data = await issue(app_client, support, family, amount=10)
    assert status == 422
    assert "charge_id" in data["error"]["fields"]
    status, data = await issue(
        app_client, support, family, amount=10, kind="credit", charge_id=mine
    )
    assert status == 422
    assert "charge_id" in data["error"]["fields"]
    status, data = await issue(app_client, support, family, amount=10, kind="gift", charge_id=mine)
    assert status == 422
    assert "kind" in data["error"]["fields"]
    status, data = await call(
        app_client,
        "POST",
        "/api/v1/staff/refunds",
        support,
        {"family_account_id": family.id, "kind": "credit", "amount_cents": 5, "reason": "Sorry"},
    )
    assert status == 422
    assert "client_id" in data["error"]["fields"]
    status, data = await issue(
        app_client, support, family, amount=10, charge_id=mine, kind="refund"
    )
    assert status == 201  # and the right one works
    status, _ = await call(
        app_client,
        "POST",
        "/api/v1/staff/refunds",
        support,
        {
            "family_account_id": 999_999,
            "kind": "credit",
            "amount_cents": 5,
            "reason": "Sorry",
            "client_id": key(),
        },
    )
    assert status == 404


# --- credits -----------------------------------------------------------------------------


async def test_support_credits_the_wallet_with_a_reason(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    support: Actor,
    world: World,
) -> None:
    status, done = await issue(
        app_client, support, family, amount=300, kind="credit", reason="Tablet outage on 11/17"
    )
    assert status == 201, done
    assert done["kind"] == "credit" and done["request"]["facility_id"] is None
    assert await wallet_cents(services, family) == 300
    [entry] = await audit(services, "credit.issue")
    assert entry.staff_id == support.id
    assert entry.reason == "Tablet outage on 11/17"
    assert entry.facility_id is None  # global support: the house's own credit

    status, statement = await call(
        app_client, "GET", f"/api/v1/staff/accounts/{family.id}/statement", support
    )
    assert status == 200
    [line] = statement["lines"]
    assert line["kind"] == "credit" and line["amount_cents"] == 300
    assert "Tablet outage on 11/17" in line["description"]


async def test_facility_admin_credit_above_the_limit_waits_for_approval(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    await connect(app_client, family, world.residents["A1001"])
    status, pending = await issue(
        app_client, facility_admin, family, amount=3_000, kind="credit", reason="Lost visit"
    )
    assert status == 202
    assert pending["request"]["facility_id"] == world.facility_id
    assert pending["threshold_cents"] == LIMIT
    assert await wallet_cents(services, family) == 0
    status, approved = await call(
        app_client, "POST", f"/api/v1/staff/refunds/{pending['request_id']}/approve", support
    )
    assert status == 200, approved
    assert await wallet_cents(services, family) == 3_000
    [entry] = await audit(services, "credit.approve")
    assert entry.facility_id == world.facility_id


async def test_the_facilitys_own_limit_applies(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    from server.domain.tariff import Tariff
    from server.storage.models import FacilitySettings

    async with services.db.transaction() as tx:
        tx.add(
            FacilitySettings(
                facility_id=world.facility_id,
                tariff=Tariff(refund_approval_threshold_cents=100).to_json(),
                updated_at=services.clock.now(),
                updated_by_staff_id=None,
            )
        )
    await connect(app_client, family, world.residents["A1001"])
    status, data = await issue(
        app_client, facility_admin, family, amount=100, kind="credit", reason="Sorry"
    )
    assert status == 201
    status, data = await issue(
        app_client, facility_admin, family, amount=101, kind="credit", reason="Sorry"
    )
    assert status == 202
    assert data["threshold_cents"] == 100


# --- who may ------------------------------------------------------------------------------


async def test_staff_of_other_facility_cannot_see_family_account(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    facility_admin: Actor,
    other_facility_admin: Actor,
    world: World,
) -> None:
    await connect(app_client, family, world.residents["A1001"])
    await fund(services, family)
    charge_id = await charge(services, family, world.facility_id, 3_000)
    _, pending = await issue(app_client, facility_admin, family, amount=3_000, charge_id=charge_id)
    request_id = pending["request_id"]
    other = other_facility_admin

    for path in (
        f"/api/v1/staff/accounts/{family.id}",
        f"/api/v1/staff/accounts/{family.id}/statement",
        f"/api/v1/staff/refunds/{request_id}",
    ):
        status, data = await call(app_client, "GET", path, other)
        assert status == 404, path
        assert_error(data, "not_found")
    status, found = await call(app_client, "GET", "/api/v1/staff/accounts?q=jane", other)
    assert status == 200 and found["accounts"] == []
    status, listed = await call(app_client, "GET", "/api/v1/staff/refunds", other)
    assert listed["requests"] == []
    status, _ = await call(app_client, "POST", f"/api/v1/staff/refunds/{request_id}/approve", other)
    assert status == 404
    status, _ = await call(
        app_client, "POST", f"/api/v1/staff/refunds/{request_id}/reject", other, {"reason": "no!"}
    )
    assert status == 404
    status, _ = await issue(app_client, other, family, amount=10, charge_id=charge_id)
    assert status == 404
    status, _ = await issue(app_client, other, family, amount=10, kind="credit")
    assert status == 404
    assert await wallet_cents(services, family) == 2_000


async def test_facility_staff_do_not_see_a_family_without_a_contact_there(
    app_client: TestClient[Any, Any], family: Actor, facility_admin: Actor, support: Actor
) -> None:
    status, _ = await call(app_client, "GET", f"/api/v1/staff/accounts/{family.id}", facility_admin)
    assert status == 404
    status, _ = await call(app_client, "GET", f"/api/v1/staff/accounts/{family.id}", support)
    assert status == 200


async def test_reviewers_cannot_refund(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    reviewer: Actor,
    world: World,
) -> None:
    await connect(app_client, family, world.residents["A1001"])
    await fund(services, family, 2_000)
    charge_id = await charge(services, family, world.facility_id, 50)
    status, data = await issue(app_client, reviewer, family, amount=50, charge_id=charge_id)
    assert status == 403
    assert_error(data, "not_customer_care")
    for path in (
        "/api/v1/staff/accounts?q=jane",
        f"/api/v1/staff/accounts/{family.id}",
        "/api/v1/staff/refunds",
        "/api/v1/staff/audit",
    ):
        status, _ = await call(app_client, "GET", path, reviewer)
        assert status == 403, path
    await assert_nothing_moved(services, family, 1_950)


async def test_families_and_residents_cannot_use_customer_care(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor
) -> None:
    for actor in (family, resident):
        status, data = await issue(app_client, actor, family, amount=50, kind="credit")
        assert status == 403
        assert_error(data, "wrong_account_kind")
        status, _ = await call(app_client, "GET", "/api/v1/staff/audit", actor)
        assert status == 403
    resp = await app_client.get("/api/v1/staff/accounts?q=jane")
    assert resp.status == 401


# --- looking up --------------------------------------------------------------------------


async def test_support_finds_a_family_and_reads_its_history(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    other_family: Actor,
    support: Actor,
    world: World,
) -> None:
    await connect(app_client, family, world.residents["A1001"])
    await fund(services, family, 2_000)
    charges = [await charge(services, family, world.facility_id, 50) for _ in range(3)]

    both = sorted([family.id, other_family.id])  # both sign-ups are called Jane Reed
    searches = {
        "jane@": [family.id],
        "JANE@EXAMPLE.COM": [family.id],
        f"{family.id:02d}": [family.id],
        "tom": [other_family.id],
        "jane reed": both,
        "  Reed ": both,
    }
    for q, expected in searches.items():
        status, found = await call(app_client, "GET", f"/api/v1/staff/accounts?q={q}", support)
        assert status == 200, found
        assert sorted(a["id"] for a in found["accounts"]) == expected, q
    status, found = await call(app_client, "GET", "/api/v1/staff/accounts?q=%25", support)
    assert status == 422  # too short
    status, found = await call(app_client, "GET", "/api/v1/staff/accounts?q=%25%25", support)
    assert found["accounts"] == []  # wildcards are literal

    status, account = await call(app_client, "GET", f"/api/v1/staff/accounts/{family.id}", support)
    assert status == 200
    assert account["name"] == "Jane Reed" and account["email"] == "jane@example.com"
    [wallet] = account["balances"]
    assert wallet["kind"] == "family_wallet"
    assert (wallet["balance_cents"], wallet["held_cents"]) == (1_850, 0)
    [contact] = account["contacts"]
    assert contact["resident"]["resident_number"] == "A1001"

    path = f"/api/v1/staff/accounts/{family.id}/statement"
    status, page = await call(app_client, "GET", f"{path}?limit=2", support)
    assert [line["transaction_id"] for line in page["lines"]] == charges[:0:-1]
    assert page["lines"][0]["refundable_cents"] == 50
    status, older = await call(
        app_client, "GET", f"{path}?limit=2&before={page['next_before']}", support
    )
    assert [line["kind"] for line in older["lines"]] == ["charge", "deposit"]
    assert older["lines"][1]["refundable_cents"] is None

    views = await audit(services, "account.view")
    assert [v.details["part"] for v in views] == ["summary", "statement", "statement"]
    assert all(v.staff_id == support.id and v.target_id == family.id for v in views)
    assert len(await audit(services, "account.search")) == len(searches) + 1


async def test_facility_staff_see_other_facilities_lines_without_detail(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    await connect(app_client, family, world.residents["A1001"])
    await fund(services, family, 2_000)
    await charge(services, family, world.other_facility_id, 50, memo="Message to Olive Stone")
    await charge(services, family, world.facility_id, 50, memo="Message to Marcus Reed")
    path = f"/api/v1/staff/accounts/{family.id}/statement"

    _, mine = await call(app_client, "GET", path, facility_admin)
    memos = [line["description"] for line in mine["lines"]]
    assert memos[:2] == ["Message to Marcus Reed", "Activity at another facility"]
    assert mine["lines"][1]["refundable_cents"] is None
    _, everything = await call(app_client, "GET", path, support)
    assert everything["lines"][1]["description"] == "Message to Olive Stone"


# --- the audit log -----------------------------------------------------------------------


async def test_audit_log_shows_entries_scoped_to_the_facility(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    facility_admin: Actor,
    other_facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    await connect(app_client, family, world.residents["A1001"])
    await fund(services, family, 2_000)
    charge_id = await charge(services, family, world.facility_id, 50)
    status, done = await issue(app_client, support, family, amount=50, charge_id=charge_id)
    assert status == 201

    status, log = await call(app_client, "GET", "/api/v1/staff/audit", facility_admin)
    assert status == 200
    entries = log["entries"]
    assert entries == sorted(entries, key=lambda e: e["id"], reverse=True)
    assert {e["facility_id"] for e in entries} == {world.facility_id}
    refund = next(e for e in entries if e["action"] == "refund.issue")
    assert refund["staff"] == {"id": support.id, "name": "Support", "role": "support"}
    assert refund["reason"] == "Message was not delivered"
    assert refund["target_id"] == done["request_id"]

    _, theirs = await call(app_client, "GET", "/api/v1/staff/audit", other_facility_admin)
    assert {e["facility_id"] for e in theirs["entries"]} == {world.other_facility_id}
    assert not any(e["action"] == "refund.issue" for e in theirs["entries"])
    status, _ = await call(
        app_client,
        "GET",
        f"/api/v1/staff/audit?facility_id={world.facility_id}",
        other_facility_admin,
    )
    assert status == 404

    _, everything = await call(app_client, "GET", "/api/v1/staff/audit?action=refund.*", support)
    assert [e["action"] for e in everything["entries"]] == ["refund.issue"]
    _, logins = await call(app_client, "GET", "/api/v1/staff/audit?action=staff.login", support)
    assert {e["facility_id"] for e in logins["entries"]} == {
        world.facility_id,
        world.other_facility_id,
        None,
    }

    # Paging and time filters.
    _, first = await call(app_client, "GET", "/api/v1/staff/audit?limit=2", support)
    assert len(first["entries"]) == 2 and first["next_before"] == first["entries"][1]["id"]
    _, rest = await call(
        app_client, "GET", f"/api/v1/staff/audit?limit=200&before={first['next_before']}", support
    )
    assert all(e["id"] < first["next_before"] for e in rest["entries"])
    now = services.clock.now().isoformat().replace("+00:00", "Z")
    _, later = await call(app_client, "GET", f"/api/v1/staff/audit?from={now}&to={now}", support)
    assert later["entries"] == []
    status, data = await call(app_client, "GET", "/api/v1/staff/audit?from=yesterday", support)
    assert status == 422
    assert "from" in data["error"]["fields"]


async def test_approval_is_refused_when_the_charge_has_since_been_refunded(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    facility_admin: Actor,
    support: Actor,
    world: World,
) -> None:
    await connect(app_client, family, world.residents["A1001"])
    await fund(services, family, 5_000)
    charge_id = await charge(services, family, world.facility_id, 3_000)
    _, pending = await issue(app_client, facility_admin, family, amount=3_000, charge_id=charge_id)
    await ledger.do_refund(
        services,
        charge_id=charge_id,
        amount_cents=100,
        idem=ledger.Idempotency("test", key(), {}),
        reason="refunded elsewhere",
    )
    path = f"/api/v1/staff/refunds/{pending['request_id']}"
    status, data = await call(app_client, "POST", f"{path}/approve", support)
    assert status == 400
    assert_error(data, "refund_too_large")
    status, still = await call(app_client, "GET", path, support)
    assert still["status"] == "pending"  # to be rejected by a person, with a reason
    assert await wallet_cents(services, family) == 2_100
    assert await audit(services, "refund.approve") == []
