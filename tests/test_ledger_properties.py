"""Random sequences of ledger operations against a real database, checked after every step.

A Hypothesis state machine drives the real service functions (deposits with fees, charges with
the sender-else-recipient rule, holds, captures, releases, partial refunds, credits, charges
racing on one wallet, retries and reused keys) and keeps the expected balances in Python.
After each step the tables must show: postings summing to zero per transaction, no user
balance below zero, every balance equal to the sum of its postings and to the last posting's
running balance, each idempotency key used once, and exactly the model's balances.

SQLite in a temporary folder always; PostgreSQL too when TEST_DATABASE_URL is set (CI).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete

from moderation.services.policies import policy_in
from server.config import Config
from server.domain.ledger import AccountRef, SystemCode, family_wallet, resident_wallet, system
from server.domain.money import MAX_CENTS
from server.errors import BadRequest, Conflict, DomainError, NotFound
from server.services import ledger
from server.services.context import Services
from server.services.ledger import Idempotency, InsufficientFunds, Receipt
from server.services.mail import MailQueue
from server.services.payments import SandboxGateway
from server.services.ratelimit import MemoryRateLimiter
from server.storage.db import Database, create_engine
from server.storage.models import (
    Facility,
    FamilyAccount,
    Hold,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Resident,
)
from tests.fakes import FrozenClock, RecordingMailer
from tests.ledger_checks import ledger_state
from tests.story import FAST_HASHER, START, need_service, reset_schema

T = TypeVar("T")

FAMILIES = (1, 2, 3)
RESIDENTS = (1, 2)
WALLETS = tuple(family_wallet(i) for i in FAMILIES) + tuple(resident_wallet(i) for i in RESIDENTS)
REVENUES = (SystemCode.MESSAGE_REVENUE, SystemCode.PHOTO_REVENUE)
CLEARING = system(SystemCode.PAYMENT_CLEARING).owner_key
FEES = system(SystemCode.FEE_REVENUE).owner_key
HOLDS = system(SystemCode.VISIT_HOLDS).owner_key
VISITS = system(SystemCode.VISIT_REVENUE).owner_key
HOUSE = system(SystemCode.REFUNDS).owner_key
BAD_AMOUNTS: tuple[Any, ...] = (0, -1, 1.5, True, "100", MAX_CENTS + 1, 10**12)

wallets = st.sampled_from(WALLETS)
amounts = st.integers(min_value=1, max_value=3000)


@dataclass
class Call:
    """A call that succeeded, to be retried: `again()` repeats it, `different()` reuses its key
    for another request."""

    again: Callable[[], Coroutine[Any, Any, Receipt | ledger.HoldView]]
    different: Callable[[], Coroutine[Any, Any, Receipt | ledger.HoldView]]
    result_id: int  # the transaction id (the hold id for holds)
    is_charge: bool = False


@dataclass
class HeldModel:
    id: int
    payer: str
    amount: int
    open: bool = True
    call: Call | None = None  # how to retry it


@dataclass
class ChargeModel:
    id: int
    payer: str
    revenue: str
    amount: int
    refunded: int = 0
    call: Call | None = None  # how to retry it


Done = Call | ChargeModel | HeldModel


@dataclass
class Model:
    balances: dict[str, int] = field(default_factory=dict)
    transactions: int = 0

    def move(self, owner_key: str, cents: int) -> None:
        self.balances[owner_key] = self.balances.get(owner_key, 0) + cents

    def of(self, owner_key: str) -> int:
        return self.balances.get(owner_key, 0)


async def prepare(url: str) -> None:
    """A fresh schema and the people the wallets belong to (the accounts' foreign keys)."""
    await reset_schema(url)
    db = Database(create_engine(url))
    try:
        await seed(db)
    finally:
        await db.close()


async def empty_ledger(db: Database) -> None:
    async with db.transaction() as tx:
        for table in (Hold, LedgerPosting, LedgerTransaction, LedgerAccount):
            await tx.execute(delete(table))


async def seed(db: Database) -> None:
    async with db.transaction() as tx:
        tx.add(
            Facility(id=1, name="Riverside", city="R", state="NY", timezone="UTC", created_at=START)
        )
        await tx.flush()
        for i in FAMILIES:
            tx.add(
                FamilyAccount(
                    id=i,
                    username=f"family{i}",
                    username_key=f"family{i}",
                    email=f"family{i}@example.com",
                    email_key=f"family{i}@example.com",
                    password_hash="-",
                    first_name="F",
                    last_name=str(i),
                    address_line1="1 Main St",
                    address_line2="",
                    city="Albany",
                    state="NY",
                    postal_code="12207",
                    country="US",
                    date_of_birth=date(1980, 1, 1),
                    gender="other",
                    status="active",
                    created_at=START,
                    terms_accepted_at=START,
                    activated_at=START,
                )
            )
        for i in RESIDENTS:
            tx.add(
                Resident(
                    id=i,
                    facility_id=1,
                    resident_number=f"A{i}",
                    first_name="R",
                    last_name=str(i),
                    search_name=f"r {i}",
                    date_of_birth=date(1990, 1, 1),
                    housing_unit="B",
                    pin_hash="-",
                    active=True,
                    created_at=START,
                )
            )


class LedgerMachine(RuleBasedStateMachine):
    """One example: a fresh database, a private event loop, the real services."""

    database_url: str  # prepared by run_machine(), emptied of ledger rows for each example

    holds = Bundle("holds")
    charges = Bundle("charges")
    calls = Bundle("calls")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        url = self.database_url
        self.db = Database(create_engine(url))
        self.run(empty_ledger(self.db))
        clock = FrozenClock(START)
        self.svc = Services(
            config=Config(database_url=url, secret_key="t"),
            db=self.db,
            clock=clock,
            hasher=FAST_HASHER,
            limiter=MemoryRateLimiter(clock),
            mail=MailQueue(RecordingMailer(), sender="t@example.com", clock=clock),
            gateway=SandboxGateway(),
            policies=policy_in,
        )
        self.model = Model()
        self.keys = 0
        self.charge_ids: set[int] = set()
        self.all_holds: list[HeldModel] = []

    def teardown(self) -> None:
        try:
            self.run(self.db.close())
        finally:
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def key(self) -> Idempotency:
        self.keys += 1
        return Idempotency(scope="machine", key=f"k{self.keys}", request={})

    def expect(self, error: type[DomainError], coro: Coroutine[Any, Any, Any]) -> DomainError:
        """The call fails with `error` (and, as the invariants then check, moves nothing)."""
        with pytest.raises(error) as raised:
            self.run(coro)
        return raised.value

    # --- money in ---------------------------------------------------------------------------

    @initialize(
        target=calls,
        start=st.lists(st.integers(min_value=0, max_value=3000), min_size=5, max_size=5),
    )
    def opening_deposits(self, start: list[int]) -> Any:
        """Most wallets start with some money, so that the story gets past "cannot pay"."""
        return multiple(
            *(self.deposit(w, cents, 150) for w, cents in zip(WALLETS, start, strict=True) if cents)
        )

    @rule(target=calls, to=wallets, cents=amounts, fee=st.sampled_from([0, 0, 150, 300]))
    def deposit(self, to: AccountRef, cents: int, fee: int) -> Call:
        idem = self.key()

        def call(cents: int = cents) -> Coroutine[Any, Any, Receipt]:
            return ledger.do_deposit(
                self.svc,
                target=to,
                amount_cents=cents,
                fee_cents=fee,
                idem=idem,
                facility_id=1,
                reference=None,
                details={"channel": "online"},
            )

        receipt = self.run(call())
        assert receipt.amount_to(to.owner_key) == cents
        assert receipt.amount_to(FEES) == fee
        self.model.move(to.owner_key, cents)
        self.model.move(CLEARING, -(cents + fee))
        self.model.move(FEES, fee)
        self.model.transactions += 1
        return Call(call, lambda: call(cents + 1), receipt.transaction_id)

    @rule(target=calls, to=wallets, cents=amounts)
    def credit(self, to: AccountRef, cents: int) -> Call:
        idem = self.key()

        def call(cents: int = cents) -> Coroutine[Any, Any, Receipt]:
            return ledger.do_credit(
                self.svc, account=to, amount_cents=cents, idem=idem, facility_id=1, reason="care"
            )

        receipt = self.run(call())
        self.model.move(to.owner_key, cents)
        self.model.move(HOUSE, -cents)
        self.model.transactions += 1
        return Call(call, lambda: call(cents + 1), receipt.transaction_id)

    # --- charges ----------------------------------------------------------------------------

    @rule(
        target=charges,
        sender=wallets,
        recipient=wallets,
        fallback=st.booleans(),
        cents=st.integers(min_value=1, max_value=1500),
        revenue=st.sampled_from(REVENUES),
    )
    def charge(
        self,
        sender: AccountRef,
        recipient: AccountRef,
        fallback: bool,
        cents: int,
        revenue: SystemCode,
    ) -> Any:
        payers = [sender, recipient] if fallback else [sender]
        idem = self.key()

        def call(cents: int = cents) -> Coroutine[Any, Any, Receipt]:
            return ledger.do_charge(
                self.svc,
                payers=payers,
                amount_cents=cents,
                revenue=revenue,
                idem=idem,
                facility_id=1,
                memo="Message",
            )

        able = [p.owner_key for p in payers if self.model.of(p.owner_key) >= cents]
        if not able:
            self.expect(InsufficientFunds, call())
            return multiple()
        receipt = self.run(call())
        payer = able[0]
        assert receipt.details["payer"] == payer
        assert receipt.amount_to(payer) == -cents
        self.model.move(payer, -cents)
        self.model.move(system(revenue).owner_key, cents)
        self.model.transactions += 1
        self.charge_ids.add(receipt.transaction_id)
        retry = Call(call, lambda: call(cents + 1), receipt.transaction_id, is_charge=True)
        return ChargeModel(
            receipt.transaction_id, payer, system(revenue).owner_key, cents, call=retry
        )

    @rule(
        target=charges,
        payer=wallets,
        cents=st.integers(min_value=1, max_value=400),
        n=st.integers(min_value=2, max_value=8),
    )
    def racing_charges(self, payer: AccountRef, cents: int, n: int) -> Any:
        """n charges on one wallet at once: exactly as many succeed as the money covers."""

        async def race() -> list[Any]:
            return await asyncio.gather(
                *(
                    ledger.do_charge(
                        self.svc,
                        payers=[payer],
                        amount_cents=cents,
                        revenue=SystemCode.MESSAGE_REVENUE,
                        idem=self.key(),
                        facility_id=1,
                        memo="Message",
                    )
                    for _ in range(n)
                ),
                return_exceptions=True,
            )

        results = self.run(race())
        paid = [r for r in results if isinstance(r, Receipt)]
        refused = [r for r in results if isinstance(r, InsufficientFunds)]
        assert len(paid) + len(refused) == n, results
        assert len(paid) == min(n, self.model.of(payer.owner_key) // cents)
        revenue = system(SystemCode.MESSAGE_REVENUE).owner_key
        self.model.move(payer.owner_key, -cents * len(paid))
        self.model.move(revenue, cents * len(paid))
        self.model.transactions += len(paid)
        self.charge_ids.update(r.transaction_id for r in paid)
        return multiple(
            *(ChargeModel(r.transaction_id, payer.owner_key, revenue, cents) for r in paid)
        )

    @rule(charge=charges, data=st.data())
    def refund(self, charge: ChargeModel, data: st.DataObject) -> None:
        cents = data.draw(st.integers(min_value=1, max_value=charge.amount + 1), label="refund")
        idem = self.key()
        call = ledger.do_refund(
            self.svc, charge_id=charge.id, amount_cents=cents, idem=idem, reason="t"
        )
        if cents > charge.amount - charge.refunded:
            self.expect(BadRequest, call)
            return
        receipt = self.run(call)
        assert receipt.amount_to(charge.payer) == cents
        charge.refunded += cents
        self.model.move(charge.payer, cents)
        self.model.move(charge.revenue, -cents)
        self.model.transactions += 1

    @rule(call=calls)
    def refund_of_something_else_is_not_found(self, call: Call) -> None:
        if call.is_charge:
            return
        self.expect(
            NotFound,
            ledger.do_refund(
                self.svc, charge_id=call.result_id, amount_cents=1, idem=self.key(), reason="t"
            ),
        )

    # --- holds ------------------------------------------------------------------------------

    @rule(target=holds, payer=wallets, cents=st.integers(min_value=1, max_value=2000))
    def hold(self, payer: AccountRef, cents: int) -> Any:
        idem = self.key()

        def call(cents: int = cents) -> Coroutine[Any, Any, ledger.HoldView]:
            return ledger.do_hold(
                self.svc, payer=payer, amount_cents=cents, idem=idem, facility_id=1, memo="Visit"
            )

        if self.model.of(payer.owner_key) < cents:
            self.expect(InsufficientFunds, call())
            return multiple()
        view = self.run(call())
        assert (view.amount_cents, view.status, view.owner_key) == (cents, "open", payer.owner_key)
        self.model.move(payer.owner_key, -cents)
        self.model.move(HOLDS, cents)
        self.model.transactions += 1
        held = HeldModel(
            view.id, payer.owner_key, cents, call=Call(call, lambda: call(cents + 1), view.id)
        )
        self.all_holds.append(held)
        self.check_balances(payer)
        return held

    @rule(
        payer=wallets,
        cents=st.integers(min_value=1, max_value=2000),
        used=st.floats(min_value=0, max_value=1),
    )
    def visit(self, payer: AccountRef, cents: int, used: float) -> None:
        """A visit's story in one step: hold the block's price, then capture what was used."""
        held = self.hold(payer, cents)
        if isinstance(held, HeldModel):
            captured = int(held.amount * used)
            receipt = self.run(
                ledger.do_capture(
                    self.svc,
                    hold_id=held.id,
                    capture_cents=captured,
                    revenue=SystemCode.VISIT_REVENUE,
                    idem=self.key(),
                    memo="Visit",
                )
            )
            assert receipt.amount_to(VISITS) == captured
            self.settle(held, captured)

    @rule(target=calls, held=holds, data=st.data())
    def capture(self, held: HeldModel, data: st.DataObject) -> Any:
        cents = data.draw(st.integers(min_value=0, max_value=held.amount + 1), label="capture")
        idem = self.key()

        def call(cents: int = cents) -> Coroutine[Any, Any, Receipt]:
            return ledger.do_capture(
                self.svc,
                hold_id=held.id,
                capture_cents=cents,
                revenue=SystemCode.VISIT_REVENUE,
                idem=idem,
                memo="Visit",
            )

        if not held.open:
            assert self.expect(Conflict, call()).code == "hold_settled"
            return multiple()
        if cents > held.amount:
            self.expect(BadRequest, call())
            return multiple()
        receipt = self.run(call())
        self.settle(held, cents)
        return Call(call, lambda: call(cents + 1), receipt.transaction_id)

    @rule(target=calls, held=holds)
    def release(self, held: HeldModel) -> Any:
        idem = self.key()

        def call() -> Coroutine[Any, Any, Receipt]:
            return ledger.do_release(self.svc, hold_id=held.id, idem=idem, memo="Cancelled")

        def different() -> Coroutine[Any, Any, Receipt]:
            return ledger.do_capture(
                self.svc,
                hold_id=held.id,
                capture_cents=1,
                revenue=SystemCode.VISIT_REVENUE,
                idem=idem,
                memo="Visit",
            )

        if not held.open:
            assert self.expect(Conflict, call()).code == "hold_settled"
            return multiple()
        receipt = self.run(call())
        assert receipt.amount_to(held.payer) == held.amount
        self.settle(held, 0)
        return Call(call, different, receipt.transaction_id)

    def settle(self, held: HeldModel, captured: int) -> None:
        held.open = False
        self.model.move(HOLDS, -held.amount)
        self.model.move(VISITS, captured)
        self.model.move(held.payer, held.amount - captured)
        self.model.transactions += 1
        self.check_balances(wallet_of(held.payer))

    def check_balances(self, wallet: AccountRef) -> None:
        """balances() shows the available money and, separately, what is on hold."""
        owner = (
            {"family_account_id": wallet.family_account_id}
            if wallet.family_account_id is not None
            else {"resident_id": wallet.resident_id}
        )
        [mine] = [
            b
            for b in self.run(ledger.balances(self.svc, **owner))
            if b.owner_key == wallet.owner_key
        ]
        held = sum(h.amount for h in self.all_holds if h.open and h.payer == wallet.owner_key)
        assert (mine.balance_cents, mine.held_cents) == (self.model.of(wallet.owner_key), held)

    # --- retries and bad input --------------------------------------------------------------

    @rule(done=st.one_of(calls, charges, holds))
    def retry_returns_the_first_result_and_moves_nothing(self, done: Done) -> None:
        call = done if isinstance(done, Call) else done.call
        if call is None:
            return
        again = self.run(call.again())
        if isinstance(again, Receipt):
            assert again.replayed and again.transaction_id == call.result_id
        else:
            assert again.id == call.result_id

    @rule(done=st.one_of(calls, charges, holds))
    def same_key_for_another_request_is_refused(self, done: Done) -> None:
        call = done if isinstance(done, Call) else done.call
        if call is not None:
            assert self.expect(Conflict, call.different()).code == "idempotency_key_reused"

    @rule(to=wallets, cents=st.sampled_from(BAD_AMOUNTS))
    def bad_amounts_are_refused(self, to: AccountRef, cents: Any) -> None:
        self.expect(
            BadRequest,
            ledger.do_charge(
                self.svc,
                payers=[to],
                amount_cents=cents,
                revenue=SystemCode.MESSAGE_REVENUE,
                idem=self.key(),
                facility_id=1,
                memo="Message",
            ),
        )
        self.expect(
            BadRequest,
            ledger.do_deposit(
                self.svc,
                target=to,
                amount_cents=cents,
                fee_cents=0,
                idem=self.key(),
                facility_id=1,
                reference=None,
                details={},
            ),
        )

    # --- what must hold after every step ----------------------------------------------------

    @invariant()
    def the_tables_agree_with_the_model(self) -> None:
        state = self.run(ledger_state(self.db))  # asserts the per-table guarantees itself
        assert state.transactions == self.model.transactions
        for owner_key in set(state.balances) | set(self.model.balances):
            assert state.balances.get(owner_key, 0) == self.model.of(owner_key), owner_key


def wallet_of(owner_key: str) -> AccountRef:
    [wallet] = [w for w in WALLETS if w.owner_key == owner_key]
    return wallet


def run_machine(url: str, **limits: Any) -> None:
    asyncio.run(prepare(url))

    class Machine(LedgerMachine):
        database_url = url

    run_state_machine_as_test(
        Machine,
        settings=settings(
            deadline=None,
            derandomize=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            **limits,
        ),
    )


def test_ledger_state_machine_on_sqlite(tmp_path: Path) -> None:
    run_machine(
        f"sqlite+aiosqlite:///{tmp_path}/ledger.db", max_examples=25, stateful_step_count=30
    )


@pytest.mark.services
def test_ledger_state_machine_on_postgresql(postgres_url: str | None) -> None:
    url = need_service(postgres_url, "test_database")
    run_machine(url, max_examples=8, stateful_step_count=25)
