"""Messages between the two parties of an approved contact: send (paid, idempotent, stored
and charged in one transaction), history, delete-for-me.

Only the two parties can read a message; anyone else, and any id that is not theirs, gets
404. (Staff read access and the facility's screening rules arrive with moderation.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.contacts import ContactStatus
from server.domain.ledger import AccountRef, SystemCode, family_wallet, resident_wallet
from server.domain.messages import MessageStatus, check_body, next_status
from server.domain.money import Money
from server.domain.tariff import is_saturday, local_day_bounds, message_price
from server.errors import Conflict, NotFound, PaymentRequired
from server.services import ledger
from server.services.context import Principal, PrincipalKind, Services
from server.services.events import append_in
from server.services.notify import Recipient
from server.services.tariffs import tariff_in
from server.storage.message_models import Message
from server.storage.models import Contact, Facility, FamilyAccount, Resident

NOT_FOUND = "No such message."
NO_CONTACT = "No such contact."
MAX_PAGE = 100

_NOT_APPROVED = {
    ContactStatus.PENDING: "This contact has not been approved yet; messages can be sent once "
    "the resident approves it.",
    ContactStatus.BLOCKED: "Facility staff have blocked this contact; messages cannot be sent.",
}


@dataclass(frozen=True)
class MessageView:
    id: int
    contact_id: int
    body: str
    status: MessageStatus
    sender: Recipient
    recipient: Recipient
    price_cents: int
    payer: str | None  # the paying wallet's owner key; None when free
    created_at: datetime
    delivered_at: datetime | None
    read_at: datetime | None

    def paid_by(self, viewer: Recipient) -> str | None:
        """Who paid, as the viewer sees it: "you", "sender", "recipient" or None (free)."""
        if self.payer is None:
            return None
        if self.payer == _wallet(viewer).owner_key:
            return "you"
        return "sender" if self.payer == _wallet(self.sender).owner_key else "recipient"


def _party(actor: Principal) -> Recipient:
    return Recipient(kind=actor.kind.value, id=actor.id)


def _wallet(who: Recipient) -> AccountRef:
    if who.kind == PrincipalKind.FAMILY.value:
        return family_wallet(who.id)
    return resident_wallet(who.id)


def _view(m: Message) -> MessageView:
    return MessageView(
        id=m.id,
        contact_id=m.contact_id,
        body=m.body,
        status=MessageStatus(m.status),
        sender=Recipient(kind=m.sender_kind, id=m.sender_id),
        recipient=Recipient(kind=m.recipient_kind, id=m.recipient_id),
        price_cents=m.price_cents,
        payer=m.payer,
        created_at=m.created_at,
        delivered_at=m.delivered_at,
        read_at=m.read_at,
    )


def _other_party(actor: Principal, contact: Contact) -> Recipient | None:
    """The other side of the contact, or None when the actor is not a party to it."""
    if actor.kind is PrincipalKind.FAMILY and contact.family_account_id == actor.id:
        return Recipient(kind=PrincipalKind.RESIDENT.value, id=contact.resident_id)
    if actor.kind is PrincipalKind.RESIDENT and contact.resident_id == actor.id:
        return Recipient(kind=PrincipalKind.FAMILY.value, id=contact.family_account_id)
    return None


async def do_send_message(
    svc: Services, actor: Principal, *, contact_id: int, body: str, client_id: str
) -> tuple[MessageView, bool]:
    """Store, charge and deliver one message; the flag says whether it is new (False: a
    retry with the same client_id, answered with the first send and charged nothing)."""
    check_body(body)
    # Two tries: a concurrent retry may insert the same client_id first; this one then
    # rolls back (its charge with it) and finds the stored message like any other retry.
    for _ in range(2):
        try:
            return await _send(svc, actor, contact_id=contact_id, body=body, client_id=client_id)
        except IntegrityError:
            continue
    raise Conflict("This message is being sent already; try again.")


async def _send(
    svc: Services, actor: Principal, *, contact_id: int, body: str, client_id: str
) -> tuple[MessageView, bool]:
    now = svc.clock.now()
    sender = _party(actor)
    async with svc.db.transaction() as tx:
        contact = await tx.get(Contact, contact_id)
        recipient = _other_party(actor, contact) if contact is not None else None
        if contact is None or recipient is None:
            raise NotFound(NO_CONTACT)
        first = await tx.scalar(
            select(Message).where(
                Message.sender_kind == sender.kind,
                Message.sender_id == sender.id,
                Message.client_id == client_id,
            )
        )
        if first is not None:
            if first.contact_id != contact_id or first.body != body:
                raise Conflict(
                    "This client_id was already used for another message; use a new one.",
                    code="idempotency_key_reused",
                )
            return _view(first), False
        status = ContactStatus(contact.status)
        if status is not ContactStatus.APPROVED:
            raise Conflict(
                _NOT_APPROVED.get(
                    status, f"This contact is {status.value}; messages cannot be sent."
                ),
                code="contact_not_approved",
            )
        facility = await tx.get(Facility, contact.facility_id)
        assert facility is not None
        price = message_price(
            await tariff_in(tx, facility_id=facility.id),
            sent_today_by_sender=await _sent_today(tx, sender, now=now, tz=facility.timezone),
            is_saturday_local=is_saturday(now, facility.timezone),
        )
        payer: str | None = None
        charge_id: int | None = None
        if price > 0:
            try:
                receipt = await ledger.charge_in(
                    tx,
                    now=now,
                    payers=[_wallet(sender), _wallet(recipient)],
                    amount_cents=price,
                    revenue=SystemCode.MESSAGE_REVENUE,
                    idem=ledger.Idempotency(
                        f"{sender.kind}:{sender.id}",
                        f"message:{client_id}",
                        {"contact_id": contact_id},
                    ),
                    facility_id=facility.id,
                    memo="Message",
                    details={"contact_id": contact_id},
                )
            except ledger.InsufficientFunds:
                name = await _name_of(tx, recipient)
                raise PaymentRequired(
                    f"Neither you nor {name} has enough money to pay for this message "
                    f"({Money(price)}). Add money to your wallet and send it again.",
                    code="insufficient_funds",
                ) from None
            payer = str(receipt.details["payer"])
            charge_id = receipt.transaction_id
        message = Message(
            contact_id=contact_id,
            facility_id=facility.id,
            sender_kind=sender.kind,
            sender_id=sender.id,
            recipient_kind=recipient.kind,
            recipient_id=recipient.id,
            body=body,
            # Screening by facility policy (delay, review) arrives with moderation.
            status=next_status(None, MessageStatus.DELIVERED).value,
            client_id=client_id,
            payer=payer,
            price_cents=price,
            charge_transaction_id=charge_id,
            created_at=now,
            delivered_at=now,
            read_at=None,
            deleted_by_sender=False,
            deleted_by_recipient=False,
        )
        tx.add(message)
        await tx.flush()
        view = _view(message)
        for who in (recipient, sender):
            await append_in(
                tx, recipients=[who], type="message.new", data=message_json(view, who), now=now
            )
        return view, True


async def _sent_today(tx: AsyncSession, sender: Recipient, *, now: datetime, tz: str) -> int:
    start, end = local_day_bounds(now, tz)
    count = await tx.scalar(
        select(func.count(Message.id)).where(
            Message.sender_kind == sender.kind,
            Message.sender_id == sender.id,
            Message.created_at >= start,
            Message.created_at < end,
        )
    )
    return int(count or 0)


async def _name_of(tx: AsyncSession, who: Recipient) -> str:
    if who.kind == PrincipalKind.FAMILY.value:
        family = await tx.get(FamilyAccount, who.id)
        return f"{family.first_name} {family.last_name}" if family else "the recipient"
    resident = await tx.get(Resident, who.id)
    return f"{resident.first_name} {resident.last_name}" if resident else "the recipient"


def _visible_to(party: Recipient) -> ColumnElement[bool]:
    """SQL: messages of this party that they have not deleted for themselves."""
    return or_(
        and_(
            Message.sender_kind == party.kind,
            Message.sender_id == party.id,
            Message.deleted_by_sender.is_(False),
        ),
        and_(
            Message.recipient_kind == party.kind,
            Message.recipient_id == party.id,
            Message.deleted_by_recipient.is_(False),
        ),
    )


async def access_history(
    svc: Services, actor: Principal, *, contact_id: int, before: int | None, limit: int
) -> list[MessageView]:
    """The conversation on one contact, newest first, `limit` messages older than message
    `before` (the cursor), without those the actor deleted for themselves."""
    party = _party(actor)
    async with svc.db.read() as tx:
        contact = await tx.get(Contact, contact_id)
        if contact is None or _other_party(actor, contact) is None:
            raise NotFound(NO_CONTACT)
        stmt = select(Message).where(Message.contact_id == contact_id, _visible_to(party))
        if before is not None:
            stmt = stmt.where(Message.id < before)
        rows = await tx.scalars(stmt.order_by(Message.id.desc()).limit(min(limit, MAX_PAGE)))
        return [_view(m) for m in rows]


async def do_delete_for_me(svc: Services, actor: Principal, *, message_id: int) -> None:
    """Hide a message for the actor only; the other party still sees it."""
    party = _party(actor)
    async with svc.db.transaction() as tx:
        message = await tx.scalar(
            select(Message).where(Message.id == message_id, _visible_to(party)).with_for_update()
        )
        if message is None:
            raise NotFound(NOT_FOUND)
        if message.sender_kind == party.kind and message.sender_id == party.id:
            message.deleted_by_sender = True
        else:
            message.deleted_by_recipient = True


def message_json(m: MessageView, viewer: Recipient) -> dict[str, object]:
    """A message as `viewer` (one of its two parties) sees it."""
    return {
        "id": m.id,
        "contact_id": m.contact_id,
        "body": m.body,
        "status": m.status.value,
        "sender": {"kind": m.sender.kind, "id": m.sender.id},
        "price_cents": m.price_cents,
        "paid_by": m.paid_by(viewer),
        "created_at": m.created_at.isoformat(),
        "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
    }
