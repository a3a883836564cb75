"""The ledger: every movement of money, in double entry, exactly once per idempotency key.

The API other capabilities call: `do_deposit`, `do_charge` (and `charge_in` inside the
caller's own transaction, for "store the message and charge for it" in one commit),
`do_hold` / `do_capture` / `do_release`, `do_refund`, `do_credit`, and for reading `balances`,
`statement`, `account_ids_of` (in ledger_reads.py, re-exported here).

How the guarantees are kept:
- Postings of a transaction sum to zero (checked before anything is written).
- A user balance never goes negative: each leg is one conditional UPDATE
  (`... WHERE balance + amount >= 0`), so concurrent spends on one wallet serialise on the row
  and the loser sees "not enough money", on SQLite and PostgreSQL alike.
- No deadlocks on PostgreSQL: every transaction changes balances in one global order, the
  person's account first (a transaction touches at most one), then the house's accounts by id.
  Accounts are created before any balance changes. Refunds and captures lock their charge or
  hold first. On SQLite the database has one writer at a time; the operations that decide on
  what they read (refund, capture) take the write lock before reading (see
  `_serialise_writers`).
- Each (scope, key) moves money at most once: the unique constraint on the transaction row
  decides races; a retry with the same request gets the first receipt back, a different
  request with the same key gets 409. "The same request" means the same operation moving the
  same amounts between the same accounts, and the same caller-supplied `request`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.ledger import (
    AccountKind,
    AccountRef,
    SystemCode,
    TransactionKind,
    system,
)
from server.domain.money import MAX_CENTS, balanced
from server.errors import BadRequest, Conflict, NotFound, PaymentRequired
from server.services.context import Services
from server.services.ledger_reads import (
    Balance,
    StatementLine,
    account_ids_of,
    balances,
    statement,
)
from server.storage.models import (
    FamilyAccount,
    Hold,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Resident,
)

__all__ = [
    "Balance",
    "HoldView",
    "Idempotency",
    "InsufficientFunds",
    "Leg",
    "PostingView",
    "Receipt",
    "StatementLine",
    "account_ids_of",
    "balances",
    "charge_in",
    "check_amount",
    "do_capture",
    "do_charge",
    "do_credit",
    "do_deposit",
    "do_hold",
    "do_refund",
    "do_release",
    "ensure_account",
    "post_in",
    "statement",
]

KEY_REUSED = "This idempotency key was already used for a different request."


class InsufficientFunds(PaymentRequired):
    code = "insufficient_funds"


@dataclass(frozen=True)
class Idempotency:
    """Who is asking (`scope`, e.g. "family:12"), their key, and what they asked (`request`,
    anything JSON-able that identifies the request to the caller)."""

    scope: str
    key: str
    request: dict[str, Any]

    @property
    def request_hash(self) -> str:
        canonical = json.dumps(self.request, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def bound(self, operation: str, **money: Any) -> Idempotency:
        """This key for one ledger operation: the fingerprint covers the operation and the
        accounts and amounts it moves, not only the caller's `request`, so that a key reused
        for another amount or another payer is a conflict and never replays the wrong receipt."""
        return Idempotency(
            self.scope, self.key, {"op": operation, "money": money, "request": self.request}
        )


@dataclass(frozen=True)
class PostingView:
    owner_key: str
    amount_cents: int
    balance_after_cents: int


@dataclass(frozen=True)
class Receipt:
    transaction_id: int
    kind: TransactionKind
    created_at: datetime
    reference: str | None
    memo: str
    details: dict[str, Any]  # charges and holds: details["payer"] is the paying owner_key
    postings: tuple[PostingView, ...]
    replayed: bool = False  # True when a retry returned the first result

    def amount_to(self, owner_key: str) -> int:
        return sum(p.amount_cents for p in self.postings if p.owner_key == owner_key)


def check_amount(cents: int, *, field: str = "amount_cents") -> int:
    """A positive whole number of cents, at most MAX_CENTS (bool and float are refused)."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise BadRequest(f"{field} must be a whole number of cents.")
    if cents <= 0:
        raise BadRequest(f"{field} must be more than zero.")
    if cents > MAX_CENTS:
        raise BadRequest(f"{field} must be at most {MAX_CENTS} cents.")
    return cents


def _check_cents_or_zero(cents: int, *, field: str) -> int:
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise BadRequest(f"{field} must be a whole number of cents.")
    if cents < 0:
        raise BadRequest(f"{field} must be zero or more.")
    if cents > MAX_CENTS:
        raise BadRequest(f"{field} must be at most {MAX_CENTS} cents.")
    return cents


# --- accounts -----------------------------------------------------------------------------


async def _account_id(tx: AsyncSession, ref: AccountRef) -> int | None:
    found: int | None = await tx.scalar(
        select(LedgerAccount.id).where(LedgerAccount.owner_key == ref.owner_key)
    )
    return found


async def ensure_account(tx: AsyncSession, ref: AccountRef, *, now: datetime) -> int:
    """The account's id, creating it on first use (two racing creators agree on one row).
    NotFound if the family account or resident it belongs to does not exist."""
    found = await _account_id(tx, ref)
    if found is not None:
        return found
    # Checked here rather than left to the foreign key: a violation would be a 500, and on
    # PostgreSQL it would also abort the caller's transaction.
    if ref.family_account_id is not None and (
        await tx.scalar(select(FamilyAccount.id).where(FamilyAccount.id == ref.family_account_id))
        is None
    ):
        raise NotFound("No such account.")
    if ref.resident_id is not None and (
        await tx.scalar(select(Resident.id).where(Resident.id == ref.resident_id)) is None
    ):
        raise NotFound("No such account.")
    values = {
        "owner_key": ref.owner_key,
        "kind": ref.kind.value,
        "family_account_id": ref.family_account_id,
        "resident_id": ref.resident_id,
        "phone": ref.phone,
        "balance_cents": 0,
        "may_go_negative": ref.may_go_negative,
        "created_at": now,
    }
    # INSERT .. ON CONFLICT DO NOTHING (both dialects): no savepoint, no aborted transaction.
    insert = pg_insert if tx.get_bind().dialect.name == "postgresql" else sqlite_insert
    await tx.execute(
        insert(LedgerAccount).values(**values).on_conflict_do_nothing(index_elements=["owner_key"])
    )
    found = await _account_id(tx, ref)
    assert found is not None
    return found


async def _move(tx: AsyncSession, account_id: int, amount: int) -> int | None:
    """Add `amount` (negative to take) unless that would overdraw; the new balance or None."""
    result = await tx.execute(
        update(LedgerAccount)
        .where(
            LedgerAccount.id == account_id,
            or_(
                LedgerAccount.may_go_negative.is_(True),
                LedgerAccount.balance_cents + amount >= 0,
            ),
        )
        .values(balance_cents=LedgerAccount.balance_cents + amount)
        .returning(LedgerAccount.balance_cents)
        .execution_options(synchronize_session=False)
    )
    balance: int | None = result.scalar_one_or_none()
    return balance


async def _serialise_writers(tx: AsyncSession) -> None:
    """On SQLite, take the database's write lock now (what BEGIN IMMEDIATE does).

    The SQLite driver begins the transaction only at the first write, so without this the
    reads an operation decides on (what was refunded already, whether a hold is open, whether
    the key was used) would run outside the transaction and could be stale by the time it
    writes. PostgreSQL needs nothing here: those operations lock their row instead.
    """
    if tx.get_bind().dialect.name == "sqlite":
        await tx.execute(
            update(LedgerAccount)
            .where(false())
            .values(balance_cents=LedgerAccount.balance_cents)
            .execution_options(synchronize_session=False)
        )


# --- the one way a transaction is written -------------------------------------------------


async def _replay(tx: AsyncSession, idem: Idempotency) -> Receipt | None:
    """The first result for this key, if the key was used; 409 if for another request."""
    txn = await tx.scalar(
        select(LedgerTransaction).where(
            LedgerTransaction.idem_scope == idem.scope, LedgerTransaction.idem_key == idem.key
        )
    )
    if txn is None:
        return None
    if txn.request_hash != idem.request_hash:
        raise Conflict(KEY_REUSED, code="idempotency_key_reused")
    rows = (
        await tx.execute(
            select(
                LedgerAccount.owner_key,
                LedgerAccount.kind,
                LedgerPosting.amount_cents,
                LedgerPosting.balance_after_cents,
            )
            .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
            .where(LedgerPosting.transaction_id == txn.id)
            .order_by(LedgerPosting.id)
        )
    ).all()
    return _receipt_of(txn, [_Posted(k, kind, a, b) for k, kind, a, b in rows], replayed=True)


@dataclass(frozen=True)
class _Posted:
    owner_key: str
    kind: str
    amount_cents: int
    balance_after_cents: int


def _receipt_of(txn: LedgerTransaction, posted: Sequence[_Posted], *, replayed: bool) -> Receipt:
    details = dict(txn.details)
    if txn.kind in (TransactionKind.CHARGE.value, TransactionKind.HOLD.value):
        # Who paid is read off the postings rather than stored, so it cannot disagree with them.
        payers = [
            p.owner_key for p in posted if p.amount_cents < 0 and p.kind != AccountKind.SYSTEM
        ]
        if payers:
            details["payer"] = payers[0]
    return Receipt(
        transaction_id=txn.id,
        kind=TransactionKind(txn.kind),
        created_at=txn.created_at,
        reference=txn.reference,
        memo=txn.memo,
        details=details,
        postings=tuple(
            PostingView(p.owner_key, p.amount_cents, p.balance_after_cents) for p in posted
        ),
        replayed=replayed,
    )


@dataclass(frozen=True)
class Leg:
    account: AccountRef
    amount_cents: int


def _lock_order(leg: Leg, account_id: int) -> tuple[bool, int]:
    return (leg.account.kind is AccountKind.SYSTEM, account_id)


async def post_in(
    tx: AsyncSession,
    *,
    now: datetime,
    kind: TransactionKind,
    legs: Sequence[Leg],
    idem: Idempotency,
    facility_id: int | None,
    memo: str,
    reference: str | None = None,
    corrects_id: int | None = None,
    details: dict[str, Any] | None = None,
    alternatives: Sequence[AccountRef] = (),
) -> Receipt:
    """Write one balanced transaction inside the caller's database transaction.

    `legs[0]` is the paying leg; when it cannot pay, each of `alternatives` is tried in turn
    in its place (the message rule: the sender, else the recipient). Raises InsufficientFunds
    when no payer can, Conflict for a reused key and NotFound for an account whose owner does
    not exist; the caller's transaction must then roll back (let the error propagate). A racing
    twin with the same key surfaces as IntegrityError from here or at commit; `do_*` turn it
    into the first receipt.
    """
    bound = idem.bound(
        kind.value,
        legs=[(leg.account.owner_key, leg.amount_cents) for leg in legs],
        alternatives=[ref.owner_key for ref in alternatives],
    )
    return await _write(
        tx,
        now=now,
        kind=kind,
        legs=legs,
        idem=bound,
        facility_id=facility_id,
        memo=memo,
        reference=reference,
        corrects_id=corrects_id,
        details=details,
        alternatives=alternatives,
    )


async def _write(
    tx: AsyncSession,
    *,
    now: datetime,
    kind: TransactionKind,
    legs: Sequence[Leg],
    idem: Idempotency,
    facility_id: int | None,
    memo: str,
    reference: str | None = None,
    corrects_id: int | None = None,
    details: dict[str, Any] | None = None,
    alternatives: Sequence[AccountRef] = (),
) -> Receipt:
    """`post_in` with `idem` already bound to the operation."""
    if not legs or not balanced(leg.amount_cents for leg in legs):
        raise AssertionError("postings must be present and sum to zero")
    if alternatives and legs[0].amount_cents >= 0:
        raise AssertionError("the leg with alternative payers must take money")
    replay = await _replay(tx, idem)
    if replay is not None:
        return replay
    txn = LedgerTransaction(
        kind=kind.value,
        facility_id=facility_id,
        created_at=now,
        idem_scope=idem.scope,
        idem_key=idem.key,
        request_hash=idem.request_hash,
        reference=reference,
        corrects_id=corrects_id,
        memo=memo,
        details=dict(details or {}),
    )
    tx.add(txn)
    # The key is claimed before any money moves: a racing twin with the same key waits here
    # (on the unique index) and then fails, instead of spending the same money a second time.
    await tx.flush()

    paying = legs[0] if alternatives else None
    fixed = legs[1:] if alternatives else legs
    # Create every receiving account first, in one order (a new row is a lock too) ...
    ids: dict[AccountRef, int] = {}
    for ref in sorted({leg.account for leg in fixed}, key=lambda r: r.owner_key):
        ids[ref] = await ensure_account(tx, ref, now=now)
    posted: list[tuple[int, _Posted]] = []
    # ... then change balances: the person's account first, then the house's by id.
    if paying is not None:
        for ref in (paying.account, *alternatives):
            account_id = await _account_id(tx, ref)
            if account_id is None:
                continue  # no account yet, so nothing to pay with
            after = await _move(tx, account_id, paying.amount_cents)
            if after is not None:
                posted.append(
                    (account_id, _Posted(ref.owner_key, ref.kind, paying.amount_cents, after))
                )
                break
        else:
            raise InsufficientFunds("Neither party has enough money to pay for this.")
    for leg in sorted(fixed, key=lambda leg: _lock_order(leg, ids[leg.account])):
        after = await _move(tx, ids[leg.account], leg.amount_cents)
        if after is None:
            raise InsufficientFunds("There is not enough money to pay for this.")
        posted.append(
            (
                ids[leg.account],
                _Posted(leg.account.owner_key, leg.account.kind, leg.amount_cents, after),
            )
        )
    tx.add_all(
        LedgerPosting(
            transaction_id=txn.id,
            account_id=account_id,
            amount_cents=p.amount_cents,
            balance_after_cents=p.balance_after_cents,
        )
        for account_id, p in posted
    )
    await tx.flush()
    return _receipt_of(txn, [p for _, p in posted], replayed=False)


async def _first_result(svc: Services, idem: Idempotency) -> Receipt | None:
    """After an IntegrityError: the receipt of a racing twin with the same key, which has
    committed by now (None if the error had another cause)."""
    async with svc.db.read() as tx:
        return await _replay(tx, idem)


async def _post(svc: Services, **kwargs: Any) -> Receipt:
    """`_write` in a transaction of its own; a lost race on the key returns the winner's."""
    try:
        async with svc.db.transaction() as tx:
            return await _write(tx, now=svc.clock.now(), **kwargs)
    except IntegrityError:
        replay = await _first_result(svc, kwargs["idem"])
        if replay is None:
            raise
        return replay


# --- the operations -----------------------------------------------------------------------


async def do_deposit(
    svc: Services,
    *,
    target: AccountRef,
    amount_cents: int,
    fee_cents: int,
    idem: Idempotency,
    facility_id: int | None,
    reference: str | None,
    details: dict[str, Any],
) -> Receipt:
    """Money arrived from outside: the target gets `amount`, fee revenue gets `fee`, and
    payment clearing (what the processor owes the house) is debited both."""
    check_amount(amount_cents)
    _check_cents_or_zero(fee_cents, field="fee_cents")
    legs = [
        Leg(system(SystemCode.PAYMENT_CLEARING), -(amount_cents + fee_cents)),
        Leg(target, amount_cents),
    ]
    if fee_cents:
        legs.append(Leg(system(SystemCode.FEE_REVENUE), fee_cents))
    return await _post(
        svc,
        kind=TransactionKind.DEPOSIT,
        legs=legs,
        # Not the processor's reference: a retry after a time-out may carry a new one.
        idem=idem.bound(
            "deposit", target=target.owner_key, amount_cents=amount_cents, fee_cents=fee_cents
        ),
        facility_id=facility_id,
        memo=f"Deposit via {details.get('channel', 'unknown')}",
        reference=reference,
        details=details,
    )


def _charge(
    *,
    payers: Sequence[AccountRef],
    amount_cents: int,
    revenue: SystemCode,
    idem: Idempotency,
    facility_id: int | None,
    memo: str,
    details: dict[str, Any] | None,
) -> dict[str, Any]:
    """The `_write` arguments of a charge (shared by `charge_in` and `do_charge`, so that a
    retry through either finds the other's receipt)."""
    check_amount(amount_cents)
    if not payers:
        raise ValueError("a charge needs at least one payer")
    return {
        "kind": TransactionKind.CHARGE,
        "legs": [Leg(payers[0], -amount_cents), Leg(system(revenue), amount_cents)],
        "alternatives": tuple(payers[1:]),
        "idem": idem.bound(
            "charge",
            payers=[p.owner_key for p in payers],
            amount_cents=amount_cents,
            revenue=revenue.value,
        ),
        "facility_id": facility_id,
        "memo": memo,
        "details": details,
    }


async def charge_in(
    tx: AsyncSession,
    *,
    now: datetime,
    payers: Sequence[AccountRef],
    amount_cents: int,
    revenue: SystemCode,
    idem: Idempotency,
    facility_id: int | None,
    memo: str,
    details: dict[str, Any] | None = None,
) -> Receipt:
    """Charge the first of `payers` who can pay, inside the caller's transaction (see
    `post_in` for the errors; on any of them the caller must roll back)."""
    args = _charge(
        payers=payers,
        amount_cents=amount_cents,
        revenue=revenue,
        idem=idem,
        facility_id=facility_id,
        memo=memo,
        details=details,
    )
    return await _write(tx, now=now, **args)


async def do_charge(
    svc: Services,
    *,
    payers: Sequence[AccountRef],
    amount_cents: int,
    revenue: SystemCode,
    idem: Idempotency,
    facility_id: int | None,
    memo: str,
    details: dict[str, Any] | None = None,
) -> Receipt:
    """Charge the first of `payers` who can pay (the message rule: sender, else recipient);
    `details["payer"]` on the receipt says who did. InsufficientFunds (402) if nobody can."""
    args = _charge(
        payers=payers,
        amount_cents=amount_cents,
        revenue=revenue,
        idem=idem,
        facility_id=facility_id,
        memo=memo,
        details=details,
    )
    return await _post(svc, **args)


@dataclass(frozen=True)
class HoldView:
    id: int
    owner_key: str
    amount_cents: int
    captured_cents: int
    status: str
    created_at: datetime


async def do_hold(
    svc: Services,
    *,
    payer: AccountRef,
    amount_cents: int,
    idem: Idempotency,
    facility_id: int | None,
    memo: str,
    details: dict[str, Any] | None = None,
) -> HoldView:
    """Set `amount` aside now (it leaves the available balance); capture part of it later.
    A retry returns the same hold (in its current state)."""
    check_amount(amount_cents)
    bound = idem.bound("hold", payer=payer.owner_key, amount_cents=amount_cents)
    now = svc.clock.now()
    try:
        async with svc.db.transaction() as tx:
            receipt = await _write(
                tx,
                now=now,
                kind=TransactionKind.HOLD,
                legs=[Leg(payer, -amount_cents), Leg(system(SystemCode.VISIT_HOLDS), amount_cents)],
                idem=bound,
                facility_id=facility_id,
                memo=memo,
                details=details,
            )
            existing = await tx.scalar(
                select(Hold).where(Hold.transaction_id == receipt.transaction_id)
            )
            if existing is None:
                existing = Hold(
                    account_id=await ensure_account(tx, payer, now=now),
                    transaction_id=receipt.transaction_id,
                    amount_cents=amount_cents,
                    captured_cents=0,
                    status="open",
                    created_at=now,
                    settled_at=None,
                )
                tx.add(existing)
                await tx.flush()
            return _hold_view(existing, payer.owner_key)
    except IntegrityError:
        async with svc.db.read() as tx:
            replay = await _replay(tx, bound)
            if replay is None:
                raise
            hold = await tx.scalar(select(Hold).where(Hold.transaction_id == replay.transaction_id))
            assert hold is not None
            return _hold_view(hold, payer.owner_key)


def _hold_view(hold: Hold, owner_key: str) -> HoldView:
    return HoldView(
        id=hold.id,
        owner_key=owner_key,
        amount_cents=hold.amount_cents,
        captured_cents=hold.captured_cents,
        status=hold.status,
        created_at=hold.created_at,
    )


async def do_capture(
    svc: Services,
    *,
    hold_id: int,
    capture_cents: int,
    revenue: SystemCode,
    idem: Idempotency,
    memo: str,
) -> Receipt:
    """Settle a hold: `capture` goes to revenue, the rest back to the payer. Once only:
    409 `hold_settled` for a second settlement, 400 for more than was held."""
    _check_cents_or_zero(capture_cents, field="capture_cents")
    bound = idem.bound(
        "capture", hold_id=hold_id, capture_cents=capture_cents, revenue=revenue.value
    )
    now = svc.clock.now()
    try:
        async with svc.db.transaction() as tx:
            await _serialise_writers(tx)
            hold = await tx.scalar(select(Hold).where(Hold.id == hold_id).with_for_update())
            # After the lock: a racing twin with this key has committed by now.
            replay = await _replay(tx, bound)
            if replay is not None:
                return replay
            if hold is None:
                raise NotFound("No such hold.")
            if hold.status != "open":
                raise Conflict("This hold is already settled.", code="hold_settled")
            if capture_cents > hold.amount_cents:
                raise BadRequest(f"At most {hold.amount_cents} cents can be captured.")
            hold.status = "settled"
            hold.captured_cents = capture_cents
            hold.settled_at = now
            payer = await tx.get(LedgerAccount, hold.account_id)
            assert payer is not None
            release = hold.amount_cents - capture_cents
            legs = [Leg(system(SystemCode.VISIT_HOLDS), -hold.amount_cents)]
            if capture_cents:
                legs.append(Leg(system(revenue), capture_cents))
            if release:
                legs.append(Leg(_ref_of(payer), release))
            hold_txn = await tx.get(LedgerTransaction, hold.transaction_id)
            return await _write(
                tx,
                now=now,
                kind=TransactionKind.CAPTURE,
                legs=legs,
                idem=bound,
                facility_id=hold_txn.facility_id if hold_txn else None,
                memo=memo,
                corrects_id=hold.transaction_id,
                details={"hold_id": hold.id, "captured": capture_cents, "released": release},
            )
    except IntegrityError:
        replay = await _first_result(svc, bound)
        if replay is None:
            raise
        return replay


async def do_release(svc: Services, *, hold_id: int, idem: Idempotency, memo: str) -> Receipt:
    """Give the whole hold back (a visit the facility cancelled, or that never connected)."""
    return await do_capture(
        svc,
        hold_id=hold_id,
        capture_cents=0,
        revenue=SystemCode.VISIT_REVENUE,
        idem=idem,
        memo=memo,
    )


def _ref_of(account: LedgerAccount) -> AccountRef:
    kind = AccountKind(account.kind)
    if kind is AccountKind.SYSTEM:
        return system(SystemCode(account.owner_key.split(":", 1)[1]))
    return AccountRef(
        kind,
        family_account_id=account.family_account_id,
        resident_id=account.resident_id,
        phone=account.phone,
    )


async def do_refund(
    svc: Services,
    *,
    charge_id: int,
    amount_cents: int,
    idem: Idempotency,
    reason: str,
    details: dict[str, Any] | None = None,
) -> Receipt:
    """Give back (part of) a charge to whoever paid it, from the revenue it went to. The total
    refunded for one charge never exceeds the charge (400 beyond it); 404 for anything that is
    not a charge. Whether the actor may refund it is the caller's check."""
    check_amount(amount_cents)
    bound = idem.bound("refund", charge_id=charge_id, amount_cents=amount_cents)
    now = svc.clock.now()
    try:
        async with svc.db.transaction() as tx:
            await _serialise_writers(tx)
            # Refunds of one charge take turns; FOR NO KEY UPDATE still lets rows that merely
            # reference the charge be written meanwhile.
            original = await tx.scalar(
                select(LedgerTransaction)
                .where(LedgerTransaction.id == charge_id)
                .with_for_update(key_share=True)
            )
            replay = await _replay(tx, bound)
            if replay is not None:
                return replay
            if original is None or original.kind != TransactionKind.CHARGE.value:
                raise NotFound("No such charge.")
            rows = (
                await tx.execute(
                    select(LedgerPosting.amount_cents, LedgerAccount)
                    .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
                    .where(LedgerPosting.transaction_id == original.id)
                )
            ).all()
            paid = [(amount, acc) for amount, acc in rows if amount < 0]
            earned = [(amount, acc) for amount, acc in rows if amount > 0]
            assert len(paid) == 1 and len(earned) == 1
            charged = -paid[0][0]
            already = await tx.scalar(
                select(func.coalesce(func.sum(LedgerPosting.amount_cents), 0))
                .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
                .where(
                    LedgerTransaction.corrects_id == original.id,
                    LedgerTransaction.kind == TransactionKind.REFUND.value,
                    LedgerPosting.account_id == paid[0][1].id,
                )
            )
            left = charged - int(already or 0)
            if amount_cents > left:
                raise BadRequest(f"At most {left} cents of this charge can still be refunded.")
            return await _write(
                tx,
                now=now,
                kind=TransactionKind.REFUND,
                legs=[
                    Leg(_ref_of(earned[0][1]), -amount_cents),
                    Leg(_ref_of(paid[0][1]), amount_cents),
                ],
                idem=bound,
                facility_id=original.facility_id,
                memo=f"Refund: {reason}",
                corrects_id=original.id,
                details={"reason": reason, **(details or {})},
            )
    except IntegrityError:
        replay = await _first_result(svc, bound)
        if replay is None:
            raise
        return replay


async def do_credit(
    svc: Services,
    *,
    account: AccountRef,
    amount_cents: int,
    idem: Idempotency,
    facility_id: int | None,
    reason: str,
    details: dict[str, Any] | None = None,
) -> Receipt:
    """A goodwill credit from the house (customer care), with a reason."""
    check_amount(amount_cents)
    return await _post(
        svc,
        kind=TransactionKind.CREDIT,
        legs=[Leg(system(SystemCode.REFUNDS), -amount_cents), Leg(account, amount_cents)],
        idem=idem.bound("credit", account=account.owner_key, amount_cents=amount_cents),
        facility_id=facility_id,
        memo=f"Credit: {reason}",
        details={"reason": reason, **(details or {})},
    )
