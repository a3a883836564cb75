"""The ledger's rules, one story each, through the real services on SQLite and (when
TEST_DATABASE_URL is set) PostgreSQL. The random sequences are in test_ledger_properties.py."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select

from server.domain.ledger import (
    AccountKind,
    AccountRef,
    SystemCode,
    TransactionKind,
    family_wallet,
    resident_wallet,
    system,
)
from server.errors import BadRequest, Conflict, NotFound
from server.services import ledger
from server.services.context import Services
from server.services.ledger import Idempotency, InsufficientFunds, Receipt
from server.storage.models import LedgerTransaction
from tests.fakes import FrozenClock
from tests.ledger_checks import ledger_state
from tests.story import Actor, World

MESSAGE = 50
CLEARING = system(SystemCode.PAYMENT_CLEARING).owner_key
FEES = system(SystemCode.FEE_REVENUE).owner_key
MESSAGES = system(SystemCode.MESSAGE_REVENUE).owner_key
VISITS = system(SystemCode.VISIT_REVENUE).owner_key
HOLDS = system(SystemCode.VISIT_HOLDS).owner_key


def key(name: str, scope: str = "test", **request: Any) -> Idempotency:
    return Idempotency(scope=scope, key=name, request=request)


async def deposit(
    services: Services, to: AccountRef, cents: int, name: str, *, fee: int = 0
) -> Receipt:
    return await ledger.do_deposit(
        services,
        target=to,
        amount_cents=cents,
        fee_cents=fee,
        idem=key(name),
        facility_id=None,
        reference=f"ref-{name}",
        details={"channel": "online"},
    )


async def charge(
    services: Services,
    payers: Sequence[AccountRef],
    name: str,
    *,
    cents: int = MESSAGE,
    revenue: SystemCode = SystemCode.MESSAGE_REVENUE,
) -> Receipt:
    return await ledger.do_charge(
        services,
        payers=payers,
        amount_cents=cents,
        revenue=revenue,
        idem=key(name),
        facility_id=None,
        memo="Message",
    )


async def hold(services: Services, payer: AccountRef, cents: int, name: str) -> ledger.HoldView:
    return await ledger.do_hold(
        services, payer=payer, amount_cents=cents, idem=key(name), facility_id=None, memo="Visit"
    )


async def capture(services: Services, hold_id: int, cents: int, name: str) -> Receipt:
    return await ledger.do_capture(
        services,
        hold_id=hold_id,
        capture_cents=cents,
        revenue=SystemCode.VISIT_REVENUE,
        idem=key(name),
        memo="Visit minutes",
    )


async def refund(services: Services, charge_id: int, cents: int, name: str) -> Receipt:
    return await ledger.do_refund(
        services, charge_id=charge_id, amount_cents=cents, idem=key(name), reason="test"
    )


async def balance(services: Services, owner_key: str) -> int:
    return (await ledger_state(services.db)).balances.get(owner_key, 0)


@pytest.fixture
def jane(family: Actor) -> AccountRef:
    """Jane Reed's wallet (the family member)."""
    return family_wallet(family.id)


@pytest.fixture
def tom(other_family: Actor) -> AccountRef:
    return family_wallet(other_family.id)


@pytest.fixture
def marcus(resident: Actor) -> AccountRef:
    """Marcus Reed's wallet (the resident)."""
    return resident_wallet(resident.id)


# --- deposits ---------------------------------------------------------------------------------


async def test_deposit_posts_clearing_target_and_fee_legs_that_sum_to_zero(
    services: Services, jane: AccountRef
) -> None:
    receipt = await deposit(services, jane, 2000, "d1", fee=150)

    assert receipt.kind is TransactionKind.DEPOSIT
    assert not receipt.replayed
    legs = {p.owner_key: p.amount_cents for p in receipt.postings}
    assert legs == {CLEARING: -2150, jane.owner_key: 2000, FEES: 150}
    assert sum(legs.values()) == 0
    assert receipt.amount_to(jane.owner_key) == 2000
    assert receipt.reference == "ref-d1"
    state = await ledger_state(services.db)
    assert state.balances[jane.owner_key] == 2000
    assert state.balances[CLEARING] == -2150  # owed by the processor, the one account that may
    assert state.transactions == 1 and state.postings == 3


async def test_deposit_without_a_fee_has_no_fee_leg(services: Services, jane: AccountRef) -> None:
    receipt = await deposit(services, jane, 500, "d1")
    assert {p.owner_key for p in receipt.postings} == {CLEARING, jane.owner_key}


async def test_deposit_with_a_bad_fee_is_refused_and_moves_nothing(
    services: Services, jane: AccountRef
) -> None:
    bad_fees: tuple[Any, ...] = (-1, 1.5, True, "150", 10**12)
    for fee in bad_fees:
        with pytest.raises(BadRequest):
            await deposit(services, jane, 500, "d1", fee=fee)
    state = await ledger_state(services.db)
    assert state.transactions == 0 and not any(state.balances.values())


async def test_deposit_to_a_family_account_that_does_not_exist_is_not_found(
    services: Services, world: World
) -> None:
    with pytest.raises(NotFound):
        await deposit(services, family_wallet(999_999), 500, "d1")
    assert (await ledger_state(services.db)).transactions == 0


def test_an_account_ref_must_name_its_owner() -> None:
    with pytest.raises(ValueError, match="family_account_id"):
        AccountRef(AccountKind.FAMILY_WALLET)
    with pytest.raises(ValueError, match="needs resident_id"):
        AccountRef(AccountKind.TRUST)
    with pytest.raises(ValueError, match="takes no family_account_id"):
        AccountRef(AccountKind.PIN_DEBIT, family_account_id=3, resident_id=4)
    with pytest.raises(ValueError, match="phone"):
        AccountRef(AccountKind.PPC, family_account_id=3)
    with pytest.raises(ValueError, match="system"):
        AccountRef(AccountKind.SYSTEM)


# --- charges ----------------------------------------------------------------------------------


async def test_charge_without_enough_money_is_refused_and_nothing_is_written(
    services: Services, jane: AccountRef
) -> None:
    await deposit(services, jane, 49, "d1")
    before = await ledger_state(services.db)

    with pytest.raises(InsufficientFunds) as refused:
        await charge(services, [jane], "m1")

    assert refused.value.status == 402 and refused.value.code == "insufficient_funds"
    assert await ledger_state(services.db) == before  # no transaction row, no posting
    async with services.db.read() as tx:
        assert (
            await tx.scalar(select(LedgerTransaction).where(LedgerTransaction.idem_key == "m1"))
            is None
        )


async def test_charge_takes_the_price_from_the_sender_into_revenue(
    services: Services, jane: AccountRef, marcus: AccountRef
) -> None:
    await deposit(services, jane, 500, "d1")
    receipt = await charge(services, [jane, marcus], "m1")

    assert receipt.details["payer"] == jane.owner_key
    assert receipt.amount_to(jane.owner_key) == -MESSAGE
    assert receipt.amount_to(MESSAGES) == MESSAGE
    assert await balance(services, jane.owner_key) == 450


async def test_message_is_charged_to_the_recipient_when_the_sender_cannot_pay(
    services: Services, jane: AccountRef, marcus: AccountRef
) -> None:
    await deposit(services, jane, 49, "d1")
    await deposit(services, marcus, 50, "d2")

    receipt = await charge(services, [jane, marcus], "m1")

    assert receipt.details["payer"] == marcus.owner_key
    assert receipt.amount_to(marcus.owner_key) == -MESSAGE
    assert receipt.amount_to(jane.owner_key) == 0
    state = await ledger_state(services.db)
    assert state.balances[jane.owner_key] == 49
    assert state.balances[marcus.owner_key] == 0
    assert state.balances[MESSAGES] == MESSAGE


async def test_message_neither_party_can_pay_for_is_refused_and_nothing_is_written(
    services: Services, jane: AccountRef, marcus: AccountRef
) -> None:
    await deposit(services, jane, 49, "d1")
    await deposit(services, marcus, 49, "d2")
    before = await ledger_state(services.db)

    with pytest.raises(InsufficientFunds) as refused:
        await charge(services, [jane, marcus], "m1")

    assert refused.value.status == 402 and refused.value.code == "insufficient_funds"
    assert "Neither" in refused.value.message
    assert await ledger_state(services.db) == before


async def test_charge_in_writes_in_the_callers_transaction(
    services: Services, jane: AccountRef, clock: FrozenClock
) -> None:
    await deposit(services, jane, 100, "d1")
    async with services.db.transaction() as tx:
        receipt = await ledger.charge_in(
            tx,
            now=clock.now(),
            payers=[jane],
            amount_cents=MESSAGE,
            revenue=SystemCode.MESSAGE_REVENUE,
            idem=key("m1"),
            facility_id=None,
            memo="Message",
        )
    again = await charge(services, [jane], "m1")  # the same call through do_charge: a retry

    assert again.replayed and again.transaction_id == receipt.transaction_id
    assert await balance(services, jane.owner_key) == 50


async def test_charge_needs_a_payer(services: Services) -> None:
    with pytest.raises(ValueError):
        await charge(services, [], "m1")


# --- holds ------------------------------------------------------------------------------------


async def test_capture_takes_part_of_a_hold_and_releases_the_rest(
    services: Services, jane: AccountRef
) -> None:
    await deposit(services, jane, 1000, "d1")
    held = await hold(services, jane, 600, "h1")
    assert (held.amount_cents, held.status) == (600, "open")
    assert await balance(services, jane.owner_key) == 400
    [wallet] = await ledger.balances(services, family_account_id=jane.family_account_id)
    assert (wallet.balance_cents, wallet.held_cents) == (400, 600)

    receipt = await capture(services, held.id, 220, "c1")

    assert receipt.kind is TransactionKind.CAPTURE
    assert receipt.details["captured"] == 220 and receipt.details["released"] == 380
    state = await ledger_state(services.db)
    assert state.balances[jane.owner_key] == 780
    assert state.balances[VISITS] == 220
    assert state.balances[HOLDS] == 0
    [wallet] = await ledger.balances(services, family_account_id=jane.family_account_id)
    assert wallet.held_cents == 0


async def test_hold_without_enough_money_is_refused_and_nothing_is_written(
    services: Services, jane: AccountRef
) -> None:
    await deposit(services, jane, 599, "d1")
    before = await ledger_state(services.db)
    with pytest.raises(InsufficientFunds):
        await hold(services, jane, 600, "h1")
    assert await ledger_state(services.db) == before


async def test_capture_twice_is_refused_as_hold_settled(
    services: Services, jane: AccountRef
) -> None:
    await deposit(services, jane, 1000, "d1")
    held = await hold(services, jane, 600, "h1")
    await capture(services, held.id, 100, "c1")
    before = await ledger_state(services.db)

    with pytest.raises(Conflict) as refused:
        await capture(services, held.id, 100, "c2")

    assert refused.value.status == 409 and refused.value.code == "hold_settled"
    with pytest.raises(Conflict, match="settled"):
        await ledger.do_release(services, hold_id=held.id, idem=key("r1"), memo="cancelled")
    assert await ledger_state(services.db) == before


async def test_capture_more_than_held_is_refused(services: Services, jane: AccountRef) -> None:
    await deposit(services, jane, 1000, "d1")
    held = await hold(services, jane, 600, "h1")
    before = await ledger_state(services.db)

    with pytest.raises(BadRequest) as refused:
        await capture(services, held.id, 601, "c1")

    assert refused.value.status == 400
    assert await ledger_state(services.db) == before
    await capture(services, held.id, 600, "c2")  # the hold is still open, all of it capturable
    assert await balance(services, VISITS) == 600


async def test_capture_of_a_bad_amount_is_refused(services: Services, jane: AccountRef) -> None:
    await deposit(services, jane, 1000, "d1")
    held = await hold(services, jane, 600, "h1")
    bad_captures: tuple[Any, ...] = (-1, 1.5, True, "100")
    for cents in bad_captures:
        with pytest.raises(BadRequest):
            await capture(services, held.id, cents, "c1")
    [wallet] = await ledger.balances(services, family_account_id=jane.family_account_id)
    assert wallet.held_cents == 600


async def test_capture_of_an_unknown_hold_is_not_found(services: Services) -> None:
    with pytest.raises(NotFound):
        await capture(services, 12345, 0, "c1")


async def test_release_gives_everything_back(services: Services, jane: AccountRef) -> None:
    await deposit(services, jane, 1000, "d1")
    held = await hold(services, jane, 600, "h1")

    receipt = await ledger.do_release(services, hold_id=held.id, idem=key("r1"), memo="cancelled")

    assert receipt.amount_to(jane.owner_key) == 600
    state = await ledger_state(services.db)
    assert state.balances[jane.owner_key] == 1000
    assert state.balances.get(VISITS, 0) == 0 and state.balances[HOLDS] == 0


async def test_a_retried_hold_returns_the_same_hold(services: Services, jane: AccountRef) -> None:
    await deposit(services, jane, 1000, "d1")
    first = await hold(services, jane, 600, "h1")
    again = await hold(services, jane, 600, "h1")
    assert again.id == first.id
    assert await balance(services, jane.owner_key) == 400


# --- refunds and credits ----------------------------------------------------------------------


async def test_refunds_are_partial_and_cumulative_up_to_the_charge(
    services: Services, jane: AccountRef, marcus: AccountRef
) -> None:
    await deposit(services, marcus, 100, "d1")
    paid = await charge(services, [jane, marcus], "p1", cents=100)  # Marcus pays: Jane has none

    first = await refund(services, paid.transaction_id, 30, "r1")
    second = await refund(services, paid.transaction_id, 50, "r2")

    assert first.kind is TransactionKind.REFUND
    assert first.amount_to(marcus.owner_key) == 30  # back to whoever paid
    assert second.amount_to(marcus.owner_key) == 50
    before = await ledger_state(services.db)
    with pytest.raises(BadRequest, match="At most 20 cents"):
        await refund(services, paid.transaction_id, 21, "r3")
    assert await ledger_state(services.db) == before
    await refund(services, paid.transaction_id, 20, "r4")
    state = await ledger_state(services.db)
    assert state.balances[marcus.owner_key] == 100 and state.balances[MESSAGES] == 0


async def test_refund_of_more_than_was_charged_is_refused(
    services: Services, jane: AccountRef
) -> None:
    await deposit(services, jane, 100, "d1")
    paid = await charge(services, [jane], "p1")
    with pytest.raises(BadRequest):
        await refund(services, paid.transaction_id, MESSAGE + 1, "r1")


async def test_refund_of_something_that_is_not_a_charge_is_not_found(
    services: Services, jane: AccountRef
) -> None:
    deposited = await deposit(services, jane, 100, "d1")
    with pytest.raises(NotFound):
        await refund(services, deposited.transaction_id, 10, "r1")
    with pytest.raises(NotFound):
        await refund(services, 999_999, 10, "r2")
    assert (await ledger_state(services.db)).transactions == 1


async def test_credit_comes_from_the_house(services: Services, jane: AccountRef) -> None:
    receipt = await ledger.do_credit(
        services,
        account=jane,
        amount_cents=300,
        idem=key("c1"),
        facility_id=None,
        reason="goodwill",
    )
    assert receipt.kind is TransactionKind.CREDIT
    assert receipt.details["reason"] == "goodwill"
    state = await ledger_state(services.db)
    assert state.balances[jane.owner_key] == 300
    assert state.balances[system(SystemCode.REFUNDS).owner_key] == -300


# --- idempotency ------------------------------------------------------------------------------


async def test_a_retry_with_the_same_key_returns_the_first_receipt_and_moves_nothing(
    services: Services, jane: AccountRef
) -> None:
    first = await deposit(services, jane, 700, "d1", fee=150)
    paid = await charge(services, [jane], "m1")
    before = await ledger_state(services.db)

    again = await deposit(services, jane, 700, "d1", fee=150)
    paid_again = await charge(services, [jane], "m1")

    assert again.replayed and not first.replayed
    assert again.transaction_id == first.transaction_id
    assert again.postings == first.postings
    assert again.created_at == first.created_at
    assert paid_again.replayed and paid_again.transaction_id == paid.transaction_id
    assert paid_again.details == paid.details
    assert await ledger_state(services.db) == before


async def test_the_same_key_for_a_different_request_is_refused(
    services: Services, jane: AccountRef, marcus: AccountRef
) -> None:
    await deposit(services, jane, 700, "d1")
    await charge(services, [jane], "m1")
    before = await ledger_state(services.db)

    # The caller's own `request` is the same each time: the ledger also fingerprints the money.
    for different in (
        deposit(services, jane, 701, "d1"),
        deposit(services, marcus, 700, "d1"),
        charge(services, [jane], "m1", cents=51),
        charge(services, [marcus, jane], "m1"),
        charge(services, [jane], "m1", revenue=SystemCode.PHOTO_REVENUE),
        charge(services, [jane], "d1"),  # a deposit's key used for a charge
    ):
        with pytest.raises(Conflict) as refused:
            await different
        assert refused.value.status == 409 and refused.value.code == "idempotency_key_reused"
    assert await ledger_state(services.db) == before


async def test_the_same_key_in_another_scope_is_another_request(
    services: Services, jane: AccountRef
) -> None:
    await deposit(services, jane, 700, "d1")
    other = await ledger.do_deposit(
        services,
        target=jane,
        amount_cents=5,
        fee_cents=0,
        idem=key("d1", scope="someone-else"),
        facility_id=None,
        reference=None,
        details={},
    )
    assert not other.replayed
    assert await balance(services, jane.owner_key) == 705


async def test_bad_amounts_are_refused_and_move_nothing(
    services: Services, jane: AccountRef
) -> None:
    await deposit(services, jane, 1000, "d1")
    paid = await charge(services, [jane], "m1")
    before = await ledger_state(services.db)

    bad_amounts: tuple[Any, ...] = (0, -1, 1.5, True, "100", 10**12)
    for cents in bad_amounts:
        attempts = [
            deposit(services, jane, cents, "bad-d"),
            charge(services, [jane], "bad-m", cents=cents),
            hold(services, jane, cents, "bad-h"),
            refund(services, paid.transaction_id, cents, "bad-r"),
            ledger.do_credit(
                services,
                account=jane,
                amount_cents=cents,
                idem=key("bad-c"),
                facility_id=None,
                reason="x",
            ),
        ]
        for attempt in attempts:
            with pytest.raises(BadRequest):
                await attempt
    assert await ledger_state(services.db) == before


# --- reading ----------------------------------------------------------------------------------


async def test_statement_lists_newest_first_with_the_running_balance(
    services: Services, jane: AccountRef, clock: FrozenClock
) -> None:
    await deposit(services, jane, 500, "d1")
    clock.advance(minutes=1)
    await charge(services, [jane], "m1")
    clock.advance(minutes=1)
    await charge(services, [jane], "m2")
    ids = await ledger.account_ids_of(services, owner_keys=[jane.owner_key, "nobody:1"])
    assert set(ids) == {jane.owner_key}

    lines = await ledger.statement(services, account_id=ids[jane.owner_key])
    assert [(line.kind, line.amount_cents, line.balance_after_cents) for line in lines] == [
        (TransactionKind.CHARGE, -50, 400),
        (TransactionKind.CHARGE, -50, 450),
        (TransactionKind.DEPOSIT, 500, 500),
    ]
    older = await ledger.statement(
        services, account_id=ids[jane.owner_key], before=lines[0].posting_id, limit=1
    )
    assert [line.posting_id for line in older] == [lines[1].posting_id]
    first_minute = await ledger.statement(
        services, account_id=ids[jane.owner_key], until=lines[1].at
    )
    assert [line.kind for line in first_minute] == [TransactionKind.DEPOSIT]


async def test_balances_need_an_owner(services: Services) -> None:
    with pytest.raises(ValueError):
        await ledger.balances(services)


async def test_balances_are_only_the_owners(
    services: Services, jane: AccountRef, tom: AccountRef, marcus: AccountRef
) -> None:
    await deposit(services, jane, 100, "d1")
    await deposit(services, tom, 200, "d2")
    await deposit(services, marcus, 300, "d3")
    assert [
        b.owner_key
        for b in await ledger.balances(services, family_account_id=jane.family_account_id)
    ] == [jane.owner_key]
    assert [
        b.balance_cents for b in await ledger.balances(services, resident_id=marcus.resident_id)
    ] == [300]


# --- concurrency ------------------------------------------------------------------------------


async def test_many_simultaneous_charges_never_overdraw_one_wallet(
    services: Services, jane: AccountRef
) -> None:
    await deposit(services, jane, 20 * MESSAGE, "d1")

    results = await asyncio.gather(
        *(charge(services, [jane], f"m{i}") for i in range(50)), return_exceptions=True
    )

    paid = [r for r in results if isinstance(r, Receipt)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(paid) == 20 and len(refused) == 30, [
        r for r in results if isinstance(r, Exception) and not isinstance(r, InsufficientFunds)
    ]
    assert len({r.transaction_id for r in paid}) == 20
    state = await ledger_state(services.db)
    assert state.balances[jane.owner_key] == 0
    assert state.balances[MESSAGES] == 20 * MESSAGE
    assert state.transactions == 21


async def test_racing_retries_of_one_charge_move_money_once(
    services: Services, jane: AccountRef
) -> None:
    await deposit(services, jane, 500, "d1")

    results = await asyncio.gather(*(charge(services, [jane], "m1") for _ in range(50)))

    assert len({r.transaction_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    state = await ledger_state(services.db)
    assert state.balances[jane.owner_key] == 450
    assert state.transactions == 2


async def test_racing_refunds_of_one_charge_never_refund_more_than_was_charged(
    services: Services, jane: AccountRef
) -> None:
    await deposit(services, jane, 500, "d1")
    paid = await charge(services, [jane], "p1", cents=100)

    results = await asyncio.gather(
        *(refund(services, paid.transaction_id, 30, f"r{i}") for i in range(10)),
        return_exceptions=True,
    )

    assert sum(isinstance(r, Receipt) for r in results) == 3
    assert all(isinstance(r, Receipt | BadRequest) for r in results), results
    state = await ledger_state(services.db)
    assert state.balances[jane.owner_key] == 490
    assert state.balances[MESSAGES] == 10


async def test_racing_retries_of_one_refund_and_one_capture_move_money_once(
    services: Services, jane: AccountRef
) -> None:
    await deposit(services, jane, 1000, "d1")
    paid = await charge(services, [jane], "p1", cents=100)
    held = await hold(services, jane, 600, "h1")

    refunds = await asyncio.gather(
        *(refund(services, paid.transaction_id, 100, "r1") for _ in range(10))
    )
    captures = await asyncio.gather(*(capture(services, held.id, 200, "c1") for _ in range(10)))

    assert len({r.transaction_id for r in refunds}) == 1
    assert len({r.transaction_id for r in captures}) == 1
    state = await ledger_state(services.db)
    assert state.balances[jane.owner_key] == 1000 - 200
    assert state.transactions == 5


async def test_charges_refunds_holds_and_captures_racing_on_one_wallet_all_complete(
    services: Services, jane: AccountRef
) -> None:
    """Every operation takes its locks in one order (the person's account, then the house's),
    so operations that touch the same accounts in opposite roles never deadlock."""
    await deposit(services, jane, 100_000, "d1")
    charges = [await charge(services, [jane], f"p{i}", cents=100) for i in range(10)]
    holds = [await hold(services, jane, 300, f"h{i}") for i in range(10)]

    calls = []
    for i in range(10):
        calls += [
            charge(services, [jane], f"m{i}"),
            refund(services, charges[i].transaction_id, 100, f"r{i}"),
            hold(services, jane, 300, f"h{10 + i}"),
            capture(services, holds[i].id, 100, f"c{i}"),
            deposit(services, jane, 500, f"dd{i}", fee=150),
            ledger.do_credit(
                services,
                account=jane,
                amount_cents=5,
                idem=key(f"g{i}"),
                facility_id=None,
                reason="x",
            ),
        ]
    results = await asyncio.gather(*calls, return_exceptions=True)

    assert not [r for r in results if isinstance(r, BaseException)]
    state = await ledger_state(services.db)
    expected = 100_000 - 10 * 100 - 10 * 300  # before the race
    expected += 10 * (-MESSAGE + 100 - 300 + 200 + 500 + 5)
    assert state.balances[jane.owner_key] == expected
    assert state.balances[VISITS] == 10 * 100
