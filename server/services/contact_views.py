"""How a contact looks (to its parties, and with the credentials of a privileged one to staff),
and the `contact.updated` event both parties get when it changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.contacts import ContactStatus
from server.domain.party import Party
from server.services.events import append_in
from server.storage.case_models import ContactBlock, ContactPrivilege
from server.storage.models import Contact, Facility, FamilyAccount, Resident, Staff


@dataclass(frozen=True)
class ContactView:
    id: int
    status: ContactStatus
    relationship: str
    facility_id: int
    facility_name: str
    resident_id: int
    resident_number: str
    resident_name: str
    family_account_id: int
    family_name: str
    requested_at: datetime
    updated_at: datetime
    status_reason: str | None
    privileged: bool = False
    privilege: PrivilegeView | None = None  # the credentials; shown to staff only
    blocked_until: date | None = None  # a staff block's last day, when it has one


@dataclass(frozen=True)
class PrivilegeView:
    """The credentials staff recorded when they marked a contact privileged."""

    kind: str  # legal_counsel | abuse_line
    bar_number: str | None
    bar_state: str | None
    organisation: str | None
    note: str | None
    granted_at: datetime
    granted_by: str  # the staff member's display name

    @property
    def summary(self) -> str:
        if self.kind == "legal_counsel":
            return f"Legal counsel, bar number {self.bar_number} ({self.bar_state})"
        return f"Abuse reporting line: {self.organisation}"


async def active_contact_block(tx: AsyncSession, *, contact_id: int) -> ContactBlock | None:
    """The contact's unlifted block (None also for a block made before blocks had rows)."""
    return await tx.scalar(
        select(ContactBlock)
        .where(ContactBlock.contact_id == contact_id, ContactBlock.lifted_at.is_(None))
        .order_by(ContactBlock.id.desc())
        .limit(1)
    )


async def announce_in(tx: AsyncSession, contact: Contact, *, now: datetime) -> ContactView:
    """`contact.updated` to both parties, in the transaction that changed the contact; the
    contact as it now is."""
    view = await contact_view_in(tx, contact)
    await append_in(
        tx,
        recipients=[
            Party.family(view.family_account_id),
            Party.resident(view.resident_id),
        ],
        type="contact.updated",
        data={
            "id": view.id,
            "status": view.status.value,
            "status_reason": view.status_reason,
            "resident_id": view.resident_id,
            "family_account_id": view.family_account_id,
            "updated_at": view.updated_at.isoformat(),
            "privileged": view.privileged,
            "blocked_until": view.blocked_until.isoformat() if view.blocked_until else None,
        },
        now=now,
    )
    return view


async def contact_view_in(tx: AsyncSession, contact: Contact) -> ContactView:
    resident = await tx.get(Resident, contact.resident_id)
    family = await tx.get(FamilyAccount, contact.family_account_id)
    facility = await tx.get(Facility, contact.facility_id)
    assert resident is not None and family is not None and facility is not None
    block = (
        await active_contact_block(tx, contact_id=contact.id)
        if contact.status == ContactStatus.BLOCKED.value
        else None
    )
    return ContactView(
        id=contact.id,
        status=ContactStatus(contact.status),
        relationship=contact.relationship,
        facility_id=facility.id,
        facility_name=facility.name,
        resident_id=resident.id,
        resident_number=resident.resident_number,
        resident_name=f"{resident.first_name} {resident.last_name}",
        family_account_id=family.id,
        family_name=f"{family.first_name} {family.last_name}",
        requested_at=contact.requested_at,
        updated_at=contact.updated_at,
        status_reason=contact.status_reason,
        privileged=contact.privileged,
        privilege=await _privilege(tx, contact) if contact.privileged else None,
        blocked_until=block.until if block is not None else None,
    )


async def _privilege(tx: AsyncSession, contact: Contact) -> PrivilegeView | None:
    row = await tx.scalar(
        select(ContactPrivilege)
        .where(ContactPrivilege.contact_id == contact.id, ContactPrivilege.revoked_at.is_(None))
        .order_by(ContactPrivilege.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    staff = await tx.get(Staff, row.granted_by_staff_id)
    return PrivilegeView(
        kind=row.kind,
        bar_number=row.bar_number,
        bar_state=row.bar_state,
        organisation=row.organisation,
        note=row.note,
        granted_at=row.granted_at,
        granted_by=staff.display_name if staff else "Facility staff",
    )
