"""How a message looks to each party (its JSON), who the parties of a contact are, and
their names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.messages import MessageStatus
from server.domain.party import Party, PartyKind
from server.services.context import Principal, PrincipalKind
from server.storage.case_models import appeal_of
from server.storage.message_models import Message
from server.storage.models import Contact, FamilyAccount, Resident


@dataclass(frozen=True)
class AppealView:
    """The sender's appeal of a rejected message, and its outcome."""

    id: int
    status: str  # pending | upheld | overturned
    text: str
    rejection_reason: str | None  # the review decision appealed
    decision_reason: str | None
    created_at: datetime
    decided_at: datetime | None

    def json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "status": self.status,
            "text": self.text,
            "rejection_reason": self.rejection_reason,
            "decision_reason": self.decision_reason,
            "created_at": self.created_at.isoformat(),
            "decided_at": _iso(self.decided_at),
        }


@dataclass(frozen=True)
class MessageView:
    id: int
    contact_id: int
    body: str
    status: MessageStatus
    sender: Party
    recipient: Party
    price_cents: int
    payer: str | None  # the paying wallet's owner key; None when free
    created_at: datetime
    deliver_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    rejection_reason: str | None
    refunded: bool
    appeal: AppealView | None = None
    # What it carries: {id, width, height, thumbnail_width, thumbnail_height} each, in order.
    photos: tuple[dict[str, int], ...] = ()

    def paid_by(self, viewer: Party) -> str | None:
        """Who paid, as the viewer sees it: "you", "sender", "recipient" or None (free)."""
        if self.payer is None:
            return None
        if self.payer == viewer.wallet.owner_key:
            return "you"
        return "sender" if self.payer == self.sender.wallet.owner_key else "recipient"


def sender_party(m: Message) -> Party:
    return Party(PartyKind(m.sender_kind), m.sender_id)


def recipient_party(m: Message) -> Party:
    return Party(PartyKind(m.recipient_kind), m.recipient_id)


def other_party(actor: Principal, contact: Contact) -> Party | None:
    """The other side of the contact, or None when the actor is not a party to it."""
    if actor.kind is PrincipalKind.FAMILY and contact.family_account_id == actor.id:
        return Party.resident(contact.resident_id)
    if actor.kind is PrincipalKind.RESIDENT and contact.resident_id == actor.id:
        return Party.family(contact.family_account_id)
    return None


def view_of(m: Message) -> MessageView:
    appeal = appeal_of(m)
    return MessageView(
        id=m.id,
        contact_id=m.contact_id,
        body=m.body,
        status=MessageStatus(m.status),
        sender=sender_party(m),
        recipient=recipient_party(m),
        price_cents=m.price_cents,
        payer=m.payer,
        created_at=m.created_at,
        deliver_at=m.deliver_at,
        delivered_at=m.delivered_at,
        read_at=m.read_at,
        rejection_reason=m.rejection_reason,
        refunded=m.refund_transaction_id is not None or m.photo_refund_transaction_id is not None,
        photos=tuple(m.photos or ()),
        appeal=AppealView(
            id=appeal.id,
            status=appeal.status,
            text=appeal.text,
            rejection_reason=appeal.rejection_reason,
            decision_reason=appeal.decision_reason,
            created_at=appeal.created_at,
            decided_at=appeal.decided_at,
        )
        if appeal is not None
        else None,
    )


def photo_json(photo: dict[str, int]) -> dict[str, object]:
    """A photo a message carries, with where to view it (media/http/routes.py serves those
    paths, to whoever may see them)."""
    return {
        **photo,
        "url": f"/api/v1/photos/{photo['id']}",
        "thumbnail_url": f"/api/v1/photos/{photo['id']}/thumbnail",
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def message_json(m: MessageView, viewer: Party) -> dict[str, object]:
    """A message as `viewer` (one of its two parties) sees it."""
    return {
        "id": m.id,
        "contact_id": m.contact_id,
        "body": m.body,
        "status": m.status.value,
        "sender": {"kind": m.sender.kind.value, "id": m.sender.id},
        "mine": m.sender == viewer,
        "price_cents": m.price_cents,
        "paid_by": m.paid_by(viewer),
        "created_at": m.created_at.isoformat(),
        "deliver_at": _iso(m.deliver_at) if m.status is MessageStatus.SCHEDULED else None,
        "delivered_at": _iso(m.delivered_at),
        "read_at": _iso(m.read_at),
        # Only while rejected: a message delivered after an appeal does not carry the
        # overturned reason to its recipient.
        "rejection_reason": m.rejection_reason if m.status is MessageStatus.REJECTED else None,
        "refunded": m.refunded,
        # The sender's appeal of a rejection (theirs alone to see).
        "appeal": m.appeal.json() if m.appeal is not None and m.sender == viewer else None,
        "photos": [photo_json(p) for p in m.photos],
    }


async def name_of(tx: AsyncSession, who: Party) -> str:
    if who.kind is PartyKind.FAMILY:
        family = await tx.get(FamilyAccount, who.id)
        return f"{family.first_name} {family.last_name}" if family else "the recipient"
    resident = await tx.get(Resident, who.id)
    return f"{resident.first_name} {resident.last_name}" if resident else "the recipient"
