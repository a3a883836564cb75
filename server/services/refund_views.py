"""Refund and credit requests as staff see them (the write side is `refund_requests.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.permissions import Action
from server.services.context import Principal, Services
from server.services.support import check_care_staff, is_global
from server.storage.models import FamilyAccount, RefundRequest, Staff


class CareKind(StrEnum):
    REFUND = "refund"
    CREDIT = "credit"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class StaffRef:
    id: int
    name: str


@dataclass(frozen=True)
class RequestView:
    id: int
    kind: CareKind
    status: RequestStatus
    family_account_id: int
    family_name: str
    amount_cents: int
    reason: str
    charge_id: int | None
    facility_id: int | None
    threshold_cents: int
    approval_required: bool
    requested_by: StaffRef
    requested_at: datetime
    decided_by: StaffRef | None
    decided_at: datetime | None
    decision_reason: str | None
    transaction_id: int | None

    @property
    def done(self) -> bool:
        return self.status is RequestStatus.APPROVED and self.transaction_id is not None


async def list_requests(
    svc: Services,
    actor: Principal,
    *,
    status: RequestStatus | None = None,
    family_account_id: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[RequestView]:
    """Newest first, paged by id; staff of a facility see their facility's requests."""
    check_care_staff(actor, Action.REFUND)
    stmt = select(RefundRequest).order_by(RefundRequest.id.desc()).limit(limit)
    if not is_global(actor):
        stmt = stmt.where(RefundRequest.facility_id == actor.facility_id)
    if status is not None:
        stmt = stmt.where(RefundRequest.status == status.value)
    if family_account_id is not None:
        stmt = stmt.where(RefundRequest.family_account_id == family_account_id)
    if before is not None:
        stmt = stmt.where(RefundRequest.id < before)
    async with svc.db.read() as tx:
        return await views_in(tx, list((await tx.scalars(stmt)).all()))


async def view_by_id(svc: Services, request_id: int) -> RequestView:
    async with svc.db.read() as tx:
        row = await tx.get(RefundRequest, request_id)
        assert row is not None
        return (await views_in(tx, [row]))[0]


async def views_in(tx: AsyncSession, rows: list[RefundRequest]) -> list[RequestView]:
    staff_ids = {r.requested_by_staff_id for r in rows} | {
        r.decided_by_staff_id for r in rows if r.decided_by_staff_id is not None
    }
    family_ids = {r.family_account_id for r in rows}
    staff = dict(
        (
            await tx.execute(select(Staff.id, Staff.display_name).where(Staff.id.in_(staff_ids)))
        ).all()
    )
    families = {
        i: f"{first} {last}"
        for i, first, last in (
            await tx.execute(
                select(FamilyAccount.id, FamilyAccount.first_name, FamilyAccount.last_name).where(
                    FamilyAccount.id.in_(family_ids)
                )
            )
        ).all()
    }
    return [
        RequestView(
            id=r.id,
            kind=CareKind(r.kind),
            status=RequestStatus(r.status),
            family_account_id=r.family_account_id,
            family_name=families.get(r.family_account_id, ""),
            amount_cents=r.amount_cents,
            reason=r.reason,
            charge_id=r.charge_id,
            facility_id=r.facility_id,
            threshold_cents=r.threshold_cents,
            approval_required=r.approval_required,
            requested_by=StaffRef(r.requested_by_staff_id, staff.get(r.requested_by_staff_id, "")),
            requested_at=r.requested_at,
            decided_by=(
                StaffRef(r.decided_by_staff_id, staff.get(r.decided_by_staff_id, ""))
                if r.decided_by_staff_id is not None
                else None
            ),
            decided_at=r.decided_at,
            decision_reason=r.decision_reason,
            transaction_id=r.transaction_id,
        )
        for r in rows
    ]
