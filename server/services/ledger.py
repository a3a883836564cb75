"""The ledger: every movement of money, in double entry, exactly once per idempotency key.

The API other capabilities call: `do_deposit`, `do_charge` (and `charge_in` inside the
caller's own transaction, for "store the message and charge for it" in one commit),
`do_hold` / `do_capture` / `do_release`, `do_refund`, `do_credit`; for reading `balances`,
`statement`, `account_ids_of`. Every name is importable from here; the write path and its
guarantees are described in ledger_postings.py, the reading in ledger_reads.py.

Every operation takes an `Idempotency` (scope, key, request): a retry with the same key and
request returns the first result (`replayed=True`) and moves nothing; the same key for another
request, or for other amounts or accounts, is refused with 409 `idempotency_key_reused`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.ledger import AccountKind, AccountRef, SystemCode, TransactionKind, system
from server.errors import BadRequest, Conflict, NotFound
from server.services.context import Services
from server.services.ledger_postings import (
    KEY_REUSED,
    Idempotency,
    InsufficientFunds,
    Leg,
    PostingView,
    Receipt,
    check_amount,
    check_cents_or_zero,
    ensure_account,
    post,
    post_in,
    receipt_after_race,
    receipt_for_key,
    write,
)
from server.services.ledger_reads import (
    Balance,
    StatementLine,
    account_ids_of,
    available_in,
    balances,
    statement,
)
from server.storage.db import serialise_writers
from server.storage.models import Hold, LedgerAccount, LedgerPosting, LedgerTransaction

__all__ = [
    "KEY_REUSED",
    "Balance",
    "HoldView",
    "Idempotency",
    "InsufficientFunds",
    "Leg",
    "PostingView",
    "Receipt",
    "StatementLine",
    "account_ids_of",
    "available_in",
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
    "refund_in",
    "statement",
]


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
    check_cents_or_zero(fee_cents, field="fee_cents")
    legs = [
        Leg(system(SystemCode.PAYMENT_CLEARING), -(amount_cents + fee_cents)),
        Leg(target, amount_cents),
    ]
    if fee_cents:
        legs.append(Leg(system(SystemCode.FEE_REVENUE), fee_cents))
    return await post(
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
    """The `write` arguments of a charge (shared by `charge_in` and `do_charge`, so that a
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
    return await write(tx, now=now, **args)


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
    return await post(svc, **args)


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
            receipt = await write(
                tx,
                now=now,
                kind=TransactionKind.HOLD,
                legs=[Leg(payer, -amount_cents), Leg(system(SystemCode.VISIT_HOLDS), amount_cents)],
                idem=bound,
                facility_id=facility_id,
                memo=memo,
                details=details,
                replay_first=False,  # a used key fails the insert: the retry is answered below
            )
            hold = Hold(
                account_id=await ensure_account(tx, payer, now=now),
                transaction_id=receipt.transaction_id,
                amount_cents=amount_cents,
                captured_cents=0,
                status="open",
                created_at=now,
                settled_at=None,
            )
            tx.add(hold)
            await tx.flush()
            return _hold_view(hold, payer.owner_key)
    except IntegrityError:
        async with svc.db.read() as tx:
            replay = await receipt_for_key(tx, bound)
            if replay is None:
                raise
            first = await tx.scalar(
                select(Hold).where(Hold.transaction_id == replay.transaction_id)
            )
            assert first is not None
            return _hold_view(first, payer.owner_key)


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
    check_cents_or_zero(capture_cents, field="capture_cents")
    bound = idem.bound(
        "capture", hold_id=hold_id, capture_cents=capture_cents, revenue=revenue.value
    )
    now = svc.clock.now()
    try:
        async with svc.db.transaction(serialised=True) as tx:
            hold = await tx.scalar(select(Hold).where(Hold.id == hold_id).with_for_update())
            # After the lock: a racing twin with this key has committed by now.
            replay = await receipt_for_key(tx, bound)
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
            return await write(
                tx,
                now=now,
                kind=TransactionKind.CAPTURE,
                legs=legs,
                idem=bound,
                facility_id=hold_txn.facility_id if hold_txn else None,
                memo=memo,
                corrects_id=hold.transaction_id,
                details={"hold_id": hold.id, "captured": capture_cents, "released": release},
                replay_first=False,  # checked above, under the hold's lock
            )
    except IntegrityError:
        replay = await receipt_after_race(svc, bound)
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
        return AccountRef.parse(account.owner_key)
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
    now = svc.clock.now()
    try:
        async with svc.db.transaction() as tx:
            return await refund_in(
                tx,
                now=now,
                charge_id=charge_id,
                amount_cents=amount_cents,
                idem=idem,
                reason=reason,
                details=details,
            )
    except IntegrityError:
        replay = await receipt_after_race(svc, _refund_key(idem, charge_id, amount_cents))
        if replay is None:
            raise
        return replay


def _refund_key(idem: Idempotency, charge_id: int, amount_cents: int) -> Idempotency:
    return idem.bound("refund", charge_id=charge_id, amount_cents=amount_cents)


async def refund_in(
    tx: AsyncSession,
    *,
    now: datetime,
    charge_id: int,
    amount_cents: int,
    idem: Idempotency,
    reason: str,
    details: dict[str, Any] | None = None,
) -> Receipt:
    """`do_refund` inside the caller's transaction (a rejected message: the decision and its
    refund commit together)."""
    check_amount(amount_cents)
    bound = _refund_key(idem, charge_id, amount_cents)
    await serialise_writers(tx)
    # Refunds of one charge take turns; FOR NO KEY UPDATE still lets rows that merely
    # reference the charge be written meanwhile.
    original = await tx.scalar(
        select(LedgerTransaction)
        .where(LedgerTransaction.id == charge_id)
        .with_for_update(key_share=True)
    )
    replay = await receipt_for_key(tx, bound)
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
    return await write(
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
        replay_first=False,  # checked above, under the charge's lock
    )


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
    return await post(
        svc,
        kind=TransactionKind.CREDIT,
        legs=[Leg(system(SystemCode.REFUNDS), -amount_cents), Leg(account, amount_cents)],
        idem=idem.bound("credit", account=account.owner_key, amount_cents=amount_cents),
        facility_id=facility_id,
        memo=f"Credit: {reason}",
        details={"reason": reason, **(details or {})},
    )
