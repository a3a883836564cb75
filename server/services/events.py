"""The event stream: each person has a sequence; every change they should see is appended in
the same database transaction as the change, pushed to their sockets after the commit, and
replayable by sequence number (`GET /api/v1/events?since=`, socket `sync {since}`).

Pushing is only a wake-up: a push that is lost (a process dies after commit, Redis blips) costs
nothing but a moment, because the client asks for everything after its last seq on reconnect.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.party import Party
from server.services.context import Services
from server.services.notify import Notifier, SessionEnded, StaffEvent, StreamEvent
from server.storage.db import AFTER_COMMIT, BEFORE_COMMIT
from server.storage.event_models import Event, EventStream

MAX_PAGE = 500
log = logging.getLogger("homeline.events")


@dataclass(frozen=True)
class _Pending:
    recipient: Party
    type: str
    data: dict[str, Any]
    now: datetime


PENDING = "homeline.events.pending"


async def append_in(
    tx: AsyncSession,
    *,
    recipients: Sequence[Party],
    type: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """Append one event to each recipient's stream, as part of the caller's transaction.

    The events are numbered and written just before the commit (`_write_pending`), all of
    the transaction's at once: so a transaction locks the streams it writes to last, and in
    one order (by recipient), and two transactions can never deadlock on each other's streams.
    """
    pending: list[_Pending] | None = tx.info.get(PENDING)
    if pending is None:
        pending = tx.info[PENDING] = []
        tx.info.setdefault(BEFORE_COMMIT, []).append(_write_pending)
    pending.extend(_Pending(r, type, data, now) for r in recipients)


async def _write_pending(tx: AsyncSession) -> None:
    """Number and insert the transaction's events. The next seq comes from an upsert on the
    recipient's stream row, which also locks it, so concurrent appends to one person get
    distinct, gap-free numbers."""
    pending: list[_Pending] = tx.info.pop(PENDING, [])
    insert = pg_insert if tx.get_bind().dialect.name == "postgresql" else sqlite_insert
    by_recipient: dict[Party, list[_Pending]] = {}
    for p in pending:
        by_recipient.setdefault(p.recipient, []).append(p)
    out: list[StreamEvent] = []
    for r in sorted(by_recipient):
        events = by_recipient[r]
        upsert = (
            insert(EventStream)
            .values(principal_kind=r.kind, principal_id=r.id, last_seq=len(events), acked_seq=0)
            .on_conflict_do_update(
                index_elements=["principal_kind", "principal_id"],
                set_={"last_seq": EventStream.last_seq + len(events)},
            )
            .returning(EventStream.last_seq)
        )
        last = int((await tx.execute(upsert)).scalar_one())
        for seq, p in enumerate(events, start=last - len(events) + 1):
            tx.add(
                Event(
                    principal_kind=r.kind,
                    principal_id=r.id,
                    seq=seq,
                    type=p.type,
                    data=p.data,
                    created_at=p.now,
                )
            )
            out.append(
                StreamEvent(recipient=r, seq=seq, type=p.type, data=p.data, created_at=p.now)
            )
    await tx.flush()
    # Pushed by Database.transaction() once this transaction has committed, never before.
    tx.info.setdefault(AFTER_COMMIT, []).extend(out)


async def events_since(
    tx: AsyncSession, *, recipient: Party, since: int, limit: int = MAX_PAGE
) -> list[StreamEvent]:
    rows = (
        await tx.scalars(
            select(Event)
            .where(
                Event.principal_kind == recipient.kind,
                Event.principal_id == recipient.id,
                Event.seq > since,
            )
            .order_by(Event.seq)
            .limit(min(limit, MAX_PAGE))
        )
    ).all()
    return [
        StreamEvent(
            recipient=recipient, seq=e.seq, type=e.type, data=e.data, created_at=e.created_at
        )
        for e in rows
    ]


async def last_seq(tx: AsyncSession, *, recipient: Party) -> int:
    value = await tx.scalar(
        select(EventStream.last_seq).where(
            EventStream.principal_kind == recipient.kind,
            EventStream.principal_id == recipient.id,
        )
    )
    return int(value or 0)


async def record_ack(tx: AsyncSession, *, recipient: Party, seq: int) -> None:
    """Remember the highest seq the client has confirmed (never moves backwards)."""
    await tx.execute(
        update(EventStream)
        .where(
            EventStream.principal_kind == recipient.kind,
            EventStream.principal_id == recipient.id,
            EventStream.acked_seq < seq,
            EventStream.last_seq >= seq,
        )
        .values(acked_seq=seq)
    )


@dataclass(frozen=True)
class EventPage:
    events: list[StreamEvent]
    last_seq: int  # the newest seq in the stream (a client is caught up when it reaches it)


async def access_events(
    svc: Services, *, recipient: Party, since: int, limit: int = MAX_PAGE
) -> EventPage:
    """The caller's own events after `since`, oldest first."""
    async with svc.db.read() as tx:
        events = await events_since(tx, recipient=recipient, since=since, limit=limit)
        newest = await last_seq(tx, recipient=recipient)
    return EventPage(events=events, last_seq=newest)


async def do_ack(svc: Services, *, recipient: Party, seq: int) -> None:
    async with svc.db.transaction() as tx:
        await record_ack(tx, recipient=recipient, seq=seq)


def staff_event_in(tx: AsyncSession, *, facility_id: int, type: str, data: dict[str, Any]) -> None:
    """Tell the facility's staff consoles once this transaction commits (live updates only:
    the console reloads what it missed from the database)."""
    tx.info.setdefault(AFTER_COMMIT, []).append(StaffEvent(facility_id, type, data))


async def publish_committed(notifier: Notifier, events: Sequence[Any]) -> None:
    """Wake sockets for committed events; never fails the caller (the events are durable)."""
    pushed = [e for e in events if isinstance(e, StreamEvent)]
    staff = [e for e in events if isinstance(e, StaffEvent)]
    ended = [e for e in events if isinstance(e, SessionEnded)]
    try:
        if ended:
            await notifier.end_sessions(ended)
        if pushed:
            await notifier.publish(pushed)
        if staff:
            await notifier.publish_staff(staff)
    except Exception:
        log.warning("event push failed; clients will catch up on sync", exc_info=True)
