"""Contacts: a family member asks, the resident approves or denies, either side removes,
staff block (until a date, or until unblocked). Every read goes through `access_contact` so
that others' contacts are 404.

A block with an end date runs out by itself: the contact returns to the status it had before
the block at its end, by the scheduler (`do_end_expired_blocks`, when `next_block_end` has
come), or sooner the first time anyone looks at it or uses it (`end_expired_block_in`), so
nobody sees a block that is over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.contacts import (
    ContactAction,
    ContactStatus,
    block_ends_at,
    check_block_until,
    family_block_sentence,
    local_today,
    next_status,
    unblocked_status,
)
from server.domain.permissions import Action
from server.errors import Conflict, Forbidden, NotFound
from server.scheduler import due_after_commit
from server.services.audit import record_staff_action
from server.services.contact_views import (
    ContactView,
    active_contact_block,
    announce_in,
    contact_view_in,
)
from server.services.context import Principal, PrincipalKind, Services
from server.storage.case_models import ContactBlock, FamilyBlock
from server.storage.db import serialise_writers
from server.storage.models import Contact, Facility, Resident

NOT_FOUND = "No such contact."


async def do_request_contact(
    svc: Services, actor: Principal, *, resident_id: int, relationship: str
) -> tuple[ContactView, bool]:
    """Ask to connect. A repeat while the request is pending returns it unchanged (a retry
    is harmless); the flag says whether anything changed. A family blocked at the resident's
    facility is refused (403 `blocked`)."""
    if not actor.may(Action.CONTACT_REQUEST):
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
        blocked = await family_block_in_force(
            tx, family_account_id=actor.id, facility_id=resident.facility_id, now=now
        )
        if blocked is not None:
            facility = await tx.get(Facility, resident.facility_id)
            assert facility is not None
            raise Forbidden(family_block_sentence(facility.name, blocked.until), code="blocked")
        contact = await tx.scalar(
            select(Contact)
            .where(Contact.resident_id == resident_id, Contact.family_account_id == actor.id)
            .with_for_update()
        )
        if contact is not None:
            await end_expired_block_in(tx, contact, now=now)
        current = ContactStatus(contact.status) if contact else None
        if contact is not None and current is ContactStatus.PENDING:
            return await contact_view_in(tx, contact), False
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
        return await announce_in(tx, contact, now=now), True


def _scope(actor: Principal) -> ColumnElement[bool] | None:
    """SQL: the contacts the actor may see (None: every facility's, for global support)."""
    if actor.kind is PrincipalKind.FAMILY:
        return Contact.family_account_id == actor.id
    if actor.kind is PrincipalKind.RESIDENT:
        return Contact.resident_id == actor.id
    if actor.facility_id is not None:
        return Contact.facility_id == actor.facility_id
    return None


async def list_contacts(
    svc: Services, actor: Principal, *, status: str | None = None
) -> list[ContactView]:
    """The actor's own contacts; staff see their facility's (support: every facility's)."""
    scope = _scope(actor)
    await _end_expired_blocks(svc, [] if scope is None else [scope])
    stmt = select(Contact).order_by(Contact.updated_at.desc(), Contact.id.desc())
    if scope is not None:
        stmt = stmt.where(scope)
    if status is not None:
        stmt = stmt.where(Contact.status == ContactStatus(status).value)
    async with svc.db.read() as tx:
        rows = (await tx.scalars(stmt.limit(500))).all()
        return [await contact_view_in(tx, c) for c in rows]


def visible(actor: Principal, contact: Contact) -> bool:
    """Whether the actor may see this contact: its two parties, and staff of its facility."""
    if actor.kind is PrincipalKind.FAMILY:
        return contact.family_account_id == actor.id
    if actor.kind is PrincipalKind.RESIDENT:
        return contact.resident_id == actor.id
    return actor.may_staff(contact.facility_id)


async def access_contact(svc: Services, actor: Principal, *, contact_id: int) -> ContactView:
    await _end_expired_blocks(svc, [Contact.id == contact_id])
    async with svc.db.read() as tx:
        contact = await tx.get(Contact, contact_id)
        if contact is None or not visible(actor, contact):
            raise NotFound(NOT_FOUND)
        return await contact_view_in(tx, contact)


# The permission table's action for each step of a contact's lifecycle.
_PERMISSION: dict[ContactAction, Action] = {
    ContactAction.REQUEST: Action.CONTACT_REQUEST,
    ContactAction.APPROVE: Action.CONTACT_ANSWER,
    ContactAction.DENY: Action.CONTACT_ANSWER,
    ContactAction.REMOVE: Action.CONTACT_REMOVE,
    ContactAction.BLOCK: Action.CONTACT_BLOCK,
}


async def do_contact_action(
    svc: Services,
    actor: Principal,
    *,
    contact_id: int,
    action: ContactAction,
    reason: str | None = None,
    until: date | None = None,
) -> ContactView:
    """Approve, deny, remove or block; staff blocks need a reason, may have a last day
    (`until`, facility time, inclusive) and are audited."""
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        contact = await locked_contact(tx, actor, contact_id)
        if not actor.may(_PERMISSION[action]):
            raise Forbidden(f"You cannot {action.value} this contact.")
        await end_expired_block_in(tx, contact, now=now)
        before = ContactStatus(contact.status)
        after = next_status(action, before)
        details: dict[str, object] = {"from": before.value, "to": after.value}
        if action is ContactAction.BLOCK:
            assert reason is not None
            block = await _block(tx, actor, contact, before, reason=reason, until=until, now=now)
            details["until"] = block.until.isoformat() if block.until else None
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
                details=details,
            )
        return await announce_in(tx, contact, now=now)


async def _block(
    tx: AsyncSession,
    actor: Principal,
    contact: Contact,
    before: ContactStatus,
    *,
    reason: str,
    until: date | None,
    now: datetime,
) -> ContactBlock:
    facility = await tx.get(Facility, contact.facility_id)
    assert facility is not None
    until = check_block_until(until, today=local_today(now, facility.timezone))
    block = ContactBlock(
        contact_id=contact.id,
        facility_id=contact.facility_id,
        reason=reason,
        until=until,
        ends_at=block_ends_at(until, facility.timezone),
        previous_status=before.value,
        blocked_at=now,
        blocked_by_staff_id=actor.id,
    )
    tx.add(block)
    return block


async def do_unblock_contact(
    svc: Services, actor: Principal, *, contact_id: int, reason: str
) -> ContactView:
    """Staff lift a contact's block: it returns to the status it had before (audited). Its
    scheduled messages are then released by the scheduler, those that are due at once."""
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        contact = await locked_contact(tx, actor, contact_id)
        if not actor.may(Action.CONTACT_BLOCK):
            raise Forbidden("Only the facility's administrators can unblock a contact.")
        await end_expired_block_in(tx, contact, now=now)
        before = ContactStatus(contact.status)
        block = await active_contact_block(tx, contact_id=contact.id)
        after = _lift(contact, block, now=now, by=actor.id, reason=reason)
        due_after_commit(tx, at=now)  # its scheduled messages that are due go at once
        await record_staff_action(
            tx,
            staff=actor,
            at=now,
            action="contact.unblock",
            facility_id=contact.facility_id,
            target_type="contact",
            target_id=contact.id,
            reason=reason,
            details={
                "from": before.value,
                "to": after.value,
                "block_id": block.id if block is not None else None,
            },
        )
        return await announce_in(tx, contact, now=now)


async def locked_contact(tx: AsyncSession, actor: Principal, contact_id: int) -> Contact:
    """The contact, locked for this transaction's change, if the actor may see it."""
    contact = await tx.scalar(select(Contact).where(Contact.id == contact_id).with_for_update())
    if contact is None or not visible(actor, contact):
        raise NotFound(NOT_FOUND)
    return contact


# --- blocks in force, and blocks that ran out -------------------------------------------------


def family_block_in_force_at(now: datetime) -> ColumnElement[bool]:
    """SQL: family blocks unlifted and not run out at `now`."""
    return FamilyBlock.lifted_at.is_(None) & or_(
        FamilyBlock.ends_at.is_(None), FamilyBlock.ends_at > now
    )


async def family_block_in_force(
    tx: AsyncSession, *, family_account_id: int, facility_id: int, now: datetime
) -> FamilyBlock | None:
    return await tx.scalar(
        select(FamilyBlock)
        .where(
            FamilyBlock.family_account_id == family_account_id,
            FamilyBlock.facility_id == facility_id,
            family_block_in_force_at(now),
        )
        .order_by(FamilyBlock.id)
        .limit(1)
    )


async def end_expired_block_in(tx: AsyncSession, contact: Contact, *, now: datetime) -> bool:
    """If the contact's block has run out, return the contact to its status before the block
    (both parties hear of it); whether it did."""
    if contact.status != ContactStatus.BLOCKED.value:
        return False
    block = await active_contact_block(tx, contact_id=contact.id)
    if block is None or block.ends_at is None or block.ends_at > now:
        return False
    # Another transaction may be ending it at this moment: decide on the current, locked row.
    await serialise_writers(tx)
    await tx.refresh(contact, with_for_update=True)
    await tx.refresh(block)
    if contact.status != ContactStatus.BLOCKED.value or block.lifted_at is not None:
        return False
    assert block.ends_at is not None
    _lift(contact, block, now=block.ends_at, by=None, reason=None)
    contact.updated_at = now
    await announce_in(tx, contact, now=now)
    return True


def _lift(
    contact: Contact,
    block: ContactBlock | None,
    *,
    now: datetime,
    by: int | None,
    reason: str | None,
) -> ContactStatus:
    """Return a blocked contact to its status before the block; stamp the block lifted."""
    before = ContactStatus(block.previous_status) if block and block.previous_status else None
    after = unblocked_status(ContactStatus(contact.status), before)
    if block is not None:
        block.lifted_at = now
        block.lifted_by_staff_id = by
        block.lift_reason = reason
    contact.status = after.value
    contact.status_reason = None
    contact.updated_at = now
    return after


async def next_block_end(svc: Services) -> datetime | None:
    """The earliest time a block ends: a contact block still to be ended (perhaps already due),
    or a family block still to run out (it ends by itself; its held messages are then due)."""
    now = svc.clock.now()
    async with svc.db.read() as tx:
        contact_block = await tx.scalar(
            select(func.min(ContactBlock.ends_at))
            .join(Contact, ContactBlock.contact_id == Contact.id)
            .where(Contact.status == ContactStatus.BLOCKED.value, ContactBlock.lifted_at.is_(None))
        )
        family_block = await tx.scalar(
            select(func.min(FamilyBlock.ends_at)).where(
                FamilyBlock.lifted_at.is_(None), FamilyBlock.ends_at > now
            )
        )
    ends = [t for t in (contact_block, family_block) if t is not None]
    return min(ends, default=None)


async def do_end_expired_blocks(svc: Services) -> int:
    """End the contact blocks that have run out (both parties hear of it); how many."""
    return await _end_expired_blocks(svc, [])


async def _end_expired_blocks(svc: Services, scope: Sequence[ColumnElement[bool]]) -> int:
    """Before a read: end the blocks that ran out among these contacts. A cheap look first,
    so that reading never writes unless a block has just ended."""
    now = svc.clock.now()
    expired = (
        select(Contact.id)
        .join(ContactBlock, ContactBlock.contact_id == Contact.id)
        .where(
            *scope,
            Contact.status == ContactStatus.BLOCKED.value,
            ContactBlock.lifted_at.is_(None),
            ContactBlock.ends_at <= now,
        )
        .limit(100)
    )
    async with svc.db.read() as tx:
        ids = list(await tx.scalars(expired))
    if not ids:
        return 0
    ended = 0
    async with svc.db.transaction() as tx:
        for contact_id in ids:
            contact = await tx.scalar(
                select(Contact).where(Contact.id == contact_id).with_for_update()
            )
            if contact is not None and await end_expired_block_in(tx, contact, now=now):
                ended += 1
    return ended
