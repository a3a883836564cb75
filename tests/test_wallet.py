"""Balances and statements: each person sees only their own accounts, newest first, paged,
filtered by dates, and as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp.test_utils import TestClient

from server.domain.ledger import SystemCode, family_wallet
from server.services import ledger
from server.services.context import Services
from tests.fakes import FrozenClock
from tests.story import (
    PASSWORD,
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

JANE = {"username": "jane", "password": PASSWORD}


async def statement(
    client: TestClient[Any, Any], actor: Actor, **params: Any
) -> tuple[int, dict[str, Any]]:
    resp = await client.get(
        "/api/v1/wallet/statement",
        params={k: str(v) for k, v in params.items()},
        headers=actor.headers,
    )
    data: dict[str, Any] = await resp.json()
    return resp.status, data


async def deposits_of(
    client: TestClient[Any, Any], family: Actor, amounts: list[int], clock: FrozenClock
) -> list[dict[str, Any]]:
    receipts = []
    for amount in amounts:
        status, receipt = await deposit(client, family, WALLET, amount)
        assert status == 201, receipt
        receipts.append(receipt)
        clock.advance(days=1)
        # A day later the session has ended: Jane signs in again.
        family.token = (await log_in(client, "/api/v1/sessions", JANE)).token
    return receipts


async def test_new_family_sees_zero_balances(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    assert await wallet_of(app_client, family) == {
        "owner": "family",
        "wallet": {"account_id": None, "balance_cents": 0, "held_cents": 0},
        "ppc": [],
    }
    status, page = await statement(app_client, family)
    assert status == 200
    assert page["lines"] == [] and page["next_before"] is None


async def test_balances_after_deposits(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    await connect_family(app_client, family, resident)
    await deposit(app_client, family, WALLET, 1_200)
    await deposit(app_client, family, {"type": "ppc", "phone": "518-555-0199"}, 1_000)
    await deposit(app_client, family, {"type": "ppc", "phone": "(518) 555-0142"}, 300)
    await deposit(app_client, family, {"type": "resident_wallet", "resident_id": resident.id}, 600)
    await deposit(app_client, family, {"type": "pin_debit", "resident_id": resident.id}, 700)
    await deposit(app_client, family, trust(world), 2_000)

    mine = await wallet_of(app_client, family)
    assert mine["owner"] == "family"
    assert mine["wallet"]["balance_cents"] == 1_200
    assert isinstance(mine["wallet"]["account_id"], int)
    assert [(p["phone"], p["balance_cents"], p["held_cents"]) for p in mine["ppc"]] == [
        ("+15185550142", 300, 0),
        ("+15185550199", 1_000, 0),
    ]
    theirs = await wallet_of(app_client, resident)
    assert set(theirs) == {"owner", "wallet", "pin_debit", "trust"}
    assert theirs["owner"] == "resident"
    assert [theirs[k]["balance_cents"] for k in ("wallet", "pin_debit", "trust")] == [
        600,
        700,
        2_000,
    ]


async def test_held_money_is_shown_apart_from_the_balance(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    await deposit(app_client, family, WALLET, 1_000)
    await ledger.do_hold(
        services,
        payer=family_wallet(family.id),
        amount_cents=600,
        idem=ledger.Idempotency(f"family:{family.id}", "visit-1", {"visit": 1}),
        facility_id=None,
        memo="Visit block",
    )
    mine = (await wallet_of(app_client, family))["wallet"]
    assert (mine["balance_cents"], mine["held_cents"]) == (400, 600)


async def test_statement_is_paged_newest_first_with_next_before(
    app_client: TestClient[Any, Any], family: Actor, clock: FrozenClock
) -> None:
    await deposits_of(app_client, family, [500, 600, 700, 800, 900], clock)
    status, page = await statement(app_client, family, limit=2)
    assert status == 200, page
    assert [line["amount_cents"] for line in page["lines"]] == [900, 800]
    assert [line["balance_after_cents"] for line in page["lines"]] == [3_500, 2_600]
    first = page["lines"][0]
    assert set(first) == {
        "id",
        "transaction_id",
        "at",
        "kind",
        "description",
        "amount_cents",
        "balance_after_cents",
        "reference",
    }
    assert first["kind"] == "deposit" and first["description"] == "Deposit via online"
    assert page["account"]["kind"] == "family_wallet"
    assert page["account"]["balance_cents"] == 3_500

    seen = [line["amount_cents"] for line in page["lines"]]
    while page["next_before"] is not None:
        status, page = await statement(app_client, family, limit=2, before=page["next_before"])
        assert status == 200
        seen += [line["amount_cents"] for line in page["lines"]]
    assert seen == [900, 800, 700, 600, 500]


async def test_statement_date_filters(
    app_client: TestClient[Any, Any], family: Actor, clock: FrozenClock
) -> None:
    # One deposit a day from Wednesday 18 to Sunday 22 November 2026 (15:00 UTC).
    await deposits_of(app_client, family, [500, 600, 700, 800, 900], clock)
    _, page = await statement(app_client, family, **{"from": "2026-11-19", "to": "2026-11-21"})
    assert [line["amount_cents"] for line in page["lines"]] == [800, 700, 600]
    _, page = await statement(app_client, family, **{"from": "2026-11-21"})
    assert [line["amount_cents"] for line in page["lines"]] == [900, 800]
    _, page = await statement(app_client, family, to="2026-11-18")
    assert [line["amount_cents"] for line in page["lines"]] == [500]
    _, page = await statement(app_client, family, **{"from": "2026-11-20", "to": "2026-11-20"})
    assert [line["at"] for line in page["lines"]] == ["2026-11-20T15:00:00+00:00"]


async def test_statement_refuses_bad_query_values(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    for params in (
        {"from": "2026-02-30"},
        {"from": "18/11/2026"},
        {"to": "1700000000"},
        {"from": "2026-11-20", "to": "2026-11-19"},
        {"from": "9999-12-31"},
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"before": -1},
        {"format": "xml"},
    ):
        status, data = await statement(app_client, family, **params)
        assert status == 422, params
        assert_error(data, "invalid_fields")
    status, _ = await statement(app_client, family, limit=200)
    assert status == 200


async def test_statement_csv_has_a_header_and_decimal_dollars(
    app_client: TestClient[Any, Any], services: Services, family: Actor, clock: FrozenClock
) -> None:
    receipts = await deposits_of(app_client, family, [500, 1_234], clock)
    await ledger.do_charge(
        services,
        payers=[family_wallet(family.id)],
        amount_cents=50,
        revenue=SystemCode.MESSAGE_REVENUE,
        idem=ledger.Idempotency(f"family:{family.id}", "msg-1", {"message": 1}),
        facility_id=None,
        memo="=Message to Marcus",  # a memo that looks like a spreadsheet formula
    )
    resp = await app_client.get(
        "/api/v1/wallet/statement", params={"format": "csv"}, headers=family.headers
    )
    assert resp.status == 200
    assert resp.content_type == "text/csv"
    assert resp.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.reader(io.StringIO(await resp.text())))
    assert rows[0] == ["date", "transaction", "kind", "description", "amount", "balance"]
    assert rows[1:] == [
        ["2026-11-20T15:00:00Z", rows[1][1], "charge", "'=Message to Marcus", "-0.50", "16.84"],
        [
            "2026-11-19T15:00:00Z",
            str(receipts[1]["id"]),
            "deposit",
            "Deposit via online",
            "12.34",
            "17.34",
        ],
        [
            "2026-11-18T15:00:00Z",
            str(receipts[0]["id"]),
            "deposit",
            "Deposit via online",
            "5.00",
            "5.00",
        ],
    ]
    resp = await app_client.get(
        "/api/v1/wallet/statement",
        params={"format": "csv", "from": "2026-11-20"},
        headers=family.headers,
    )
    assert len(list(csv.reader(io.StringIO(await resp.text())))) == 2


async def test_family_cannot_read_other_familys_statement(
    app_client: TestClient[Any, Any],
    family: Actor,
    other_family: Actor,
    resident: Actor,
    world: World,
) -> None:
    await deposit(app_client, other_family, WALLET, 500)
    theirs = (await wallet_of(app_client, other_family))["wallet"]["account_id"]
    await deposit(app_client, family, trust(world), 1_000)
    marcus_trust = (await wallet_of(app_client, resident))["trust"]["account_id"]
    for account_id in (theirs, marcus_trust, 10**9):
        status, data = await statement(app_client, family, account_id=account_id)
        assert status == 404, account_id
        assert_error(data, "not_found")
        resp = await app_client.get(
            "/api/v1/wallet/statement",
            params={"account_id": str(account_id), "format": "csv"},
            headers=family.headers,
        )
        assert resp.status == 404


async def test_resident_reads_own_pin_debit_statement(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, other_resident: Actor
) -> None:
    await connect_family(app_client, family, resident)
    await deposit(app_client, family, {"type": "pin_debit", "resident_id": resident.id}, 1_000)
    pin_debit = (await wallet_of(app_client, resident))["pin_debit"]["account_id"]
    status, page = await statement(app_client, resident, account_id=pin_debit)
    assert status == 200
    assert [line["amount_cents"] for line in page["lines"]] == [1_000]
    assert page["account"]["kind"] == "pin_debit"
    status, _ = await statement(app_client, other_resident, account_id=pin_debit)
    assert status == 404


async def test_staff_have_no_wallet(app_client: TestClient[Any, Any], support: Actor) -> None:
    status, data = await call(app_client, "GET", "/api/v1/wallet", support)
    assert status == 403
    assert_error(data, "wrong_account_kind")


async def test_retried_deposit_shows_once_on_the_statement(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    key = new_key()
    await deposit(app_client, family, WALLET, 500, key=key)
    await deposit(app_client, family, WALLET, 500, key=key)
    _, page = await statement(app_client, family)
    assert [line["amount_cents"] for line in page["lines"]] == [500]
