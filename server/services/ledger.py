"""The ledger: every movement of money, in double entry, exactly once per idempotency key.

The API other capabilities call: `do_deposit`, `do_charge` (and `charge_in` inside the
caller's own transaction, for "store the message and charge for it" in one commit),
`do_hold` / `do_capture` / `do_release`, `do_refund`, `do_credit`, `balances`, `statement`.

How the guarantees are kept:
- Postings of a transaction sum to zero (checked before anything is written).
- A user balance never goes negative: each leg is one conditional UPDATE
  (`... WHERE balance + amount >= 0`), so concurrent spends on one wallet serialise on the row
  and the loser sees "not enough money", on SQLite and PostgreSQL alike.
- Each (scope, key) moves money at most once: the unique constraint on the transaction row
  decides races; a retry with the same request gets the first receipt back, a different
  request with the same key gets 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
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
from server.storage.models import Hold, LedgerAccount, LedgerPosting, LedgerTransaction

KEY_REUSED = "This idempotency key was already used for a different request."


class InsufficientFunds(PaymentRequired):
    code = "insufficient_funds"


@dataclass(frozen=True)
class Idempotency:
    """Who is asking (`scope`, e.g. "family:12"), their key, and a digest of the request."""

    scope: str
    key: str
    request: dict[str, Any]

    @property
    def request_hash(self) -> str:
        canonical = json.dumps(self.request, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


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
    details: dict[str, Any]
    postings: tuple[PostingView, ...]
    replayed: bool = False  # True when a retry returned the first result

    def amount_to(self, owner_key: str) -> int:
        return sum(p.amount_cents for p in self.postings if p.owner_key == owner_key)


def check_amount(cents: int, *, field: str = "amount_cents") -> int:
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise BadRequest(f"{field} must be a whole number of cents.")
    if cents <= 0:
        raise BadRequest(f"{field} must be more than zero.")
    if cents > MAX_CENTS:
        raise BadRequest(f"{field} must be at most {MAX_CENTS} cents.")
    return cents


# --- accounts -----------------------------------------------------------------------------


async def ensure_account(tx: AsyncSession, ref: AccountRef, *, now: datetime) -> int:
    """The account's id, creating it on first use (two racing creators agree on one row)."""
    found = await tx.scalar(
        select(LedgerAccount.id).where(LedgerAccount.owner_key == ref.owner_key)
    )
    if found is not None:
        return found
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
    found = await tx.scalar(
        select(LedgerAccount.id).where(LedgerAccount.owner_key == ref.owner_key)
    )
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
    )
    balance: int | None = result.scalar_one_or_none()
    return balance


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
    return await _receipt(tx, txn, replayed=True)


async def _receipt(tx: AsyncSession, txn: LedgerTransaction, *, replayed: bool) -> Receipt:
    rows = (
        await tx.execute(
            select(
                LedgerAccount.owner_key,
                LedgerPosting.amount_cents,
                LedgerPosting.balance_after_cents,
            )
            .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
            .where(LedgerPosting.transaction_id == txn.id)
            .order_by(LedgerPosting.id)
        )
    ).all()
    return Receipt(
        transaction_id=txn.id,
        kind=TransactionKind(txn.kind),
        created_at=txn.created_at,
        reference=txn.reference,
        memo=txn.memo,
        details=txn.details,
        postings=tuple(PostingView(k, a, b) for k, a, b in rows),
        replayed=replayed,
    )


@dataclass(frozen=True)
class Leg:
    account: AccountRef
    amount_cents: int


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
    when no payer can, and Conflict for a reused key; the caller's transaction then rolls back.
    """
    if not legs or not balanced(leg.amount_cents for leg in legs):
        raise AssertionError("postings must be present and sum to zero")
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
    await tx.flush()  # a racing twin with the same key fails here, on the unique constraint

    first, rest = legs[0], legs[1:]
    payer, balance = None, None
    for candidate in (first.account, *alternatives):
        account_id = await ensure_account(tx, candidate, now=now)
        balance = await _move(tx, account_id, first.amount_cents)
        if balance is not None:
            payer = (candidate, account_id)
            break
    if payer is None or balance is None:
        raise InsufficientFunds(
            "There is not enough money to pay for this."
            if not alternatives
            else "Neither party has enough money to pay for this."
        )
    if alternatives:
        txn.details = {**txn.details, "payer": payer[0].owner_key}
    postings = [(payer[1], first.amount_cents, balance)]
    # Lock the remaining rows in one order everywhere, so two transactions never deadlock.
    resolved = [(await ensure_account(tx, leg.account, now=now), leg.amount_cents) for leg in rest]
    for account_id, amount in sorted(resolved):
        after = await _move(tx, account_id, amount)
        if after is None:
            raise InsufficientFunds("There is not enough money to pay for this.")
        postings.append((account_id, amount, after))
    for account_id, amount, after in postings:
        tx.add(
            LedgerPosting(
                transaction_id=txn.id,
                account_id=account_id,
                amount_cents=amount,
                balance_after_cents=after,
            )
        )
    await tx.flush()
    return await _receipt(tx, txn, replayed=False)


async def _post(svc: Services, **kwargs: Any) -> Receipt:
    """`post_in` in a transaction of its own; a lost race on the key returns the winner's."""
    idem: Idempotency = kwargs["idem"]
    try:
        async with svc.db.transaction() as tx:
            return await post_in(tx, now=svc.clock.now(), **kwargs)
    except IntegrityError:
        async with svc.db.read() as tx:
            replay = await _replay(tx, idem)
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
    """Money arrived from outside: the target gets `amount`, fee revenue gets `fee`."""
    check_amount(amount_cents)
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
        idem=idem,
        facility_id=facility_id,
        memo=f"Deposit via {details.get('channel', 'unknown')}",
        reference=reference,
        details=details,
    )


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
    """Charge the first payer who can pay, inside the caller's transaction."""
    check_amount(amount_cents)
    if not payers:
        raise AssertionError("a charge needs at least one payer")
    return await post_in(
        tx,
        now=now,
        kind=TransactionKind.CHARGE,
        legs=[Leg(payers[0], -amount_cents), Leg(system(revenue), amount_cents)],
        alternatives=payers[1:],
        idem=idem,
        facility_id=facility_id,
        memo=memo,
        details=details,
    )


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
    check_amount(amount_cents)
    return await _post(
        svc,
        kind=TransactionKind.CHARGE,
        legs=[Leg(payers[0], -amount_cents), Leg(system(revenue), amount_cents)],
        alternatives=tuple(payers[1:]),
        idem=idem,
        facility_id=facility_id,
        memo=memo,
        details=details,
    )


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
    """Set `amount` aside now (it leaves the available balance); capture part of it later."""
    check_amount(amount_cents)
    now = svc.clock.now()
    try:
        async with svc.db.transaction() as tx:
            receipt = await post_in(
                tx,
                now=now,
                kind=TransactionKind.HOLD,
                legs=[Leg(payer, -amount_cents), Leg(system(SystemCode.VISIT_HOLDS), amount_cents)],
                idem=idem,
                facility_id=facility_id,
                memo=memo,
                details=details,
            )
            existing = await tx.scalar(
                select(Hold).where(Hold.transaction_id == receipt.transaction_id)
            )
            if existing is None:
                account_id = await ensure_account(tx, payer, now=now)
                existing = Hold(
                    account_id=account_id,
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
            replay = await _replay(tx, idem)
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
    """Settle a hold: `capture` goes to revenue, the rest back to the payer. Once only."""
    if isinstance(capture_cents, bool) or not isinstance(capture_cents, int) or capture_cents < 0:
        raise BadRequest("capture_cents must be a whole number of cents, zero or more.")
    now = svc.clock.now()
    try:
        async with svc.db.transaction() as tx:
            replay = await _replay(tx, idem)
            if replay is not None:
                return replay
            hold = await tx.scalar(select(Hold).where(Hold.id == hold_id).with_for_update())
            if hold is None:
                raise NotFound("No such hold.")
            if hold.status != "open":
                raise Conflict("This hold is already settled.", code="hold_settled")
            if capture_cents > hold.amount_cents:
                raise BadRequest("Cannot capture more than was held.")
            # Conditional settle: two capturers of one hold, exactly one wins.
            won = await tx.execute(
                update(Hold)
                .where(Hold.id == hold.id, Hold.status == "open")
                .values(status="settled", captured_cents=capture_cents, settled_at=now)
            )
            if getattr(won, "rowcount", 0) != 1:
                raise Conflict("This hold is already settled.", code="hold_settled")
            payer = await tx.get(LedgerAccount, hold.account_id)
            assert payer is not None
            payer_ref = _ref_of(payer)
            release = hold.amount_cents - capture_cents
            legs = [Leg(system(SystemCode.VISIT_HOLDS), -hold.amount_cents)]
            if capture_cents:
                legs.append(Leg(system(revenue), capture_cents))
            if release:
                legs.append(Leg(payer_ref, release))
            hold_txn = await tx.get(LedgerTransaction, hold.transaction_id)
            return await post_in(
                tx,
                now=now,
                kind=TransactionKind.CAPTURE,
                legs=legs,
                idem=idem,
                facility_id=hold_txn.facility_id if hold_txn else None,
                memo=memo,
                corrects_id=hold.transaction_id,
                details={"hold_id": hold.id, "captured": capture_cents, "released": release},
            )
    except IntegrityError:
        async with svc.db.read() as tx:
            replay = await _replay(tx, idem)
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
    refunded for one charge never exceeds the charge."""
    check_amount(amount_cents)
    now = svc.clock.now()
    try:
        async with svc.db.transaction() as tx:
            replay = await _replay(tx, idem)
            if replay is not None:
                return replay
            original = await tx.scalar(
                select(LedgerTransaction).where(LedgerTransaction.id == charge_id).with_for_update()
            )
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
            if amount_cents > charged - int(already or 0):
                raise BadRequest(
                    f"At most {charged - int(already or 0)} cents of this charge can still be "
                    "refunded."
                )
            return await post_in(
                tx,
                now=now,
                kind=TransactionKind.REFUND,
                legs=[
                    Leg(_ref_of(earned[0][1]), -amount_cents),
                    Leg(_ref_of(paid[0][1]), amount_cents),
                ],
                idem=idem,
                facility_id=original.facility_id,
                memo=f"Refund: {reason}",
                corrects_id=original.id,
                details={"reason": reason, **(details or {})},
            )
    except IntegrityError:
        async with svc.db.read() as tx:
            replay = await _replay(tx, idem)
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
        idem=idem,
        facility_id=facility_id,
        memo=f"Credit: {reason}",
        details={"reason": reason, **(details or {})},
    )


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    account_id: int
    owner_key: str
    kind: AccountKind
    balance_cents: int
    held_cents: int
    phone: str | None
    resident_id: int | None


async def balances(
    svc: Services, *, family_account_id: int | None = None, resident_id: int | None = None
) -> list[Balance]:
    """Every account the person owns, with money on hold for it shown separately."""
    stmt = select(LedgerAccount)
    if family_account_id is not None:
        stmt = stmt.where(LedgerAccount.family_account_id == family_account_id)
    else:
        stmt = stmt.where(LedgerAccount.resident_id == resident_id)
    async with svc.db.read() as tx:
        accounts = (await tx.scalars(stmt.order_by(LedgerAccount.id))).all()
        held = dict(
            (
                await tx.execute(
                    select(Hold.account_id, func.sum(Hold.amount_cents))
                    .where(Hold.status == "open", Hold.account_id.in_([a.id for a in accounts]))
                    .group_by(Hold.account_id)
                )
            ).all()
        )
    return [
        Balance(
            account_id=a.id,
            owner_key=a.owner_key,
            kind=AccountKind(a.kind),
            balance_cents=a.balance_cents,
            held_cents=int(held.get(a.id, 0)),
            phone=a.phone,
            resident_id=a.resident_id,
        )
        for a in accounts
    ]


@dataclass(frozen=True)
class StatementLine:
    posting_id: int
    transaction_id: int
    at: datetime
    kind: TransactionKind
    memo: str
    amount_cents: int
    balance_after_cents: int
    reference: str | None


async def statement(
    svc: Services,
    *,
    account_id: int,
    before: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[StatementLine]:
    """Newest first, paged by posting id (`before`), optionally between two instants."""
    stmt = (
        select(LedgerPosting, LedgerTransaction)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(LedgerPosting.account_id == account_id)
        .order_by(LedgerPosting.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(LedgerPosting.id < before)
    if since is not None:
        stmt = stmt.where(LedgerTransaction.created_at >= since)
    if until is not None:
        stmt = stmt.where(LedgerTransaction.created_at < until)
    async with svc.db.read() as tx:
        rows = (await tx.execute(stmt)).all()
    return [
        StatementLine(
            posting_id=p.id,
            transaction_id=t.id,
            at=t.created_at,
            kind=TransactionKind(t.kind),
            memo=t.memo,
            amount_cents=p.amount_cents,
            balance_after_cents=p.balance_after_cents,
            reference=t.reference,
        )
        for p, t in rows
    ]


async def account_ids_of(svc: Services, *, owner_keys: Sequence[str]) -> dict[str, int]:
    async with svc.db.read() as tx:
        rows = (
            await tx.execute(
                select(LedgerAccount.owner_key, LedgerAccount.id).where(
                    LedgerAccount.owner_key.in_(list(owner_keys))
                )
            )
        ).all()
    return dict((k, i) for k, i in rows)
