"""Refunds and goodwill credits issued by customer care, with a reason, audited, and with a
second staff member's approval above the facility's limit.

**Which limit.** `Tariff.refund_approval_threshold_cents` of the facility whose rules apply:
- a refund: the facility of the charge being refunded (the default tariff's for a charge
  without a facility);
- a credit: the staff member's own facility for facility admins; for global support staff
  (no facility) the default tariff's limit, and the credit belongs to no facility.
An amount up to and including the limit moves at once; above it the request waits.

**Every request is a row** (`RefundRequest`), also those within the limit, which are created
already approved by their requester. The row and its audit entry are written in one database
transaction; so is every decision (approve, reject) and its audit entry. The money then moves in
a separate ledger transaction whose idempotency key is the request's id (scope
"refund_request"). That is what makes the two steps safe together:
- two approvers race: the status moves `pending` -> `approved` by a conditional UPDATE, so
  exactly one of them wins and moves the money; the other gets 409;
- a crash (or lost connection) after the approval commits but before the money moves leaves
  the row approved without a `transaction_id`. The same approver's retry (or, for a request
  within the limit, the requester's retry with the same `client_id`) runs the ledger call again
  with the same key: the ledger moves the money only if it has not already, and otherwise
  returns the first receipt. Nothing is ever paid twice, and nothing approved is lost.
- if the ledger refuses outright (more than the charge has left to refund), the request is
  marked rejected with the ledger's reason (audited as "<kind>.failed") and the error returned.

Idempotency of the staff member's own call: `client_id` (or the `Idempotency-Key` header) is
unique per staff member; a retry returns the same request in its current state, and the same key
with a different request is refused (409).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.ledger import TransactionKind, family_wallet
from server.domain.money import Money
from server.domain.permissions import Action
from server.domain.tariff import DEFAULT_TARIFF
from server.errors import BadRequest, Conflict, FieldErrors, Forbidden, NotFound, PaymentRequired
from server.services import ledger
from server.services.audit import record_staff_action
from server.services.context import Principal, Services
from server.services.refund_views import (
    CareKind,
    RequestStatus,
    RequestView,
    view_by_id,
    views_in,
)
from server.services.support import access_family_in, check_care_staff, is_global, may_see_facility
from server.services.tariffs import tariff_in
from server.storage.models import (
    FamilyAccount,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    RefundRequest,
)

IDEM_SCOPE = "refund_request"
NO_REQUEST = "No such refund or credit request."
NO_CHARGE = "No such charge paid from this family's wallet."
DECIDED = "This request has already been decided by another staff member."
# Conditional UPDATEs decide races in the database; the session must not guess the outcome.
NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True)
class CareOrder:
    """What staff asked for (already shaped by the HTTP schema)."""

    family_account_id: int
    kind: CareKind
    amount_cents: int
    reason: str
    charge_id: int | None
    client_id: str

    def fingerprint(self) -> dict[str, Any]:
        return {
            "family_account_id": self.family_account_id,
            "kind": self.kind.value,
            "amount_cents": self.amount_cents,
            "reason": self.reason,
            "charge_id": self.charge_id,
        }


def check_care_order(order: CareOrder) -> None:
    """The rules across fields (each field's own shape is checked by the schema)."""
    if order.kind is CareKind.REFUND and order.charge_id is None:
        raise FieldErrors({"charge_id": "Choose the charge to refund."})
    if order.kind is CareKind.CREDIT and order.charge_id is not None:
        raise FieldErrors({"charge_id": "A credit is not tied to a charge; leave this out."})
    ledger.check_amount(order.amount_cents)


# --- asking ------------------------------------------------------------------------------


async def do_request(svc: Services, actor: Principal, *, order: CareOrder) -> RequestView:
    """Refund or credit now (within the limit) or ask for approval (above it)."""
    check_care_staff(actor, Action.REFUND)
    check_care_order(order)
    try:
        async with svc.db.transaction() as tx:
            row = await _mine(tx, actor, order)
            if row is None:
                row = await _new_request(tx, actor, order, now=svc.clock.now())
    except IntegrityError:
        # A concurrent retry with the same client_id inserted first: answer as a retry.
        async with svc.db.read() as tx:
            row = await _mine(tx, actor, order)
        if row is None:
            raise
    if _unpaid(row) and row.decided_by_staff_id == actor.id:
        await _pay(svc, actor, request_id=row.id)
    elif row.status == RequestStatus.REJECTED.value:
        raise Conflict(f"This request was turned down: {row.decision_reason}", code="rejected")
    return await view_by_id(svc, row.id)


async def _mine(tx: AsyncSession, actor: Principal, order: CareOrder) -> RefundRequest | None:
    row = await tx.scalar(
        select(RefundRequest).where(
            RefundRequest.requested_by_staff_id == actor.id,
            RefundRequest.idem_key == order.client_id,
        )
    )
    if row is not None and _fingerprint(row) != order.fingerprint():
        raise Conflict(ledger.KEY_REUSED, code="idempotency_key_reused")
    return row


def _fingerprint(row: RefundRequest) -> dict[str, Any]:
    return {
        "family_account_id": row.family_account_id,
        "kind": row.kind,
        "amount_cents": row.amount_cents,
        "reason": row.reason,
        "charge_id": row.charge_id,
    }


async def _new_request(
    tx: AsyncSession, actor: Principal, order: CareOrder, *, now: datetime
) -> RefundRequest:
    family = await access_family_in(tx, actor, family_account_id=order.family_account_id)
    if order.kind is CareKind.REFUND:
        assert order.charge_id is not None
        charge = await _charge_in(tx, actor, family=family, charge_id=order.charge_id)
        facility_id = charge.facility_id
        left = await _refundable_in(tx, charge) - await _in_flight_in(tx, charge_id=charge.id)
        if order.amount_cents > left:
            raise BadRequest(
                f"At most {left} cents of this charge can still be refunded "
                "(counting requests awaiting approval).",
                code="refund_too_large",
            )
    else:
        facility_id = None if is_global(actor) else actor.facility_id
    tariff = DEFAULT_TARIFF if facility_id is None else await tariff_in(tx, facility_id=facility_id)
    threshold = tariff.refund_approval_threshold_cents
    needs_approval = order.amount_cents > threshold
    row = RefundRequest(
        family_account_id=family.id,
        kind=order.kind.value,
        amount_cents=order.amount_cents,
        reason=order.reason,
        charge_id=order.charge_id,
        facility_id=facility_id,
        threshold_cents=threshold,
        approval_required=needs_approval,
        requested_by_staff_id=actor.id,
        requested_at=now,
        status=(RequestStatus.PENDING if needs_approval else RequestStatus.APPROVED).value,
        decided_by_staff_id=None if needs_approval else actor.id,
        decided_at=None if needs_approval else now,
        decision_reason=None if needs_approval else f"Within the limit of {Money(threshold)}.",
        transaction_id=None,
        idem_key=order.client_id,
    )
    tx.add(row)
    await tx.flush()  # a racing twin with the same client_id fails here
    await record_staff_action(
        tx,
        staff=actor,
        at=now,
        action=f"{order.kind.value}.{'request' if needs_approval else 'issue'}",
        facility_id=facility_id,
        target_type="refund_request",
        target_id=row.id,
        reason=order.reason,
        details={
            "family_account_id": family.id,
            "amount_cents": order.amount_cents,
            "charge_id": order.charge_id,
            "threshold_cents": threshold,
            "status": row.status,
        },
    )
    return row


async def _charge_in(
    tx: AsyncSession, actor: Principal, *, family: FamilyAccount, charge_id: int
) -> LedgerTransaction:
    """The charge, if it was paid from this family's wallet and the actor may see its facility."""
    charge = await tx.get(LedgerTransaction, charge_id)
    if (
        charge is None
        or charge.kind != TransactionKind.CHARGE.value
        or not may_see_facility(actor, charge.facility_id)
    ):
        raise NotFound(NO_CHARGE)
    payer = await tx.scalar(
        select(LedgerAccount.owner_key)
        .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .where(LedgerPosting.transaction_id == charge.id, LedgerPosting.amount_cents < 0)
    )
    if payer != family_wallet(family.id).owner_key:
        raise NotFound(NO_CHARGE)
    return charge


async def _refundable_in(tx: AsyncSession, charge: LedgerTransaction) -> int:
    """What the ledger would still refund of this charge (it checks again, atomically)."""
    paid = (
        await tx.execute(
            select(LedgerPosting.account_id, LedgerPosting.amount_cents).where(
                LedgerPosting.transaction_id == charge.id, LedgerPosting.amount_cents < 0
            )
        )
    ).one()
    already = await tx.scalar(
        select(func.coalesce(func.sum(LedgerPosting.amount_cents), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(
            LedgerTransaction.corrects_id == charge.id,
            LedgerTransaction.kind == TransactionKind.REFUND.value,
            LedgerPosting.account_id == paid.account_id,
        )
    )
    return -int(paid.amount_cents) - int(already or 0)


async def _in_flight_in(tx: AsyncSession, *, charge_id: int) -> int:
    """Refunds of this charge asked for and not yet paid (pending, or approved but unpaid)."""
    stmt = select(func.coalesce(func.sum(RefundRequest.amount_cents), 0)).where(
        RefundRequest.charge_id == charge_id,
        or_(
            RefundRequest.status == RequestStatus.PENDING.value,
            (RefundRequest.status == RequestStatus.APPROVED.value)
            & RefundRequest.transaction_id.is_(None),
        ),
    )
    return int(await tx.scalar(stmt) or 0)


# --- deciding ----------------------------------------------------------------------------


async def _access_request_in(
    tx: AsyncSession, actor: Principal, *, request_id: int
) -> RefundRequest:
    row = await tx.get(RefundRequest, request_id)
    if row is None or not may_see_facility(actor, row.facility_id):
        raise NotFound(NO_REQUEST)
    await access_family_in(tx, actor, family_account_id=row.family_account_id)
    return row


async def access_request(svc: Services, actor: Principal, *, request_id: int) -> RequestView:
    check_care_staff(actor, Action.REFUND)
    async with svc.db.read() as tx:
        row = await _access_request_in(tx, actor, request_id=request_id)
        return (await views_in(tx, [row]))[0]


async def do_approve(svc: Services, actor: Principal, *, request_id: int) -> RequestView:
    """A second staff member approves; the money moves once (see the module's docstring)."""
    check_care_staff(actor, Action.REFUND)
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        row = await _access_request_in(tx, actor, request_id=request_id)
        if row.status == RequestStatus.PENDING.value:
            if row.requested_by_staff_id == actor.id:
                raise Forbidden(
                    "A different staff member must approve this request.", code="own_request"
                )
            if row.charge_id is not None:
                charge = await tx.get(LedgerTransaction, row.charge_id)
                assert charge is not None
                left = await _refundable_in(tx, charge)
                if row.amount_cents > left:
                    raise BadRequest(
                        f"Only {left} cents of this charge can still be refunded: reject this "
                        "request.",
                        code="refund_too_large",
                    )
            await _decide(tx, actor, row, status=RequestStatus.APPROVED, now=now, reason=None)
        elif not (_unpaid(row) and row.decided_by_staff_id == actor.id):
            # Only our own interrupted approval may be finished by us here.
            raise Conflict(f"This request is already {row.status}.", code="decided")
    await _pay(svc, actor, request_id=request_id)
    return await view_by_id(svc, request_id)


async def do_reject(
    svc: Services, actor: Principal, *, request_id: int, reason: str
) -> RequestView:
    """Turn a pending request down with a reason; nothing moves. The requester may withdraw
    their own request this way (refusing money needs no second person)."""
    check_care_staff(actor, Action.REFUND)
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        row = await _access_request_in(tx, actor, request_id=request_id)
        await _decide(tx, actor, row, status=RequestStatus.REJECTED, now=now, reason=reason)
    return await view_by_id(svc, request_id)


async def _decide(
    tx: AsyncSession,
    actor: Principal,
    row: RefundRequest,
    *,
    status: RequestStatus,
    now: datetime,
    reason: str | None,
) -> None:
    """Approve or reject a pending request and audit it. A conditional update: of two staff
    deciding at once exactly one wins, the other is told it is already decided."""
    values: dict[str, object] = {
        "status": status.value,
        "decided_by_staff_id": actor.id,
        "decided_at": now,
    }
    if reason is not None:
        values["decision_reason"] = reason
    won = await tx.execute(
        update(RefundRequest)
        .execution_options(**NO_SYNC)
        .where(RefundRequest.id == row.id, RefundRequest.status == RequestStatus.PENDING.value)
        .values(**values)
    )
    if getattr(won, "rowcount", 0) != 1:
        raise Conflict(DECIDED, code="decided")
    verb = "approve" if status is RequestStatus.APPROVED else "reject"
    await record_staff_action(
        tx,
        staff=actor,
        at=now,
        action=f"{row.kind}.{verb}",
        facility_id=row.facility_id,
        target_type="refund_request",
        target_id=row.id,
        # An approval is audited with the request's own reason; a rejection with its reason.
        reason=row.reason if reason is None else reason,
        details={
            "family_account_id": row.family_account_id,
            "amount_cents": row.amount_cents,
            "charge_id": row.charge_id,
            "requested_by_staff_id": row.requested_by_staff_id,
        },
    )


def _unpaid(row: RefundRequest) -> bool:
    return row.status == RequestStatus.APPROVED.value and row.transaction_id is None


async def _pay(svc: Services, actor: Principal, *, request_id: int) -> None:
    """Move the money of an approved request, keyed by its id, and note the transaction."""
    async with svc.db.read() as tx:
        row = await tx.get(RefundRequest, request_id)
    assert row is not None and row.status == RequestStatus.APPROVED.value
    if row.transaction_id is not None:
        return
    idem = ledger.Idempotency(scope=IDEM_SCOPE, key=str(row.id), request=_fingerprint(row))
    details = {
        "refund_request_id": row.id,
        "requested_by_staff_id": row.requested_by_staff_id,
        "approved_by_staff_id": row.decided_by_staff_id,
    }
    try:
        if row.kind == CareKind.REFUND.value:
            assert row.charge_id is not None
            receipt = await ledger.do_refund(
                svc,
                charge_id=row.charge_id,
                amount_cents=row.amount_cents,
                idem=idem,
                reason=row.reason,
                details=details,
            )
        else:
            receipt = await ledger.do_credit(
                svc,
                account=family_wallet(row.family_account_id),
                amount_cents=row.amount_cents,
                idem=idem,
                facility_id=row.facility_id,
                reason=row.reason,
                details=details,
            )
    except (BadRequest, NotFound, PaymentRequired) as refused:
        await _mark_refused(svc, actor, row=row, why=refused.message)
        raise
    async with svc.db.transaction() as tx:
        await tx.execute(
            update(RefundRequest)
            .execution_options(**NO_SYNC)
            .where(RefundRequest.id == row.id, RefundRequest.transaction_id.is_(None))
            .values(transaction_id=receipt.transaction_id)
        )


async def _mark_refused(svc: Services, actor: Principal, *, row: RefundRequest, why: str) -> None:
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        won = await tx.execute(
            update(RefundRequest)
            .execution_options(**NO_SYNC)
            .where(
                RefundRequest.id == row.id,
                RefundRequest.status == RequestStatus.APPROVED.value,
                RefundRequest.transaction_id.is_(None),
            )
            .values(status=RequestStatus.REJECTED.value, decision_reason=f"Not paid: {why}")
        )
        if getattr(won, "rowcount", 0) == 1:
            await record_staff_action(
                tx,
                staff=actor,
                at=now,
                action=f"{row.kind}.failed",
                facility_id=row.facility_id,
                target_type="refund_request",
                target_id=row.id,
                reason=why,
                details={"family_account_id": row.family_account_id},
            )
