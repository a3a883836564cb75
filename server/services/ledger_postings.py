"""The ledger's write path: idempotency keys, accounts, and the one way a balanced
transaction is written (`post_in` / `write`). The operations built on it, and the API other
capabilities call, are in `server.services.ledger`; import from there.

How the guarantees are kept:
- Postings of a transaction sum to zero (checked before anything is written).
- A user balance never goes negative: each leg is one conditional UPDATE
  (`... WHERE balance + amount >= 0`), so concurrent spends on one wallet serialise on the row
  and the loser sees "not enough money", on SQLite and PostgreSQL alike.
- No deadlocks on PostgreSQL: every transaction locks accounts in one global order, the
  person's account first (an operation touches at most one), then the house's accounts by
  name (`_lock_order`); an account is opened on first use at its place in that order. Refunds
  and captures lock their charge or hold before any account. On SQLite the database has one
  writer at a time; the operations that decide on what they read (refund, capture) take the
  write lock before reading (`serialise_writers`, server/storage/db.py).
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

from sqlalchemy import insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.ledger import AccountKind, AccountRef, TransactionKind
from server.domain.money import MAX_CENTS, balanced
from server.domain.party import Party
from server.errors import BadRequest, Conflict, NotFound, PaymentRequired
from server.services.context import Services
from server.services.events import append_in
from server.storage.models import (
    FamilyAccount,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Resident,
)

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


def check_cents_or_zero(cents: int, *, field: str) -> int:
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise BadRequest(f"{field} must be a whole number of cents.")
    if cents < 0:
        raise BadRequest(f"{field} must be zero or more.")
    if cents > MAX_CENTS:
        raise BadRequest(f"{field} must be at most {MAX_CENTS} cents.")
    return cents


# --- accounts -----------------------------------------------------------------------------


async def _ids_of(tx: AsyncSession, refs: Sequence[AccountRef]) -> dict[str, int]:
    """The ids of those of `refs` whose accounts exist, by owner key (one query)."""
    rows = await tx.execute(
        select(LedgerAccount.owner_key, LedgerAccount.id).where(
            LedgerAccount.owner_key.in_({ref.owner_key for ref in refs})
        )
    )
    return {owner_key: account_id for owner_key, account_id in rows}


async def ensure_account(tx: AsyncSession, ref: AccountRef, *, now: datetime) -> int:
    """The account's id, creating it on first use (two racing creators agree on one row).
    NotFound if the family account or resident it belongs to does not exist."""
    found = (await _ids_of(tx, [ref])).get(ref.owner_key)
    return found if found is not None else await _create_account(tx, ref, now=now)


async def _create_account(tx: AsyncSession, ref: AccountRef, *, now: datetime) -> int:
    # The owner is checked here rather than left to the foreign key: a violation would be a
    # 500, and on PostgreSQL it would also abort the caller's transaction.
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
    upsert = pg_insert if tx.get_bind().dialect.name == "postgresql" else sqlite_insert
    await tx.execute(
        upsert(LedgerAccount).values(**values).on_conflict_do_nothing(index_elements=["owner_key"])
    )
    found = (await _ids_of(tx, [ref])).get(ref.owner_key)
    assert found is not None
    return found


async def _move(tx: AsyncSession, ref: AccountRef, amount: int) -> tuple[int, int] | None:
    """Add `amount` (negative to take) unless that would overdraw: the account's id and new
    balance, or None. One conditional UPDATE, which also locks the row until commit."""
    result = await tx.execute(
        update(LedgerAccount)
        .where(
            LedgerAccount.owner_key == ref.owner_key,
            or_(
                LedgerAccount.may_go_negative.is_(True),
                LedgerAccount.balance_cents + amount >= 0,
            ),
        )
        .values(balance_cents=LedgerAccount.balance_cents + amount)
        .returning(LedgerAccount.id, LedgerAccount.balance_cents)
        .execution_options(synchronize_session=False)
    )
    row = result.one_or_none()
    return None if row is None else (row[0], row[1])


async def _move_or_open(
    tx: AsyncSession, ref: AccountRef, amount: int, *, now: datetime
) -> tuple[int, int] | None:
    """`_move`, opening the account on first use when it receives (or may go negative)."""
    moved = await _move(tx, ref, amount)
    if moved is None and (amount >= 0 or ref.may_go_negative):
        await _create_account(tx, ref, now=now)
        moved = await _move(tx, ref, amount)
        assert moved is not None
    return moved


# --- the one way a transaction is written -------------------------------------------------


async def receipt_for_key(tx: AsyncSession, idem: Idempotency) -> Receipt | None:
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


def _lock_order(ref: AccountRef) -> tuple[bool, str]:
    """The one order in which every transaction locks (or creates) accounts, so that two
    transactions never wait for each other in a circle: the person's account first (an
    operation touches at most one), then the house's accounts by name."""
    return (ref.kind is AccountKind.SYSTEM, ref.owner_key)


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
    return await write(
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


async def write(
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
    replay_first: bool = True,
) -> Receipt:
    """`post_in` for the ledger's own operations, whose `idem` is already bound to the money
    they move (`Idempotency.bound`). With `replay_first=False` a used
    key is found only by the unique constraint (an IntegrityError): one query less for the
    callers that own their transaction and read the first result after rolling back."""
    if not legs or not balanced(leg.amount_cents for leg in legs):
        raise AssertionError("postings must be present and sum to zero")
    if alternatives and legs[0].amount_cents >= 0:
        raise AssertionError("the leg with alternative payers must take money")
    if replay_first:
        replay = await receipt_for_key(tx, idem)
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
    # The key is claimed before any money moves: a racing twin with the same key waits here
    # (on the unique index) and then fails, instead of spending the same money a second time.
    # Core statements rather than the unit of work: this is the hot path of every payment.
    txn_id: int | None = await tx.scalar(
        insert(LedgerTransaction)
        .values(
            kind=txn.kind,
            facility_id=txn.facility_id,
            created_at=txn.created_at,
            idem_scope=txn.idem_scope,
            idem_key=txn.idem_key,
            request_hash=txn.request_hash,
            reference=txn.reference,
            corrects_id=txn.corrects_id,
            memo=txn.memo,
            details=txn.details,
        )
        .returning(LedgerTransaction.id)
    )
    assert txn_id is not None
    txn.id = txn_id

    paying = legs[0] if alternatives else None
    fixed = legs[1:] if alternatives else legs
    posted: list[tuple[int, _Posted]] = []
    if paying is not None:
        for ref in (paying.account, *alternatives):
            moved = await _move(tx, ref, paying.amount_cents)  # no account: nothing to pay with
            if moved is not None:
                account_id, after = moved
                posted.append(
                    (account_id, _Posted(ref.owner_key, ref.kind, paying.amount_cents, after))
                )
                break
        else:
            raise InsufficientFunds("Neither party has enough money to pay for this.")
    for leg in sorted(fixed, key=lambda leg: _lock_order(leg.account)):
        moved = await _move_or_open(tx, leg.account, leg.amount_cents, now=now)
        if moved is None:
            raise InsufficientFunds("There is not enough money to pay for this.")
        account_id, after = moved
        posted.append(
            (account_id, _Posted(leg.account.owner_key, leg.account.kind, leg.amount_cents, after))
        )
    await tx.execute(
        insert(LedgerPosting),
        [
            {
                "transaction_id": txn.id,
                "account_id": account_id,
                "amount_cents": p.amount_cents,
                "balance_after_cents": p.balance_after_cents,
            }
            for account_id, p in posted
        ],
    )
    for account_id, p in posted:
        owner = _owner_of(p)
        if owner is not None:
            await append_in(
                tx,
                recipients=[owner],
                type="wallet.updated",
                data={
                    "account_id": account_id,
                    "account_kind": str(p.kind),
                    "balance_cents": p.balance_after_cents,
                    "amount_cents": p.amount_cents,
                    "transaction_id": txn.id,
                    "transaction_kind": txn.kind,
                },
                now=now,
            )
    return _receipt_of(txn, [p for _, p in posted], replayed=False)


def _owner_of(p: _Posted) -> Party | None:
    """Who sees a change to this account in their event stream (nobody, for the house's)."""
    return Party.owning_key(p.owner_key)


async def receipt_after_race(svc: Services, idem: Idempotency) -> Receipt | None:
    """After an IntegrityError: the receipt of a racing twin with the same key, which has
    committed by now (None if the error had another cause)."""
    async with svc.db.read() as tx:
        return await receipt_for_key(tx, idem)


async def post(svc: Services, **kwargs: Any) -> Receipt:
    """`write` in a transaction of its own; a lost race on the key returns the winner's."""
    try:
        async with svc.db.transaction() as tx:
            return await write(tx, now=svc.clock.now(), replay_first=False, **kwargs)
    except IntegrityError:
        replay = await receipt_after_race(svc, kwargs["idem"])
        if replay is None:
            raise
        return replay
