"""What facility staff read of people's conversations: one conversation, read-only, never a
privileged contact's, every view audited."""

from __future__ import annotations

from sqlalchemy import select

from server.domain.permissions import Action
from server.errors import Forbidden, NotFound
from server.services.audit import record_staff_action
from server.services.context import Principal, Services
from server.services.message_views import MessageView, view_of
from server.services.messages import MAX_PAGE, NO_CONTACT
from server.storage.case_models import sent_while_privileged
from server.storage.message_models import Message
from server.storage.models import Contact

PRIVILEGED = (
    "This is a privileged contact (legal counsel or an abuse reporting line); its messages "
    "are not shown to staff."
)


async def access_staff_conversation(
    svc: Services, actor: Principal, *, contact_id: int, before: int | None, limit: int
) -> list[MessageView]:
    """A conversation, read-only, for staff of the contact's facility: every message in any
    status, newest first. Privileged contacts are refused; every view is audited."""
    async with svc.db.transaction() as tx:
        contact = await tx.get(Contact, contact_id)
        if contact is None or not actor.may_staff(contact.facility_id):
            raise NotFound(NO_CONTACT)
        if not actor.may(Action.CONVERSATION_READ):
            raise Forbidden("Only the facility's staff read its conversations.")
        if contact.privileged:
            raise Forbidden(PRIVILEGED, code="privileged_contact")
        # Never what was said while the contact was privileged, even after it is revoked.
        stmt = select(Message).where(Message.contact_id == contact_id, ~sent_while_privileged())
        if before is not None:
            stmt = stmt.where(Message.id < before)
        rows = list(await tx.scalars(stmt.order_by(Message.id.desc()).limit(min(limit, MAX_PAGE))))
        await record_staff_action(
            tx,
            staff=actor,
            at=svc.clock.now(),
            action="messages.view",
            facility_id=contact.facility_id,
            target_type="contact",
            target_id=contact_id,
            details={"before": before, "shown": [m.id for m in rows]},
        )
        return [view_of(m) for m in rows]
