"""A held message as reviewers see it: who wrote to whom, what held it, where the rules match
its body, and the conversation just before it. The review queue and the live `review.held`
update show the same item."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from moderation.domain.policy import Policy
from moderation.domain.screening import Highlight, highlights
from server.domain.messages import MessageStatus
from server.services.message_views import MessageView, name_of, view_of
from server.services.staff_views import staff_message_json
from server.storage.message_models import Message

CONTEXT_MESSAGES = 5  # delivered messages before a held one, shown to the reviewer


@dataclass(frozen=True)
class HeldMessage:
    message: MessageView
    sender_name: str
    recipient_name: str
    matched: list[str]  # the policy rules that held it
    highlights: list[Highlight]  # where the current rules match its body
    context: list[MessageView]  # the conversation just before it, oldest first

    def json(self) -> dict[str, Any]:
        return {
            "kind": "message",
            **staff_message_json(self.message),
            "sender_name": self.sender_name,
            "recipient_name": self.recipient_name,
            "matched": self.matched,
            "highlights": [h.to_json() for h in self.highlights],
            "context": [staff_message_json(m) for m in self.context],
        }


async def held_message_in(
    tx: AsyncSession, m: Message, *, policy: Policy, matched: list[str]
) -> HeldMessage:
    view = view_of(m)
    return HeldMessage(
        message=view,
        sender_name=await name_of(tx, view.sender),
        recipient_name=await name_of(tx, view.recipient),
        matched=matched,
        highlights=highlights(m.body, policy),
        context=await context_before(tx, m),
    )


async def context_before(tx: AsyncSession, held: Message) -> list[MessageView]:
    """The last few messages the two parties actually exchanged before this one (never
    other held or rejected ones)."""
    rows = await tx.scalars(
        select(Message)
        .where(
            Message.contact_id == held.contact_id,
            Message.id < held.id,
            Message.status.in_((MessageStatus.DELIVERED.value, MessageStatus.READ.value)),
        )
        .order_by(Message.id.desc())
        .limit(CONTEXT_MESSAGES)
    )
    return [view_of(m) for m in reversed(list(rows))]
