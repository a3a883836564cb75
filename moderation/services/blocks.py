"""Blocks: a family account blocked at one facility (listed and lifted by that facility's
staff, with a reason and an optional last day, each step audited). The one question the send
path and the delivery job ask, whether a block is in force, is the core's:
server/services/blocks_in_force.py.

A block in force (a blocked contact, or the contact's family blocked at its facility) refuses
sends on the contact in both directions (403 `blocked`, nothing stored or charged), holds back
its scheduled messages until the block ends, and refuses the family's contact requests there.
A block whose last day (facility time) is past no longer applies. Contact blocks themselves
(block, unblock, running out) are the contact's lifecycle: server/services/contacts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.contacts import (
    block_ends_at,
    check_block_until,
    local_today,
)
from server.domain.permissions import Action
from server.errors import Conflict, Forbidden, NotFound
from server.services.audit import record_staff_action
from server.services.contacts import (
    family_block_in_force,
    family_block_in_force_at,
)
from server.services.context import Principal, PrincipalKind, Services
from server.storage.case_models import FamilyBlock
from server.storage.db import serialise_writers
from server.storage.models import Contact, Facility, FamilyAccount, Staff

NO_FACILITY = "No such facility."
NO_BLOCK = "No such block at this facility."
NO_FAMILY = "No such family account among this facility's contacts."
LIST_LIMIT = 500


# --- a family account blocked at a facility ----------------------------------------------------


class BlockState(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"  # its last day is past
    LIFTED = "lifted"  # by staff


@dataclass(frozen=True)
class FamilyBlockView:
    id: int
    facility_id: int
    family_account_id: int
    family_name: str
    reason: str
    until: date | None
    ends_at: datetime | None
    state: BlockState
    created_at: datetime
    created_by: str
    created_by_staff_id: int
    lifted_at: datetime | None
    lifted_by: str | None
    lift_reason: str | None


def _facility_staff(actor: Principal, facility_id: int) -> None:
    """Staff of the facility (or global support); for anyone else the facility is not there.
    Of those, only the roles that manage blocks (the permission table's `family.block`)."""
    if actor.kind is not PrincipalKind.STAFF or not actor.may_staff(facility_id):
        raise NotFound(NO_FACILITY)
    if not actor.may(Action.FAMILY_BLOCK):
        raise Forbidden(
            "Family accounts are blocked and unblocked by the facility's administrators."
        )


async def do_block_family(
    svc: Services,
    actor: Principal,
    *,
    facility_id: int,
    family_account_id: int,
    reason: str,
    until: date | None,
) -> FamilyBlockView:
    """Block a family account from every contact with this facility's residents (audited).
    Only a family that has (or had) a contact here can be named: staff learn of no others."""
    _facility_staff(actor, facility_id)
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        facility = await tx.get(Facility, facility_id)
        if facility is None:
            raise NotFound(NO_FACILITY)
        await serialise_writers(tx)
        family = await tx.scalar(
            select(FamilyAccount).where(FamilyAccount.id == family_account_id).with_for_update()
        )
        known = await tx.scalar(
            select(Contact.id)
            .where(
                Contact.family_account_id == family_account_id, Contact.facility_id == facility_id
            )
            .limit(1)
        )
        if family is None or known is None:
            raise NotFound(NO_FAMILY)
        current = await family_block_in_force(
            tx, family_account_id=family_account_id, facility_id=facility_id, now=now
        )
        if current is not None:
            raise Conflict(
                "This family account is already blocked at this facility; lift that block "
                "first to change it.",
                code="already_blocked",
            )
        until = check_block_until(until, today=local_today(now, facility.timezone))
        block = FamilyBlock(
            facility_id=facility_id,
            family_account_id=family_account_id,
            reason=reason,
            until=until,
            ends_at=block_ends_at(until, facility.timezone),
            created_at=now,
            created_by_staff_id=actor.id,
        )
        tx.add(block)
        await tx.flush()
        await record_staff_action(
            tx,
            staff=actor,
            at=now,
            action="family.block",
            facility_id=facility_id,
            target_type="family_account",
            target_id=family_account_id,
            reason=reason,
            details={"block_id": block.id, "until": until.isoformat() if until else None},
        )
        return await _view(tx, block, now=now)


async def access_family_blocks(
    svc: Services, actor: Principal, *, facility_id: int, include_ended: bool
) -> list[FamilyBlockView]:
    """The facility's family blocks, newest first: those in force, or every one."""
    _facility_staff(actor, facility_id)
    now = svc.clock.now()
    async with svc.db.read() as tx:
        if await tx.get(Facility, facility_id) is None:
            raise NotFound(NO_FACILITY)
        stmt = select(FamilyBlock).where(FamilyBlock.facility_id == facility_id)
        if not include_ended:
            stmt = stmt.where(family_block_in_force_at(now))
        rows = await tx.scalars(stmt.order_by(FamilyBlock.id.desc()).limit(LIST_LIMIT))
        return [await _view(tx, b, now=now) for b in rows]


async def do_lift_family_block(
    svc: Services, actor: Principal, *, facility_id: int, block_id: int, reason: str
) -> FamilyBlockView:
    """Lift a family block before its end (audited); held-back messages then go out."""
    _facility_staff(actor, facility_id)
    now = svc.clock.now()
    async with svc.db.transaction(serialised=True) as tx:
        block = await tx.get(FamilyBlock, block_id)
        if block is None or block.facility_id != facility_id:
            raise NotFound(NO_BLOCK)
        # A conditional update: of two staff lifting at once, one lifts, one is told.
        won = await tx.execute(
            update(FamilyBlock)
            .where(FamilyBlock.id == block_id, family_block_in_force_at(now))
            .values(lifted_at=now, lifted_by_staff_id=actor.id, lift_reason=reason)
            .execution_options(synchronize_session=False)
        )
        await tx.refresh(block)
        if won.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(
                "This block was lifted already."
                if block.lifted_at is not None
                else "This block has ended already.",
                code="not_in_force",
            )
        await record_staff_action(
            tx,
            staff=actor,
            at=now,
            action="family.unblock",
            facility_id=facility_id,
            target_type="family_account",
            target_id=block.family_account_id,
            reason=reason,
            details={"block_id": block.id},
        )
        return await _view(tx, block, now=now)


async def _view(tx: AsyncSession, b: FamilyBlock, *, now: datetime) -> FamilyBlockView:
    family = await tx.get(FamilyAccount, b.family_account_id)
    created_by = await tx.get(Staff, b.created_by_staff_id)
    lifted_by = await tx.get(Staff, b.lifted_by_staff_id) if b.lifted_by_staff_id else None
    state = (
        BlockState.LIFTED
        if b.lifted_at is not None
        else BlockState.ENDED
        if b.ends_at is not None and b.ends_at <= now
        else BlockState.ACTIVE
    )
    return FamilyBlockView(
        id=b.id,
        facility_id=b.facility_id,
        family_account_id=b.family_account_id,
        family_name=f"{family.first_name} {family.last_name}" if family else "",
        reason=b.reason,
        until=b.until,
        ends_at=b.ends_at,
        state=state,
        created_at=b.created_at,
        created_by=created_by.display_name if created_by else "",
        created_by_staff_id=b.created_by_staff_id,
        lifted_at=b.lifted_at,
        lifted_by=lifted_by.display_name if lifted_by else None,
        lift_reason=b.lift_reason,
    )
