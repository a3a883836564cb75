"""Around a conversation: read receipts, unread counts per contact, the owner's export. (The
read-only view facility staff have is the moderation wing's: moderation/services/staff_reads.py.)"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select, update

from server.domain.messages import MessageStatus
from server.domain.party import Party
from server.services.context import Principal, Services
from server.services.delivery import status_json
from server.services.events import append_in
from server.services.message_views import (
    MessageView,
    message_json,
    name_of,
    sender_party,
    view_of,
)
from server.services.messages import contact_of, visible_to
from server.storage.message_models import Message

DELIVERED = MessageStatus.DELIVERED.value


@dataclass(frozen=True)
class ReadResult:
    contact_id: int
    marked: int
    unread: int


def read_json(result: ReadResult) -> dict[str, int]:
    """A read receipt's answer, the same over HTTP and the socket."""
    return {"contact_id": result.contact_id, "marked": result.marked, "unread": result.unread}


def _unread(party: Party) -> ColumnElement[bool]:
    return and_(
        Message.recipient_kind == party.kind,
        Message.recipient_id == party.id,
        Message.status == DELIVERED,
        Message.deleted_by_recipient.is_(False),
    )


async def do_mark_read(
    svc: Services, actor: Principal, *, contact_id: int, up_to_id: int
) -> ReadResult:
    """Mark every delivered message to the actor on this contact, up to `up_to_id`, as read;
    the sender gets a read receipt (`message.status`), the reader's other devices too."""
    party = actor.party
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        await contact_of(tx, actor, contact_id)
        # A conditional update claims the messages: a receipt goes out once per message even
        # when two devices mark the same messages at once.
        marked = sorted(
            await tx.scalars(
                update(Message)
                .where(Message.contact_id == contact_id, Message.id <= up_to_id, _unread(party))
                .values(status=MessageStatus.READ.value, read_at=now)
                .returning(Message)
                .execution_options(populate_existing=True, synchronize_session=False)
            ),
            key=lambda m: m.id,
        )
        for m in marked:
            sender = sender_party(m)
            await append_in(
                tx, recipients=[sender, party], type="message.status", data=status_json(m), now=now
            )
        left = await tx.scalar(
            select(func.count(Message.id)).where(Message.contact_id == contact_id, _unread(party))
        )
        return ReadResult(contact_id=contact_id, marked=len(marked), unread=int(left or 0))


async def access_unread(svc: Services, actor: Principal) -> dict[int, int]:
    """Unread (delivered, not yet read) messages per contact, contacts with none left out."""
    party = actor.party
    async with svc.db.read() as tx:
        rows = await tx.execute(
            select(Message.contact_id, func.count(Message.id))
            .where(_unread(party))
            .group_by(Message.contact_id)
            .order_by(Message.contact_id)
        )
        return {int(contact_id): int(count) for contact_id, count in rows.all()}


@dataclass(frozen=True)
class Export:
    contact_id: int
    you: str
    them: str
    messages: list[MessageView]  # oldest first
    viewer: Party
    at: datetime

    def as_json(self) -> str:
        return json.dumps(
            {
                "contact_id": self.contact_id,
                "exported_at": self.at.isoformat(),
                "you": self.you,
                "with": self.them,
                "messages": [message_json(m, self.viewer) for m in self.messages],
            },
            ensure_ascii=False,
            indent=2,
        )

    def as_text(self) -> str:
        lines = [
            f"Conversation between {self.you} and {self.them}",
            f"Exported {self.at:%Y-%m-%d %H:%M} UTC; {len(self.messages)} messages.",
            "",
        ]
        for m in self.messages:
            who = self.you if m.sender == self.viewer else self.them
            state = (
                ""
                if m.status in (MessageStatus.DELIVERED, MessageStatus.READ)
                else (f" [{m.status.value.replace('_', ' ')}]")
            )
            lines.append(f"[{m.created_at:%Y-%m-%d %H:%M} UTC] {who}{state}:")
            lines.extend(f"  {line}" for line in m.body.splitlines() or ([] if m.photos else [""]))
            if m.photos:
                # JSON export links them; here, which photos, so the reader can match them.
                ids = ", ".join(str(p["id"]) for p in m.photos)
                lines.append(f"  ({len(m.photos)} photo{'s' if len(m.photos) > 1 else ''}: {ids})")
            if m.rejection_reason:
                lines.append(f"  (rejected: {m.rejection_reason})")
            lines.append("")
        return "\n".join(lines)


async def access_export(svc: Services, actor: Principal, *, contact_id: int) -> Export:
    """The whole conversation as its owner sees it (without what they deleted for themselves)."""
    party = actor.party
    async with svc.db.read() as tx:
        _, other = await contact_of(tx, actor, contact_id)
        rows = await tx.scalars(
            select(Message)
            .where(Message.contact_id == contact_id, visible_to(party))
            .order_by(Message.id)
        )
        messages = [view_of(m) for m in rows]
        return Export(
            contact_id=contact_id,
            you=await name_of(tx, party),
            them=await name_of(tx, other),
            messages=messages,
            viewer=party,
            at=svc.clock.now(),
        )
