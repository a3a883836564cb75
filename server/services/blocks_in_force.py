"""Whether a block is in force on a contact: the one question the send path, the delivery job,
review and appeals ask (the core's, since sending and delivering are; the moderation wing
places and lifts family blocks, server/services/contacts.py blocks and unblocks contacts).

A block in force (a blocked contact, or the contact's family blocked at its facility) refuses
sends on the contact in both directions (403 `blocked`, nothing stored or charged) and holds
back its scheduled messages until the block ends.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, exists, or_
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.contacts import ContactStatus, contact_block_sentence, family_block_sentence
from server.services.contact_views import active_contact_block
from server.services.contacts import (
    end_expired_block_in,
    family_block_in_force,
    family_block_in_force_at,
)
from server.storage.case_models import ContactBlock, FamilyBlock
from server.storage.message_models import Message
from server.storage.models import Contact, Facility


async def block_in_force(tx: AsyncSession, *, contact: Contact, now: datetime) -> str | None:
    """The sentence to show when a block holds this contact at `now` (its own block, or its
    family's at its facility), else None. A contact block that has run out is ended here, in
    the caller's transaction, so the contact is back to its status before the block."""
    blocked = contact.status == ContactStatus.BLOCKED.value
    if blocked and not await end_expired_block_in(tx, contact, now=now):
        block = await active_contact_block(tx, contact_id=contact.id)
        return contact_block_sentence(block.until if block is not None else None)
    family = await family_block_in_force(
        tx, family_account_id=contact.family_account_id, facility_id=contact.facility_id, now=now
    )
    if family is None:
        return None
    facility = await tx.get(Facility, contact.facility_id)
    return family_block_sentence(facility.name if facility else "this facility", family.until)


def held_back_by_block(now: datetime) -> ColumnElement[bool]:
    """SQL over `messages`: a block holds the message's contact at `now` (the same rule as
    `block_in_force`), so that the delivery job never even claims such a message and a
    long-blocked contact's backlog cannot crowd out the messages that are due."""
    run_out = exists().where(
        ContactBlock.contact_id == Contact.id,
        ContactBlock.lifted_at.is_(None),
        ContactBlock.ends_at <= now,
    )
    contact_blocked = exists().where(
        Contact.id == Message.contact_id,
        Contact.status == ContactStatus.BLOCKED.value,
        ~run_out,
    )
    family_blocked = exists().where(
        Contact.id == Message.contact_id,
        FamilyBlock.family_account_id == Contact.family_account_id,
        FamilyBlock.facility_id == Contact.facility_id,
        family_block_in_force_at(now),
    )
    return or_(contact_blocked, family_blocked)
