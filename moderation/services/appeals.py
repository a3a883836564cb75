"""Appeals: the sender of a rejected message asks, once and briefly, for it to be delivered
after all; the facility's administrators uphold the rejection or overturn it.

An overturned message is delivered now (or, while a block holds the contact, when the block
ends) and stays free: its payer was refunded when it was rejected. The decision is a
conditional update from `pending`, so of two administrators deciding at once exactly one wins
and the other is told who decided. The sender hears the outcome on their event stream
(`message.status` with `appeal`); every decision is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.messages import MessageStatus, next_status
from server.domain.permissions import Action
from server.errors import Conflict, FieldErrors, Forbidden, NotFound
from server.services.audit import record_staff_action
from server.services.blocks_in_force import block_in_force
from server.services.context import Principal, Services
from server.services.delivery import deliver_in, status_json
from server.services.events import append_in, staff_event_in
from server.services.message_views import MessageView, name_of, sender_party, view_of
from server.storage.case_models import Appeal, appeal_of
from server.storage.message_models import Message
from server.storage.models import Contact, Staff

MAX_TEXT = 500
QUEUE_PAGE = 100
NO_MESSAGE = "No such rejected message of yours."
NOT_FOUND = "No such appeal."
REJECTED = MessageStatus.REJECTED.value


class AppealStatus(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"
    OVERTURNED = "overturned"


class Decision(StrEnum):
    UPHOLD = "uphold"
    OVERTURN = "overturn"


OUTCOME = {Decision.UPHOLD: AppealStatus.UPHELD, Decision.OVERTURN: AppealStatus.OVERTURNED}


@dataclass(frozen=True)
class AppealItem:
    """An appeal as the facility's administrators see it."""

    id: int
    facility_id: int
    status: AppealStatus
    text: str
    created_at: datetime
    rejection_reason: str | None
    rejected_by: str | None  # the reviewer's display name
    rejected_by_staff_id: int | None
    rejected_at: datetime | None
    message: MessageView
    sender_name: str
    recipient_name: str
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None


def check_appeal_text(text: str) -> str:
    """The appeal as written, or FieldErrors: something to say, at most MAX_TEXT characters."""
    if not text.strip():
        raise FieldErrors({"text": "Say why the message should be delivered."})
    if len(text) > MAX_TEXT:
        raise FieldErrors({"text": f"Use at most {MAX_TEXT} characters."})
    return text


async def do_appeal(svc: Services, actor: Principal, *, message_id: int, text: str) -> MessageView:
    """The sender appeals their rejected message, once (409 `already_appealed`); anything
    that is not their rejected message is 404."""
    check_appeal_text(text)
    if not actor.may(Action.MESSAGE_APPEAL):
        raise Forbidden("Appeals are made by the sender of the message.")
    party = actor.party
    now = svc.clock.now()
    try:
        async with svc.db.transaction(serialised=True) as tx:
            m = await tx.scalar(
                select(Message)
                .where(
                    Message.id == message_id,
                    Message.sender_kind == party.kind,
                    Message.sender_id == party.id,
                    Message.deleted_by_sender.is_(False),
                )
                .with_for_update()
            )
            if m is None or m.status != REJECTED:
                raise NotFound(NO_MESSAGE)
            if appeal_of(m) is not None:
                raise _already_appealed()
            appeal = Appeal(
                message=m,
                facility_id=m.facility_id,
                text=text,
                status=AppealStatus.PENDING.value,
                created_at=now,
                rejection_reason=m.rejection_reason,
                rejected_by_staff_id=m.reviewed_by_staff_id,
            )
            tx.add(appeal)
            await tx.flush()
            await _tell_sender(tx, m, now=now)
            staff_event_in(
                tx,
                facility_id=m.facility_id,
                type="appeal.new",
                data={"id": appeal.id, "message_id": m.id},
            )
            return view_of(m)
    except IntegrityError:
        raise _already_appealed() from None  # a concurrent appeal of the same message won


def _already_appealed() -> Conflict:
    return Conflict(
        "You have already appealed this message; each rejection can be appealed once.",
        code="already_appealed",
    )


def _deciders(actor: Principal) -> None:
    if not actor.may(Action.APPEAL_DECIDE):
        raise Forbidden("Appeals are decided by the facility's administrators.")


async def access_appeals(svc: Services, actor: Principal) -> list[AppealItem]:
    """Pending appeals, oldest first: the actor's facility's (global support: every one).
    Each appeal shows the rejected message, so every read of the list is audited
    ("appeals.view", with the appeals and messages shown)."""
    if not actor.may(Action.APPEAL_READ):
        raise Forbidden("Appeals are for the facility's administrators.")
    stmt = select(Appeal).where(Appeal.status == AppealStatus.PENDING.value)
    if actor.facility_id is not None:
        stmt = stmt.where(Appeal.facility_id == actor.facility_id)
    async with svc.db.transaction() as tx:
        rows = list(await tx.scalars(stmt.order_by(Appeal.id).limit(QUEUE_PAGE)))
        items = [await _item(tx, a) for a in rows]
        await record_staff_action(
            tx,
            staff=actor,
            at=svc.clock.now(),
            action="appeals.view",
            facility_id=actor.facility_id,
            details={"shown": [a.id for a in rows], "messages": [a.message_id for a in rows]},
        )
        return items


async def do_decide(
    svc: Services, actor: Principal, *, appeal_id: int, decision: Decision, reason: str
) -> AppealItem:
    """Uphold (the message stays rejected) or overturn (it is delivered, free)."""
    now = svc.clock.now()
    outcome = OUTCOME[decision]
    async with svc.db.transaction(serialised=True) as tx:
        appeal = await tx.get(Appeal, appeal_id)
        if appeal is None or not actor.may_staff(appeal.facility_id):
            raise NotFound(NOT_FOUND)
        _deciders(actor)
        won = await tx.execute(
            update(Appeal)
            .where(Appeal.id == appeal_id, Appeal.status == AppealStatus.PENDING.value)
            .values(
                status=outcome.value,
                decided_at=now,
                decided_by_staff_id=actor.id,
                decision_reason=reason,
            )
            .execution_options(synchronize_session=False)
        )
        await tx.refresh(appeal)
        if won.rowcount != 1:  # type: ignore[attr-defined]
            by = appeal.decided_by_staff_id
            who = await tx.get(Staff, by) if by is not None else None
            raise Conflict(
                f"{who.display_name if who else 'Another administrator'} already "
                f"{appeal.status} this appeal.",
                code="already_decided",
            )
        m = await tx.scalar(
            select(Message).where(Message.id == appeal.message_id).with_for_update()
        )
        assert m is not None
        if outcome is AppealStatus.OVERTURNED:
            await _deliver(tx, m, now=now)
        await _tell_sender(tx, m, now=now)
        await record_staff_action(
            tx,
            staff=actor,
            at=now,
            action=f"appeal.{decision.value}",
            facility_id=appeal.facility_id,
            target_type="appeal",
            target_id=appeal.id,
            reason=reason,
            details={
                "message_id": m.id,
                "contact_id": m.contact_id,
                "rejected_by_staff_id": appeal.rejected_by_staff_id,
                "status": m.status,
            },
        )
        staff_event_in(
            tx,
            facility_id=appeal.facility_id,
            type="appeal.decided",
            data={"id": appeal.id, "decision": decision.value},
        )
        return await _item(tx, appeal)


async def _deliver(tx: AsyncSession, m: Message, *, now: datetime) -> None:
    """Back in line for delivery, due now: delivered at once unless a block holds the
    contact, in which case the scheduler's delivery job sends it when the block ends."""
    m.status = next_status(MessageStatus(m.status), MessageStatus.SCHEDULED).value
    m.deliver_at = now
    contact = await tx.get(Contact, m.contact_id)
    assert contact is not None
    if await block_in_force(tx, contact=contact, now=now) is None:
        await deliver_in(tx, m, now=now)
    else:
        await tx.flush()


async def _tell_sender(tx: AsyncSession, m: Message, *, now: datetime) -> None:
    """`message.status` with the appeal, to the sender's devices."""
    appeal = view_of(m).appeal
    await append_in(
        tx,
        recipients=[sender_party(m)],
        type="message.status",
        data={**status_json(m), "appeal": appeal.json() if appeal else None},
        now=now,
    )


async def _item(tx: AsyncSession, a: Appeal) -> AppealItem:
    m = await tx.get(Message, a.message_id)
    assert m is not None
    view = view_of(m)
    rejected_by = await tx.get(Staff, a.rejected_by_staff_id) if a.rejected_by_staff_id else None
    decided_by = await tx.get(Staff, a.decided_by_staff_id) if a.decided_by_staff_id else None
    return AppealItem(
        id=a.id,
        facility_id=a.facility_id,
        status=AppealStatus(a.status),
        text=a.text,
        created_at=a.created_at,
        rejection_reason=a.rejection_reason,
        rejected_by=rejected_by.display_name if rejected_by else None,
        rejected_by_staff_id=a.rejected_by_staff_id,
        rejected_at=m.reviewed_at,
        message=view,
        sender_name=await name_of(tx, view.sender),
        recipient_name=await name_of(tx, view.recipient),
        decided_at=a.decided_at,
        decided_by=decided_by.display_name if decided_by else None,
        decision_reason=a.decision_reason,
    )
