"""Messages between the two parties of an approved contact: send (paid, screened by the
facility's policy, idempotent: stored, charged and announced in one transaction), the price
before sending, history, delete-for-me.

Only the two parties can read a message, and the recipient only once it is delivered; anyone
else, and any id that is not theirs, gets 404. Staff read access is in `conversations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from media.domain.photo_rules import check_photo_count
from moderation.domain.policy import Direction, Policy
from moderation.domain.screening import Action, Screened, Verdict, screen
from server.domain.contacts import ContactStatus, family_block_sentence
from server.domain.ledger import SystemCode
from server.domain.messages import MessageStatus, check_body, next_status
from server.domain.money import Money
from server.domain.party import Party, PartyKind
from server.domain.permissions import Action as Permission
from server.domain.tariff import is_saturday, local_day_bounds, message_price
from server.errors import Conflict, FieldErrors, Forbidden, NotFound, PaymentRequired
from server.scheduler import due_after_commit
from server.services import ledger
from server.services.blocks_in_force import block_in_force
from server.services.contacts import family_block_in_force
from server.services.context import Principal, Services
from server.services.events import append_in, staff_event_in
from server.services.message_views import (
    MessageView,
    message_json,
    name_of,
    other_party,
    sender_party,
    view_of,
)
from server.services.review_items import held_message_in
from server.services.tariffs import tariff_in
from server.storage.message_models import Message
from server.storage.models import Contact, Facility

NOT_FOUND = "No such message."
NO_CONTACT = "No such contact."
MAX_PAGE = 100

_NOT_APPROVED = {
    ContactStatus.PENDING: "This contact has not been approved yet; messages can be sent once "
    "the resident approves it.",
    ContactStatus.BLOCKED: "Facility staff have blocked this contact; messages cannot be sent.",
}


async def contact_of(tx: AsyncSession, actor: Principal, contact_id: int) -> tuple[Contact, Party]:
    """A contact the actor is a party to, and the other party; 404 for any other."""
    contact = await tx.get(Contact, contact_id)
    other = other_party(actor, contact) if contact is not None else None
    if contact is None or other is None:
        raise NotFound(NO_CONTACT)
    return contact, other


async def do_send_message(
    svc: Services,
    actor: Principal,
    *,
    contact_id: int,
    body: str,
    client_id: str,
    photo_ids: Sequence[int] = (),
) -> tuple[MessageView, bool]:
    """Store, charge and deliver one message, with the sender's uploaded photos if any; the
    flag says whether it is new (False: a retry with the same client_id, answered with the
    first send and charged nothing)."""
    if not actor.may(Permission.MESSAGE_SEND):
        raise Forbidden("Messages are sent by family members and residents.")
    photos = tuple(photo_ids)
    if photos:
        body = _caption(body)
        if actor.party.kind is not PartyKind.FAMILY:
            raise Forbidden(PHOTOS_ONE_WAY, code="photos_family_only")
        check_photo_count(len(photos))
        if len(set(photos)) != len(photos):
            raise FieldErrors({"photo_ids": "Each photo can be attached only once."})
    else:
        check_body(body)
    # Two tries: a concurrent retry may insert the same client_id first; this one then
    # rolls back (its charge with it) and finds the stored message like any other retry.
    for _ in range(2):
        try:
            return await _send(
                svc, actor, contact_id=contact_id, body=body, client_id=client_id, photos=photos
            )
        except IntegrityError:
            continue
    raise Conflict("This message is being sent already; try again.")


PHOTOS_ONE_WAY = "Photos go from family members to residents only."


def _caption(body: str) -> str:
    """The text beside photos: none at all (white space only counts as none), or a body."""
    return check_body(body) if body.strip() else ""


async def _send(
    svc: Services,
    actor: Principal,
    *,
    contact_id: int,
    body: str,
    client_id: str,
    photos: tuple[int, ...],
) -> tuple[MessageView, bool]:
    now = svc.clock.now()
    sender = actor.party
    async with svc.db.transaction() as tx:
        contact, recipient = await contact_of(tx, actor, contact_id)
        first = await tx.scalar(
            select(Message).where(
                Message.sender_kind == sender.kind,
                Message.sender_id == sender.id,
                Message.client_id == client_id,
            )
        )
        if first is not None:
            if (
                first.contact_id != contact_id
                or first.body != body
                or tuple(p["id"] for p in first.photos) != photos
            ):
                raise Conflict(
                    "This client_id was already used for another message; use a new one.",
                    code="idempotency_key_reused",
                )
            return view_of(first), False
        # Before the approval check: a blocked contact is refused as blocked (403), and a
        # block that has run out is ended here, so the contact is approved again if it was.
        held = await block_in_force(tx, contact=contact, now=now)
        if held is not None:
            raise Forbidden(held, code="blocked")
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
        price = await _price(
            tx, contact, facility, sender, now=now, text=bool(body), photos=len(photos)
        )
        verdict = screen(
            Screened(
                body=body,
                direction=_direction(sender),
                privileged=contact.privileged,
                resident_id=contact.resident_id,
                photo=bool(photos),
            ),
            policy := await svc.policies(tx, facility_id=facility.id),
            now,
        )
        if verdict.action is Action.REFUSE:
            # Before the charge and the insert: a refused message costs nothing, leaves nothing.
            raise Forbidden(
                verdict.refusal or "Messaging is restricted.", code="messaging_restricted"
            )
        payer: str | None = None
        charge_id: int | None = None
        photo_charge_id: int | None = None
        # A message that carries photos is paid by its sender alone (no recipient fallback).
        payers = [sender.wallet] if photos else [sender.wallet, recipient.wallet]
        try:
            if price.text_cents > 0:
                receipt = await ledger.charge_in(
                    tx,
                    now=now,
                    payers=payers,
                    amount_cents=price.text_cents,
                    revenue=SystemCode.MESSAGE_REVENUE,
                    idem=ledger.Idempotency(
                        str(sender),
                        f"message:{client_id}",
                        {"contact_id": contact_id},
                    ),
                    facility_id=facility.id,
                    memo="Message",
                    details={"contact_id": contact_id},
                )
                payer = str(receipt.details["payer"])
                charge_id = receipt.transaction_id
            if price.photos_cents > 0:
                receipt = await ledger.charge_in(
                    tx,
                    now=now,
                    payers=[sender.wallet],
                    amount_cents=price.photos_cents,
                    revenue=SystemCode.PHOTO_REVENUE,
                    idem=ledger.Idempotency(
                        str(sender),
                        f"photos:{client_id}",
                        {"contact_id": contact_id, "photos": len(photos)},
                    ),
                    facility_id=facility.id,
                    memo=f"{len(photos)} photo{'s' if len(photos) > 1 else ''}",
                    details={"contact_id": contact_id, "photos": len(photos)},
                )
                payer = str(receipt.details["payer"])
                photo_charge_id = receipt.transaction_id
        except ledger.InsufficientFunds:
            # Rolled back with the transaction: a text charge made before this costs nothing.
            raise PaymentRequired(
                _cannot_pay_photos(price.total_cents)
                if photos
                else _cannot_pay(await name_of(tx, recipient), price.total_cents),
                code="insufficient_funds",
            ) from None
        message = Message(
            contact_id=contact_id,
            facility_id=facility.id,
            sender_kind=sender.kind,
            sender_id=sender.id,
            recipient_kind=recipient.kind,
            recipient_id=recipient.id,
            body=body,
            status=next_status(None, _STATUS_OF[verdict.action]).value,
            client_id=client_id,
            payer=payer,
            price_cents=price.total_cents,
            charge_transaction_id=charge_id,
            photos_cents=price.photos_cents,
            photo_charge_transaction_id=photo_charge_id,
            created_at=now,
            deliver_at=verdict.deliver_at,
            delivered_at=now if verdict.action is Action.DELIVER else None,
            read_at=None,
            deleted_by_sender=False,
            deleted_by_recipient=False,
            screening=list(verdict.matched),
        )
        tx.add(message)
        await tx.flush()
        if photos:
            message.photos = await svc.photos(
                tx,
                sender=sender,
                contact_id=contact_id,
                photo_ids=photos,
                message_id=message.id,
                now=now,
            )
            await tx.flush()
        if verdict.deliver_at is not None:
            due_after_commit(tx, at=verdict.deliver_at)
        view = view_of(message)
        if verdict.action is Action.HOLD:
            await _tell_reviewers(tx, message, facility.id, verdict, policy)
        # The recipient hears of it only once it is delivered (see delivery.deliver_in).
        told = [recipient, sender] if verdict.action is Action.DELIVER else [sender]
        for who in told:
            await append_in(
                tx, recipients=[who], type="message.new", data=message_json(view, who), now=now
            )
        return view, True


async def _tell_reviewers(
    tx: AsyncSession, message: Message, facility_id: int, verdict: Verdict, policy: Policy
) -> None:
    """Live: a held message appears in every review console of the facility, as the queue
    shows it."""
    held = await held_message_in(tx, message, policy=policy, matched=list(verdict.matched))
    staff_event_in(tx, facility_id=facility_id, type="review.held", data={"item": held.json()})


_STATUS_OF = {
    Action.DELIVER: MessageStatus.DELIVERED,
    Action.SCHEDULE: MessageStatus.SCHEDULED,
    Action.HOLD: MessageStatus.PENDING_REVIEW,
}


def _direction(sender: Party) -> Direction:
    return Direction.INCOMING if sender.kind is PartyKind.FAMILY else Direction.OUTGOING


def direction_of(m: Message) -> Direction:
    """Incoming (to the resident) or outgoing (from the resident)."""
    return _direction(sender_party(m))


@dataclass(frozen=True)
class Price:
    """What a message costs, in its two parts: its text (the message rules, Saturday's free
    messages included) and its photos (each at the facility's photo price)."""

    text_cents: int
    photos_cents: int

    @property
    def total_cents(self) -> int:
        return self.text_cents + self.photos_cents


async def _price(
    tx: AsyncSession,
    contact: Contact,
    facility: Facility,
    sender: Party,
    *,
    now: datetime,
    text: bool = True,
    photos: int = 0,
) -> Price:
    """What this message costs: nothing on a privileged contact, else the tariff's prices;
    Saturday's free messages apply to the text only."""
    if contact.privileged:
        return Price(0, 0)
    tariff = await tariff_in(tx, facility_id=facility.id)
    text_cents = 0
    if text:
        saturday = is_saturday(now, facility.timezone)
        text_cents = message_price(
            tariff,
            # Only Saturday's price depends on what was sent today: count only then.
            sent_today_by_sender=(
                await _sent_today(tx, sender, now=now, tz=facility.timezone) if saturday else 0
            ),
            is_saturday_local=saturday,
        )
    return Price(text_cents, tariff.photo_cents * photos)


@dataclass(frozen=True)
class Quote:
    """The price of the next message on a contact, before sending it."""

    price_cents: int  # the text (when there is any) and the photos
    message_price_cents: int  # the tariff's price, free or not
    free_remaining_today: int
    payer: str | None  # "you", "recipient", or None when free or when neither can pay
    text_cents: int  # the text part of `price_cents` (0 when free)
    photos: int  # how many photos the quote is for
    photo_price_cents: int  # each photo (the tariff's price; 0 on a privileged contact)
    why_not: str | None  # why a message cannot be sent now, in the words a send would use

    @property
    def can_send(self) -> bool:
        return self.why_not is None


async def access_quote(
    svc: Services, actor: Principal, *, contact_id: int, photos: int = 0
) -> Quote:
    """The price of the next message with text and `photos` photos, who would pay, and what
    would refuse it now."""
    now = svc.clock.now()
    sender = actor.party
    async with svc.db.read() as tx:
        contact, recipient = await contact_of(tx, actor, contact_id)
        facility = await tx.get(Facility, contact.facility_id)
        assert facility is not None
        tariff = await tariff_in(tx, facility_id=facility.id)
        price = await _price(tx, contact, facility, sender, now=now, photos=photos)
        total = price.total_cents
        free_left = 0
        if not contact.privileged and is_saturday(now, facility.timezone):
            sent = await _sent_today(tx, sender, now=now, tz=facility.timezone)
            free_left = max(0, tariff.free_saturday_messages - sent)
        payer: str | None = None
        if total > 0:
            balances = await ledger.available_in(tx, [sender.wallet, recipient.wallet])
            if balances[0] >= total:
                payer = "you"
            elif balances[1] >= total and not photos:
                payer = "recipient"
        policy = await svc.policies(tx, facility_id=facility.id)
        why_not = await _why_not(tx, contact, facility, sender, now=now, policy=policy)
        if why_not is None and photos and sender.kind is not PartyKind.FAMILY:
            why_not = PHOTOS_ONE_WAY
        if why_not is None and total > 0 and payer is None:
            why_not = (
                _cannot_pay_photos(total)
                if photos
                else _cannot_pay(await name_of(tx, recipient), total)
            )
        return Quote(
            price_cents=total,
            message_price_cents=0 if contact.privileged else tariff.message_cents,
            free_remaining_today=free_left,
            payer=payer,
            why_not=why_not,
            text_cents=price.text_cents,
            photos=photos,
            photo_price_cents=0 if contact.privileged else tariff.photo_cents,
        )


async def _why_not(
    tx: AsyncSession,
    contact: Contact,
    facility: Facility,
    sender: Party,
    *,
    now: datetime,
    policy: Policy,
) -> str | None:
    """What would refuse a message on this contact now, read-only (the quote's view of the
    checks `_send` makes)."""
    status = ContactStatus(contact.status)
    if status is not ContactStatus.APPROVED:
        return _NOT_APPROVED.get(status, f"This contact is {status.value}.")
    family = await family_block_in_force(
        tx, family_account_id=contact.family_account_id, facility_id=facility.id, now=now
    )
    if family is not None:
        return family_block_sentence(facility.name, family.until)
    verdict = screen(
        Screened(
            body="",
            direction=_direction(sender),
            privileged=contact.privileged,
            resident_id=contact.resident_id,
        ),
        policy,
        now,
    )
    return verdict.refusal if verdict.action is Action.REFUSE else None


def _cannot_pay_photos(price: int) -> str:
    return (
        f"You do not have enough money for this message ({Money(price)}): photos are paid by "
        "their sender. Add money to your wallet and send it again."
    )


def _cannot_pay(name: str, price: int) -> str:
    return (
        f"Neither you nor {name} has enough money to pay for this message "
        f"({Money(price)}). Add money to your wallet and send it again."
    )


async def _sent_today(tx: AsyncSession, sender: Party, *, now: datetime, tz: str) -> int:
    start, end = local_day_bounds(now, tz)
    count = await tx.scalar(
        select(func.count(Message.id)).where(
            Message.sender_kind == sender.kind,
            Message.sender_id == sender.id,
            Message.body != "",  # Saturday's free messages are for text: photos alone do not count
            Message.created_at >= start,
            Message.created_at < end,
        )
    )
    return int(count or 0)


# Held, scheduled and rejected messages are the sender's alone.
SEEN_BY_RECIPIENT = (MessageStatus.DELIVERED.value, MessageStatus.READ.value)


def visible_to(party: Party) -> ColumnElement[bool]:
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
            Message.status.in_(SEEN_BY_RECIPIENT),
        ),
    )


async def access_history(
    svc: Services, actor: Principal, *, contact_id: int, before: int | None, limit: int
) -> list[MessageView]:
    """The conversation on one contact, newest first, `limit` messages older than message
    `before` (the cursor), without those the actor deleted for themselves."""
    party = actor.party
    async with svc.db.read() as tx:
        await contact_of(tx, actor, contact_id)
        stmt = select(Message).where(Message.contact_id == contact_id, visible_to(party))
        if before is not None:
            stmt = stmt.where(Message.id < before)
        rows = await tx.scalars(stmt.order_by(Message.id.desc()).limit(min(limit, MAX_PAGE)))
        return [view_of(m) for m in rows]


async def do_delete_for_me(svc: Services, actor: Principal, *, message_id: int) -> None:
    """Hide a message for the actor only; the other party still sees it."""
    party = actor.party
    async with svc.db.transaction() as tx:
        message = await tx.scalar(
            select(Message).where(Message.id == message_id, visible_to(party)).with_for_update()
        )
        if message is None:
            raise NotFound(NOT_FOUND)
        if sender_party(message) == party:
            message.deleted_by_sender = True
        else:
            message.deleted_by_recipient = True
