"""Delivery: a stored message reaching its recipient, now or when due, and every later change
of its status reaching the parties' event streams.

Delayed messages are released by the database, not by a timer in memory: `do_release_due`
claims what is due (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite), so two
server processes never release one message twice and a restart loses nothing. Each process's
scheduler (server/scheduler.py) runs it when `next_release_at` has come, and is woken by the
commit that schedules a message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.messages import MessageStatus, next_status
from server.services.blocks_in_force import block_in_force, held_back_by_block
from server.services.context import Services
from server.services.events import append_in
from server.services.message_views import message_json, recipient_party, sender_party, view_of
from server.storage.db import serialise_writers
from server.storage.message_models import Message
from server.storage.models import Contact

RELEASE_BATCH = 200


def status_json(m: Message, refunded_cents: int = 0) -> dict[str, Any]:
    """The `message.status` event's data."""
    return {
        "id": m.id,
        "contact_id": m.contact_id,
        "status": m.status,
        "deliver_at": m.deliver_at.isoformat() if m.deliver_at else None,
        "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
        "read_at": m.read_at.isoformat() if m.read_at else None,
        "rejection_reason": m.rejection_reason,
        "refunded_cents": refunded_cents,
    }


async def deliver_in(tx: AsyncSession, m: Message, *, now: datetime) -> None:
    """Deliver a held or scheduled message now: the recipient gets `message.new`, the sender
    `message.status`, both in the caller's transaction."""
    m.status = next_status(MessageStatus(m.status), MessageStatus.DELIVERED).value
    m.delivered_at = now
    await tx.flush()
    to = recipient_party(m)
    await append_in(
        tx, recipients=[to], type="message.new", data=message_json(view_of(m), to), now=now
    )
    await append_in(
        tx, recipients=[sender_party(m)], type="message.status", data=status_json(m), now=now
    )


async def next_release_at(svc: Services) -> datetime | None:
    """The earliest time a scheduled message is due that no block holds back (a held one is
    due again when its block ends, which is the block-ends job's time)."""
    now = svc.clock.now()
    async with svc.db.read() as tx:
        return await tx.scalar(
            select(func.min(Message.deliver_at))
            .where(Message.status == MessageStatus.SCHEDULED.value)
            .where(~held_back_by_block(now))
        )


async def do_release_due(svc: Services, *, limit: int = RELEASE_BATCH) -> int:
    """Deliver scheduled messages whose time has come; how many were released."""
    now = svc.clock.now()
    due = (
        select(Message)
        .where(Message.status == MessageStatus.SCHEDULED.value, Message.deliver_at <= now)
        .where(~held_back_by_block(now))  # a blocked contact's messages wait for its end
        .order_by(Message.deliver_at, Message.id)
        .limit(limit)
    )
    # A cheap look first, so an idle server never takes SQLite's write lock.
    async with svc.db.read() as tx:
        if await tx.scalar(due.with_only_columns(Message.id).limit(1)) is None:
            return 0
    async with svc.db.transaction() as tx:
        if svc.db.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)  # another process has those
        else:
            await serialise_writers(tx)  # SQLite: one writer; it reads what it then changes
        messages = list(await tx.scalars(due))
        for m in messages:
            contact = await tx.get(Contact, m.contact_id)
            if contact is not None and await block_in_force(tx, contact=contact, now=now):
                continue  # blocked since the look above: it waits for the block's end
            await deliver_in(tx, m, now=now)
        return len(messages)
