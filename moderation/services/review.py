"""The review queue: messages held by the facility's policy, and the staff decision on each.

A decision is a conditional update from `pending_review`, so when two reviewers act on one
message at once exactly one wins and the other is told who decided. Approving delivers (or
schedules); rejecting refunds the payer in the same transaction and tells the sender why.
Every decision is audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from moderation.domain.screening import release_time
from moderation.services.policies import policy_in
from server.domain.messages import MessageStatus, next_status
from server.domain.permissions import Action
from server.errors import Conflict, Forbidden, NotFound
from server.scheduler import due_after_commit
from server.services import ledger
from server.services.audit import record_staff_action
from server.services.blocks_in_force import block_in_force
from server.services.context import Principal, Services
from server.services.delivery import deliver_in, status_json
from server.services.events import append_in, staff_event_in
from server.services.message_views import MessageView, sender_party, view_of
from server.services.messages import direction_of
from server.services.review_items import HeldMessage, held_message_in
from server.storage.db import serialise_writers
from server.storage.message_models import Message
from server.storage.models import Contact, Staff

NOT_FOUND = "No such message in your facility's review queue."
QUEUE_PAGE = 100
HELD = MessageStatus.PENDING_REVIEW.value


def _facility_of(actor: Principal) -> int:
    """The facility whose queue this staff member works; only its reviewers and admins."""
    if not actor.may(Action.REVIEW) or actor.facility_id is None:
        raise Forbidden("Only a facility's reviewers and administrators review its messages.")
    return actor.facility_id


async def access_queue(svc: Services, actor: Principal) -> list[HeldMessage]:
    """Held messages of the actor's facility, oldest first. The queue shows what was said,
    so every read of it is audited ("review.view", with the messages shown), in the
    transaction that reads it."""
    facility_id = _facility_of(actor)
    async with svc.db.transaction() as tx:
        policy = await policy_in(tx, facility_id=facility_id)
        rows = list(
            await tx.scalars(
                select(Message)
                .where(Message.facility_id == facility_id, Message.status == HELD)
                .order_by(Message.created_at, Message.id)
                .limit(QUEUE_PAGE)
            )
        )
        items = [
            await held_message_in(tx, m, policy=policy, matched=list(m.screening)) for m in rows
        ]
        await record_staff_action(
            tx,
            staff=actor,
            at=svc.clock.now(),
            action="review.view",
            facility_id=facility_id,
            details={"shown": [m.id for m in rows]},
        )
        return items


async def do_open_live_feed(svc: Services, actor: Principal, *, facility_id: int) -> None:
    """A console opens the facility's live feed (socket.io `/staff`), which pushes held
    messages with what they say as they arrive: opening it is audited ("review.feed_opened"),
    as every read of the queue is."""
    if not actor.may_staff(facility_id):
        raise Forbidden("Choose a facility to watch.")
    async with svc.db.transaction() as tx:
        await record_staff_action(
            tx,
            staff=actor,
            at=svc.clock.now(),
            action="review.feed_opened",
            facility_id=facility_id,
        )


async def do_approve(svc: Services, actor: Principal, *, message_id: int) -> MessageView:
    """Deliver a held message now (or at its delay's time, if the policy delays and that
    time is still ahead)."""
    facility_id = _facility_of(actor)
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        m = await _claim(tx, actor, facility_id, message_id, now=now)
        policy = await policy_in(tx, facility_id=facility_id)
        delay = policy.delay_minutes_for(direction_of(m), photo=bool(m.photos))
        due = release_time(delay, m.created_at, now)
        contact = await tx.get(Contact, m.contact_id)
        if (
            due is None
            and contact is not None
            and await block_in_force(tx, contact=contact, now=now)
        ):
            due = now  # approved, but a block holds the contact: delivered when it ends
        if due is None:
            await deliver_in(tx, m, now=now)
        else:
            m.status = next_status(MessageStatus(m.status), MessageStatus.SCHEDULED).value
            m.deliver_at = due
            await tx.flush()
            due_after_commit(tx, at=due)
            await append_in(
                tx,
                recipients=[sender_party(m)],
                type="message.status",
                data=status_json(m),
                now=now,
            )
        await _audit(tx, actor, m, now=now, action="review.approve", reason=None)
        await _decided(tx, actor, m)
        return view_of(m)


async def do_reject(
    svc: Services, actor: Principal, *, message_id: int, reason: str
) -> MessageView:
    """Reject a held message: the payer gets the whole price back (its text and its photos),
    the sender the reason."""
    facility_id = _facility_of(actor)
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        m = await _claim(tx, actor, facility_id, message_id, now=now)
        m.status = next_status(MessageStatus(m.status), MessageStatus.REJECTED).value
        m.rejection_reason = reason
        refunded = 0
        if m.charge_transaction_id is not None:
            text_cents = m.price_cents - m.photos_cents
            receipt = await ledger.refund_in(
                tx,
                now=now,
                charge_id=m.charge_transaction_id,
                amount_cents=text_cents,
                idem=ledger.Idempotency("system", f"message-rejected:{m.id}", {}),
                reason="message rejected by facility staff",
                details={"message_id": m.id},
            )
            m.refund_transaction_id = receipt.transaction_id
            refunded += text_cents
        if m.photo_charge_transaction_id is not None:
            receipt = await ledger.refund_in(
                tx,
                now=now,
                charge_id=m.photo_charge_transaction_id,
                amount_cents=m.photos_cents,
                idem=ledger.Idempotency("system", f"photos-rejected:{m.id}", {}),
                reason="photos rejected by facility staff",
                details={"message_id": m.id},
            )
            m.photo_refund_transaction_id = receipt.transaction_id
            refunded += m.photos_cents
        await tx.flush()
        await append_in(
            tx,
            recipients=[sender_party(m)],
            type="message.status",
            data=status_json(m, refunded_cents=refunded),
            now=now,
        )
        await _audit(tx, actor, m, now=now, action="review.reject", reason=reason)
        await _decided(tx, actor, m)
        return view_of(m)


async def _claim(
    tx: AsyncSession, actor: Principal, facility_id: int, message_id: int, *, now: datetime
) -> Message:
    """Take the decision on a held message, or say why not: 404 for anything not of this
    facility's queue, 409 (with who decided) when another decision came first."""
    await serialise_writers(tx)  # SQLite: decide on what is current, not on a snapshot
    m = await tx.get(Message, message_id)
    if m is None or m.facility_id != facility_id:
        raise NotFound(NOT_FOUND)
    won = await tx.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == HELD)
        .values(reviewed_at=now, reviewed_by_staff_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    await tx.refresh(m)
    if won.rowcount != 1:  # type: ignore[attr-defined]
        if m.reviewed_by_staff_id is None:
            raise NotFound(NOT_FOUND)  # never held: nothing to review
        who = await tx.get(Staff, m.reviewed_by_staff_id)
        raise Conflict(
            f"{who.display_name if who else 'Another reviewer'} already "
            f"{'rejected' if m.status == MessageStatus.REJECTED.value else 'approved'} "
            "this message.",
            code="already_decided",
        )
    return m


async def _decided(tx: AsyncSession, actor: Principal, m: Message) -> None:
    """Live: the item leaves every console of the facility."""
    who = await tx.get(Staff, actor.id)
    staff_event_in(
        tx,
        facility_id=m.facility_id,
        type="review.decided",
        data={"id": m.id, "status": m.status, "by": who.display_name if who else None},
    )


async def _audit(
    tx: AsyncSession,
    actor: Principal,
    m: Message,
    *,
    now: datetime,
    action: str,
    reason: str | None,
) -> None:
    await record_staff_action(
        tx,
        staff=actor,
        at=now,
        action=action,
        facility_id=m.facility_id,
        target_type="message",
        target_id=m.id,
        reason=reason,
        details={"contact_id": m.contact_id, "matched": list(m.screening)},
    )
