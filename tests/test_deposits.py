"""Deposits: the fee is shown before paying, the gateway is asked outside any transaction,
a decline or a time-out moves nothing, a retry never charges twice, and staff-recorded
operator and mail deposits are audited."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from server.services.context import Services
from server.services.payments import SandboxGateway
from server.storage.models import AuditEntry, FacilitySettings, LedgerTransaction
from tests.story import (
    OK,
    WALLET,
    Actor,
    World,
    assert_error,
    call,
    connect_family,
    deposit,
    log_in,
    new_key,
    trust,
    wallet_of,
)

DECLINE = "tok_sandbox_decline"
TIMEOUT, UNREACHABLE = "tok_sandbox_timeout", "tok_sandbox_unreachable"


def sandbox(services: Services) -> SandboxGateway:
    assert isinstance(services.gateway, SandboxGateway)
    return services.gateway


async def quote(
    client: TestClient[Any, Any],
    actor: Actor,
    account: dict[str, Any],
    amount_cents: Any,
    channel: str = "online",
) -> tuple[int, dict[str, Any]]:
    body = {"account": account, "amount_cents": amount_cents, "channel": channel}
    return await call(client, "POST", "/api/v1/deposits/quote", actor, body)


async def transactions(services: Services) -> int:
    async with services.db.read() as tx:
        return int(await tx.scalar(select(func.count()).select_from(LedgerTransaction)) or 0)


# --- quotes -------------------------------------------------------------------------------


async def test_quote_shows_fee_before_paying_for_each_account_and_channel(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    await connect_family(app_client, family, resident)
    marcus = resident.id
    ppc = {"type": "ppc", "phone": "+15185550142"}
    cases: list[tuple[dict[str, Any], int, str, int]] = [
        (WALLET, 500, "online", 150),
        (WALLET, 2_000, "kiosk", 150),
        ({"type": "resident_wallet", "resident_id": marcus}, 1_000, "phone", 150),
        ({"type": "pin_debit", "resident_id": marcus}, 1_000, "online", 300),
        ({"type": "pin_debit", "resident_id": marcus}, 1_000, "kiosk", 300),
        ({"type": "pin_debit", "resident_id": marcus}, 1_000, "phone", 300),
        ({"type": "pin_debit", "resident_id": marcus}, 1_000, "operator", 595),
        ({"type": "pin_debit", "resident_id": marcus}, 1_000, "mail", 0),
        (ppc, 2_500, "online", 300),
        (ppc, 2_500, "operator", 595),
        (trust(world), 2_000, "online", 295),
        (trust(world), 2_001, "online", 495),
        (trust(world), 5_000, "kiosk", 395),
        (trust(world), 50_000, "phone", 1_095),
        (trust(world), 1_000, "operator", 995),
        (trust(world), 1_000, "mail", 0),
    ]
    for account, amount, channel, fee in cases:
        status, data = await quote(app_client, family, account, amount, channel)
        assert status == 200, (account, channel, data)
        assert data["amount_cents"] == amount
        assert (data["fee_cents"], data["total_cents"]) == (fee, amount + fee), (account, channel)
        assert data["channel"] == channel
        assert data["account"]["type"] == account["type"]
    assert await transactions(services) == 0  # a quote moves nothing


async def test_quote_names_the_account_it_will_credit(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> None:
    await connect_family(app_client, family, resident)
    _, data = await quote(
        app_client, family, {"type": "pin_debit", "resident_id": resident.id}, 900
    )
    assert data["account"] == {
        "type": "pin_debit",
        "resident_id": resident.id,
        "resident_name": "Marcus Reed",
    }
    _, data = await quote(app_client, family, trust(world, first_name="marcus"), 900)
    assert data["account"] == {
        "type": "trust",
        "resident_id": resident.id,
        "resident_name": "Marcus Reed",
        "facility_id": world.facility_id,
        "resident_number": "A1001",
    }


async def test_trust_deposit_above_the_top_tier_is_refused(
    app_client: TestClient[Any, Any], family: Actor, world: World
) -> None:
    status, data = await quote(app_client, family, trust(world), 100_001)
    assert status == 422
    assert "amount_cents" in data["error"]["fields"]


async def test_family_wallet_uses_tariff_of_first_approved_contacts_facility(
    app_client: TestClient[Any, Any], services: Services, family: Actor, world: World
) -> None:
    async with services.db.transaction() as tx:
        tx.add(
            FacilitySettings(
                facility_id=world.other_facility_id,
                tariff={"wallet_deposit_fee_cents": 199, "wallet_deposit_min_cents": 1_000},
                updated_at=services.clock.now(),
                updated_by_staff_id=None,
            )
        )
    _, data = await quote(app_client, family, WALLET, 500)
    assert data["fee_cents"] == 150  # no contact yet: the default tariff
    olive = await log_in(
        app_client,
        "/api/v1/tablet/sessions",
        {"facility_id": world.other_facility_id, "resident_number": "Z9001", "pin": "1111"},
    )
    await connect_family(app_client, family, olive)
    status, data = await quote(app_client, family, WALLET, 500)
    assert status == 422  # Lakeside's own minimum, $10.00
    _, data = await quote(app_client, family, WALLET, 1_000)
    assert (data["fee_cents"], data["total_cents"]) == (199, 1_199)


# --- paying -------------------------------------------------------------------------------


async def test_wallet_deposit_below_the_minimum_is_refused_and_500_accepted(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    status, data = await deposit(app_client, family, WALLET, 499)
    assert status == 422
    assert_error(data, "invalid_fields")
    assert "$5.00" in data["error"]["fields"]["amount_cents"]
    assert await transactions(services) == 0
    assert sandbox(services).captured == {}

    status, receipt = await deposit(app_client, family, WALLET, 500)
    assert status == 201, receipt
    assert set(receipt) == {
        "id",
        "created_at",
        "account",
        "channel",
        "amount_cents",
        "fee_cents",
        "total_cents",
        "reference",
    }
    assert (receipt["amount_cents"], receipt["fee_cents"], receipt["total_cents"]) == (
        500,
        150,
        650,
    )
    assert receipt["account"] == {"type": "wallet"}
    assert receipt["channel"] == "online"
    assert receipt["reference"].startswith("sbx_")
    assert receipt["created_at"] == "2026-11-18T15:00:00+00:00"
    assert sandbox(services).captured == {receipt["reference"]: 650}
    # Available at once.
    assert (await wallet_of(app_client, family))["wallet"]["balance_cents"] == 500


async def test_declined_card_moves_nothing(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    status, data = await deposit(app_client, family, WALLET, 1_000, token=DECLINE)
    assert status == 402
    assert_error(data, "payment_declined")
    assert await transactions(services) == 0
    assert sandbox(services).captured == {}
    assert (await wallet_of(app_client, family))["wallet"]["balance_cents"] == 0


async def test_unreachable_gateway_moves_nothing(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    status, data = await deposit(app_client, family, WALLET, 1_000, token=UNREACHABLE)
    assert status == 502
    assert_error(data, "payment_gateway_timeout")
    assert await transactions(services) == 0
    assert sandbox(services).captured == {}


async def test_timeout_then_retry_with_same_key_charges_once(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    key = new_key()
    status, data = await deposit(app_client, family, WALLET, 500, token=TIMEOUT, key=key)
    assert status == 502
    assert_error(data, "payment_gateway_timeout")
    assert await transactions(services) == 0  # the processor charged; our ledger has nothing

    status, receipt = await deposit(app_client, family, WALLET, 500, token=TIMEOUT, key=key)
    assert status == 201, receipt
    status, again = await deposit(app_client, family, WALLET, 500, token=TIMEOUT, key=key)
    assert (status, again) == (200, receipt)

    assert await transactions(services) == 1
    assert sandbox(services).captured == {receipt["reference"]: 650}
    assert (await wallet_of(app_client, family))["wallet"]["balance_cents"] == 500


async def test_timeout_then_retry_with_other_amount_is_refused(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    key = new_key()
    status, _ = await deposit(app_client, family, WALLET, 500, token=TIMEOUT, key=key)
    assert status == 502
    status, data = await deposit(app_client, family, WALLET, 700, token=OK, key=key)
    assert status == 409
    assert_error(data, "idempotency_key_reused")
    assert await transactions(services) == 0


async def test_retry_of_a_deposit_returns_the_same_receipt_and_moves_nothing(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    key = new_key()
    status, first = await deposit(app_client, family, WALLET, 800, key=key)
    assert status == 201
    status, second = await deposit(app_client, family, WALLET, 800, key=key)
    assert (status, second) == (200, first)
    assert await transactions(services) == 1
    assert len(sandbox(services).captured) == 1
    assert (await wallet_of(app_client, family))["wallet"]["balance_cents"] == 800


async def test_concurrent_retries_deposit_once(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    key = new_key()
    answers = await asyncio.gather(
        *(deposit(app_client, family, WALLET, 1_000, key=key) for _ in range(5))
    )
    assert sorted(status for status, _ in answers) == [200, 200, 200, 200, 201]
    assert len({receipt["id"] for _, receipt in answers}) == 1
    assert await transactions(services) == 1
    assert len(sandbox(services).captured) == 1
    assert (await wallet_of(app_client, family))["wallet"]["balance_cents"] == 1_000


async def test_client_id_works_like_the_header(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    body = {
        "account": WALLET,
        "amount_cents": 600,
        "channel": "kiosk",
        "payment_token": OK,
        "client_id": "web-1f2e3d",
    }
    status, first = await call(app_client, "POST", "/api/v1/deposits", family, body)
    assert status == 201
    assert first["channel"] == "kiosk"
    status, second = await call(
        app_client, "POST", "/api/v1/deposits", family, body, key="web-1f2e3d"
    )
    assert (status, second) == (200, first)
    status, data = await call(app_client, "POST", "/api/v1/deposits", family, body, key="other")
    assert status == 422
    assert "client_id" in data["error"]["fields"]
    assert await transactions(services) == 1


async def test_same_key_for_a_different_deposit_is_409(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    key = new_key()
    status, _ = await deposit(app_client, family, WALLET, 500, key=key)
    assert status == 201
    status, data = await deposit(app_client, family, WALLET, 501, key=key)
    assert status == 409
    assert_error(data, "idempotency_key_reused")
    assert await transactions(services) == 1
    assert len(sandbox(services).captured) == 1


async def test_keys_are_scoped_to_the_caller(
    app_client: TestClient[Any, Any], services: Services, family: Actor, other_family: Actor
) -> None:
    status, mine = await deposit(app_client, family, WALLET, 500, key="shared")
    assert status == 201
    status, theirs = await deposit(app_client, other_family, WALLET, 900, key="shared")
    assert status == 201
    assert theirs["id"] != mine["id"]
    assert (await wallet_of(app_client, other_family))["wallet"]["balance_cents"] == 900


async def test_deposit_without_idempotency_key_is_refused(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    body = {"account": WALLET, "amount_cents": 500, "channel": "online", "payment_token": OK}
    status, data = await call(app_client, "POST", "/api/v1/deposits", family, body)
    assert status == 422
    assert_error(data, "invalid_fields")
    assert "client_id" in data["error"]["fields"]
    status, data = await call(app_client, "POST", "/api/v1/deposits", family, body, key="a b")
    assert status == 422
    assert await transactions(services) == 0
    assert sandbox(services).authorise_calls == 0


@pytest.mark.parametrize("amount", [0, -5, 5.5, "500", True, None, 10**12])
async def test_bad_amounts_are_refused_and_move_nothing(
    app_client: TestClient[Any, Any], services: Services, family: Actor, amount: Any
) -> None:
    status, data = await deposit(app_client, family, WALLET, amount)
    assert status == 422, data
    assert "amount_cents" in data["error"]["fields"]
    status, data = await quote(app_client, family, WALLET, amount)
    assert status == 422
    assert await transactions(services) == 0
    assert sandbox(services).authorise_calls == 0


async def test_amount_and_key_limits(
    app_client: TestClient[Any, Any], services: Services, family: Actor, resident: Actor
) -> None:
    await connect_family(app_client, family, resident)
    pin_debit = {"type": "pin_debit", "resident_id": resident.id}
    status, data = await quote(app_client, family, pin_debit, 100_000_000)  # $1,000,000.00
    assert (status, data["total_cents"]) == (200, 100_000_300)
    status, data = await quote(app_client, family, pin_debit, 100_000_001)
    assert status == 422
    assert "amount_cents" in data["error"]["fields"]

    status, _ = await deposit(app_client, family, WALLET, 500, key="k" * 100)
    assert status == 201
    status, data = await deposit(app_client, family, WALLET, 500, key="k" * 101)
    assert status == 422
    assert "client_id" in data["error"]["fields"]
    assert await transactions(services) == 1


async def test_staff_channels_are_not_for_families(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    status, data = await deposit(app_client, family, WALLET, 500, channel="mail")
    assert status == 422
    assert "channel" in data["error"]["fields"]
    assert await transactions(services) == 0


async def test_pin_debit_without_an_approved_contact_is_404(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    world: World,
) -> None:
    pin_debit = {"type": "pin_debit", "resident_id": resident.id}
    status, data = await deposit(app_client, family, pin_debit, 1_000)
    assert status == 404
    assert_error(data, "not_found")
    await connect_family(app_client, family, resident, approve=False)  # pending is not enough
    status, pending = await deposit(app_client, family, pin_debit, 1_000)
    assert (status, pending) == (404, data)
    status, _ = await quote(
        app_client, family, {"type": "resident_wallet", "resident_id": 10**9}, 900
    )
    assert status == 404
    assert await transactions(services) == 0

    await connect_family(app_client, other_family, resident)
    status, receipt = await deposit(app_client, other_family, pin_debit, 1_000)
    assert status == 201
    assert (receipt["fee_cents"], receipt["total_cents"]) == (300, 1_300)
    resident_view = await wallet_of(app_client, resident)
    assert resident_view["pin_debit"]["balance_cents"] == 1_000


async def test_trust_identification_mismatch_reveals_nothing(
    app_client: TestClient[Any, Any], services: Services, family: Actor, world: World
) -> None:
    wrong_number = await deposit(app_client, family, trust(world, resident_number="A1009"), 1_000)
    assert wrong_number[0] == 404
    assert_error(wrong_number[1])
    for wrong in (
        trust(world, first_name="Dana"),
        trust(world, last_name="Reid"),
        trust(world, facility_id=world.other_facility_id),
        trust(world, facility_id=10**9),
        trust(world, resident_number="A1002"),
    ):
        assert await deposit(app_client, family, wrong, 1_000) == wrong_number
        assert await quote(app_client, family, wrong, 1_000) == wrong_number
    assert await transactions(services) == 0

    # Case and spacing of the name and number do not matter.
    account = trust(world, resident_number="a1001", first_name=" marcus", last_name="REED")
    status, receipt = await deposit(app_client, family, account, 1_000)
    assert status == 201, receipt
    assert receipt["fee_cents"] == 295


async def test_ppc_phone_is_validated_and_normalised(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    status, data = await quote(
        app_client, family, {"type": "ppc", "phone": "(518) 555-0142"}, 2_000
    )
    assert status == 200
    assert data["account"] == {"type": "ppc", "phone": "+15185550142"}
    for bad in ("555-01", "12345", "call me", "+1 911"):
        status, data = await deposit(app_client, family, {"type": "ppc", "phone": bad}, 2_000)
        assert status == 422, bad
        assert "account.phone" in data["error"]["fields"]
    assert await transactions(services) == 0

    key = new_key()
    status, receipt = await deposit(
        app_client, family, {"type": "ppc", "phone": "(518) 555-0142"}, 2_000, key=key
    )
    assert status == 201
    # The same number written another way is the same request.
    status, again = await deposit(
        app_client, family, {"type": "ppc", "phone": "+1 518-555-0142"}, 2_000, key=key
    )
    assert (status, again) == (200, receipt)
    ppc = (await wallet_of(app_client, family))["ppc"]
    assert [(p["phone"], p["balance_cents"]) for p in ppc] == [("+15185550142", 2_000)]


async def test_residents_cannot_deposit(
    app_client: TestClient[Any, Any], services: Services, resident: Actor
) -> None:
    status, data = await deposit(app_client, resident, WALLET, 500)
    assert status == 403
    assert_error(data, "wrong_account_kind")
    status, _ = await quote(app_client, resident, WALLET, 500)
    assert status == 403
    assert await transactions(services) == 0


async def test_deposit_needs_sign_in(app_client: TestClient[Any, Any], world: World) -> None:
    resp = await app_client.post(
        "/api/v1/deposits",
        json={"account": WALLET, "amount_cents": 500, "payment_token": OK, "client_id": "k"},
    )
    assert resp.status == 401


# --- staff-recorded deposits --------------------------------------------------------------


async def record(
    client: TestClient[Any, Any], staff: Actor, **body: Any
) -> tuple[int, dict[str, Any]]:
    body.setdefault("client_id", new_key())
    return await call(client, "POST", "/api/v1/staff/deposits", staff, body)


async def test_staff_recorded_mail_deposit_is_audited(
    app_client: TestClient[Any, Any],
    services: Services,
    support: Actor,
    resident: Actor,
    world: World,
) -> None:
    body: dict[str, Any] = {
        "account": {"type": "pin_debit", "resident_id": resident.id},
        "amount_cents": 2_500,
        "channel": "mail",
        "reference": "MO-4417-2291",
        "client_id": "mail-batch-7-1",
    }
    status, receipt = await record(app_client, support, **body)
    assert status == 201, receipt
    assert (receipt["fee_cents"], receipt["total_cents"]) == (0, 2_500)
    assert receipt["reference"] == "MO-4417-2291"
    assert receipt["recorded_by"] == support.id
    assert (await wallet_of(app_client, resident))["pin_debit"]["balance_cents"] == 2_500
    assert sandbox(services).authorise_calls == 0  # no gateway

    status, again = await record(app_client, support, **body)
    assert (status, again) == (200, receipt)
    async with services.db.read() as tx:
        entries = (
            await tx.scalars(select(AuditEntry).where(AuditEntry.action == "deposit.record"))
        ).all()
    assert [(e.action, e.staff_id, e.target_id, e.facility_id) for e in entries] == [
        ("deposit.record", support.id, receipt["id"], world.facility_id)
    ]
    assert entries[0].details["amount_cents"] == 2_500
    assert "MO-4417-2291" in (entries[0].reason or "")

    # The same money order keyed in again (another key) is not credited twice.
    status, data = await record(app_client, support, **{**body, "client_id": "mail-batch-8-1"})
    assert status == 409
    assert_error(data, "reference_already_recorded")
    assert await transactions(services) == 1


async def test_facility_admin_records_operator_deposit_for_own_facility_only(
    app_client: TestClient[Any, Any],
    services: Services,
    facility_admin: Actor,
    other_facility_admin: Actor,
    reviewer: Actor,
    resident: Actor,
    world: World,
) -> None:
    body: dict[str, Any] = {
        "account": {"type": "resident_wallet", "resident_id": resident.id},
        "amount_cents": 1_000,
        "channel": "operator",
        "reference": "CALL-20261118-0042",
    }
    status, data = await record(app_client, other_facility_admin, **body)
    assert status == 404
    assert_error(data, "not_found")
    status, data = await record(app_client, reviewer, **body)
    assert status == 403
    assert_error(data, "forbidden")
    status, _ = await record(app_client, facility_admin, **{**body, "reference": " "})
    assert status == 422
    assert await transactions(services) == 0

    status, receipt = await record(app_client, facility_admin, **body)
    assert status == 201, receipt
    assert (receipt["fee_cents"], receipt["total_cents"]) == (150, 1_150)
    assert (await wallet_of(app_client, resident))["wallet"]["balance_cents"] == 1_000


async def test_support_records_a_family_wallet_deposit(
    app_client: TestClient[Any, Any],
    services: Services,
    support: Actor,
    facility_admin: Actor,
    family: Actor,
) -> None:
    body: dict[str, Any] = {
        "account": WALLET,
        "amount_cents": 700,
        "channel": "mail",
        "reference": "MO-1",
    }
    status, data = await record(app_client, support, **body)
    assert status == 422
    assert "family_account_id" in data["error"]["fields"]
    status, _ = await record(app_client, support, **body, family_account_id=10**9)
    assert status == 404
    # A family with no contact belongs to no facility: only support staff may credit it.
    status, _ = await record(app_client, facility_admin, **body, family_account_id=family.id)
    assert status == 404
    status, receipt = await record(app_client, support, **body, family_account_id=family.id)
    assert status == 201, receipt
    assert receipt["account"] == {"type": "wallet", "family_account_id": family.id}
    assert (await wallet_of(app_client, family))["wallet"]["balance_cents"] == 700


async def test_family_cannot_record_staff_deposits(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    status, _ = await record(
        app_client, family, account=WALLET, amount_cents=500, channel="mail", reference="MO-9"
    )
    assert status == 403
    assert await transactions(services) == 0
