"""Contacts: a family member asks, the resident approves or denies, either side removes,
staff block. Every read goes through `access_contact` so that others' contacts are 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from moderation.audit import record_staff_action
from server.domain.contacts import ContactAction, ContactStatus, next_status
from server.errors import Conflict, Forbidden, NotFound
from server.services.context import Principal, PrincipalKind, Services
from server.services.events import append_in
from server.services.notify import Recipient
from server.storage.models import Contact, Facility, FamilyAccount, Resident

NOT_FOUND = "No such contact."


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


async def do_request_contact(
    svc: Services, actor: Principal, *, resident_id: int, relationship: str
) -> tuple[ContactView, bool]:
    """Ask to connect. A repeat while the request is pending returns it unchanged (a retry
    is harmless); the flag says whether anything changed."""
    if actor.kind is not PrincipalKind.FAMILY:
        raise Forbidden("Only family accounts can ask to connect with a resident.")
    # Two tries: a concurrent retry may insert the same pair first (there was no row to lock
    # yet); asking again then finds that request and answers like any other retry.
    for _ in range(2):
        try:
            return await _request_contact(
                svc, actor, resident_id=resident_id, relationship=relationship
            )
        except IntegrityError:
            continue
    raise Conflict("You have already asked to connect with this person.")


async def _request_contact(
    svc: Services, actor: Principal, *, resident_id: int, relationship: str
) -> tuple[ContactView, bool]:
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        resident = await tx.get(Resident, resident_id)
        if resident is None or not resident.active:
            raise NotFound("No such resident.")
        contact = await tx.scalar(
            select(Contact)
            .where(Contact.resident_id == resident_id, Contact.family_account_id == actor.id)
            .with_for_update()
        )
        current = ContactStatus(contact.status) if contact else None
        if contact is not None and current is ContactStatus.PENDING:
            return await _view(tx, contact), False
        status = next_status(ContactAction.REQUEST, current)
        if contact is None:
            contact = Contact(
                facility_id=resident.facility_id,
                resident_id=resident.id,
                family_account_id=actor.id,
                requested_at=now,
            )
            tx.add(contact)
        contact.status = status.value
        contact.relationship = relationship
        contact.updated_at = now
        contact.requested_at = now
        contact.status_reason = None
        await tx.flush()
        view = await _view(tx, contact)
        await _announce(tx, view, now=now)
        return view, True


async def list_contacts(
    svc: Services, actor: Principal, *, status: str | None = None
) -> list[ContactView]:
    """The actor's own contacts; staff see their facility's (support: every facility's)."""
    stmt = select(Contact).order_by(Contact.updated_at.desc(), Contact.id.desc())
    if actor.kind is PrincipalKind.FAMILY:
        stmt = stmt.where(Contact.family_account_id == actor.id)
    elif actor.kind is PrincipalKind.RESIDENT:
        stmt = stmt.where(Contact.resident_id == actor.id)
    elif actor.facility_id is not None:
        stmt = stmt.where(Contact.facility_id == actor.facility_id)
    if status is not None:
        stmt = stmt.where(Contact.status == ContactStatus(status).value)
    async with svc.db.read() as tx:
        rows = (await tx.scalars(stmt.limit(500))).all()
        return [await _view(tx, c) for c in rows]


def _visible(actor: Principal, contact: Contact) -> bool:
    if actor.kind is PrincipalKind.FAMILY:
        return contact.family_account_id == actor.id
    if actor.kind is PrincipalKind.RESIDENT:
        return contact.resident_id == actor.id
    return actor.may_staff(contact.facility_id)


async def access_contact(svc: Services, actor: Principal, *, contact_id: int) -> ContactView:
    async with svc.db.read() as tx:
        contact = await tx.get(Contact, contact_id)
        if contact is None or not _visible(actor, contact):
            raise NotFound(NOT_FOUND)
        return await _view(tx, contact)


# Who may take which action on a contact they can see.
_ALLOWED: dict[ContactAction, frozenset[PrincipalKind]] = {
    ContactAction.APPROVE: frozenset({PrincipalKind.RESIDENT}),
    ContactAction.DENY: frozenset({PrincipalKind.RESIDENT}),
    ContactAction.REMOVE: frozenset({PrincipalKind.RESIDENT, PrincipalKind.FAMILY}),
    ContactAction.BLOCK: frozenset({PrincipalKind.STAFF}),
}


async def do_contact_action(
    svc: Services,
    actor: Principal,
    *,
    contact_id: int,
    action: ContactAction,
    reason: str | None = None,
) -> ContactView:
    """Approve, deny, remove or block; staff blocks need a reason and are audited."""
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        contact = await tx.scalar(select(Contact).where(Contact.id == contact_id).with_for_update())
        if contact is None or not _visible(actor, contact):
            raise NotFound(NOT_FOUND)
        if actor.kind not in _ALLOWED[action]:
            raise Forbidden(f"You cannot {action.value} this contact.")
        before = ContactStatus(contact.status)
        after = next_status(action, before)
        contact.status = after.value
        contact.updated_at = now
        contact.status_reason = reason if action is ContactAction.BLOCK else None
        if actor.kind is PrincipalKind.STAFF:
            await record_staff_action(
                tx,
                staff=actor,
                at=now,
                action=f"contact.{action.value}",
                facility_id=contact.facility_id,
                target_type="contact",
                target_id=contact.id,
                reason=reason,
                details={"from": before.value, "to": after.value},
            )
        view = await _view(tx, contact)
        await _announce(tx, view, now=now)
        return view


async def _announce(tx: AsyncSession, view: ContactView, *, now: datetime) -> None:
    """`contact.updated` to both parties, in the transaction that changed the contact."""
    await append_in(
        tx,
        recipients=[
            Recipient(kind=PrincipalKind.FAMILY.value, id=view.family_account_id),
            Recipient(kind=PrincipalKind.RESIDENT.value, id=view.resident_id),
        ],
        type="contact.updated",
        data={
            "id": view.id,
            "status": view.status.value,
            "status_reason": view.status_reason,
            "resident_id": view.resident_id,
            "family_account_id": view.family_account_id,
            "updated_at": view.updated_at.isoformat(),
        },
        now=now,
    )


async def _view(tx: AsyncSession, contact: Contact) -> ContactView:
    resident = await tx.get(Resident, contact.resident_id)
    family = await tx.get(FamilyAccount, contact.family_account_id)
    facility = await tx.get(Facility, contact.facility_id)
    assert resident is not None and family is not None and facility is not None
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
    )
