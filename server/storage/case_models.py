"""Moderation cases: appeals of rejected messages, privileged contacts' credentials, and blocks
(of one contact, or of a family account at one facility).

Each is a row with its own history (who decided, when, why), never deleted: lifting a block or
revoking a privilege stamps the row, so the record of what was in force when stays.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ColumnElement, Date, ForeignKey, Index, String, Text, exists, inspect, or_
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from server.storage.message_models import Message
from server.storage.models import Base, BigId


class Appeal(Base):
    """A sender's appeal of their rejected message: one per message, decided once.

    `rejection_reason` and `rejected_by_staff_id` are the review decision appealed, kept here
    as it was. The message's `appeal` attribute (the backref below) is loaded with every
    message query (`selectin`), so a message's view never needs a lazy load to show it.
    """

    __tablename__ = "appeals"
    __table_args__ = (Index("ix_appeals_facility_id_status", "facility_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))  # pending | upheld | overturned
    created_at: Mapped[datetime]
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    rejected_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    decided_at: Mapped[datetime | None]
    decided_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)

    message: Mapped[Message] = relationship(
        backref=backref("appeal", uselist=False, lazy="selectin"), lazy="raise_on_sql"
    )


def appeal_of(m: Message) -> Appeal | None:
    """The message's appeal as loaded with it; never a query (None for a message just
    created, which has none)."""
    value = inspect(m).attrs["appeal"].loaded_value
    return value if isinstance(value, Appeal) else None


class ContactPrivilege(Base):
    """The credentials staff recorded when they marked a contact privileged (legal counsel:
    bar number and state; abuse line: the organisation). At most one is unrevoked per
    contact, and `contacts.privileged` says so for the send path."""

    __tablename__ = "contact_privileges"
    __table_args__ = (
        Index("ix_contact_privileges_contact_id_revoked_at", "contact_id", "revoked_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    kind: Mapped[str] = mapped_column(String(20))  # legal_counsel | abuse_line
    bar_number: Mapped[str | None] = mapped_column(String(40))
    bar_state: Mapped[str | None] = mapped_column(String(2))
    organisation: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    granted_at: Mapped[datetime]
    granted_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    revoked_at: Mapped[datetime | None]
    revoked_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class ContactBlock(Base):
    """A staff block of one contact. While it is unlifted the contact's status is `blocked`;
    `previous_status` is what the contact returns to. `until` is the last day (facility
    time) and `ends_at` the UTC instant after it; None for both: until lifted by staff."""

    __tablename__ = "contact_blocks"
    __table_args__ = (Index("ix_contact_blocks_contact_id_lifted_at", "contact_id", "lifted_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    reason: Mapped[str] = mapped_column(Text)
    until: Mapped[date | None] = mapped_column(Date)
    ends_at: Mapped[datetime | None]
    previous_status: Mapped[str | None] = mapped_column(String(20))
    blocked_at: Mapped[datetime]
    blocked_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    # Lifted by staff (with a reason), or at `ends_at` (lifted_by_staff_id None).
    lifted_at: Mapped[datetime | None]
    lifted_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    lift_reason: Mapped[str | None] = mapped_column(Text)


class FamilyBlock(Base):
    """A family account blocked at one facility: no messages with, and no contact requests
    to, any of its residents while in force (unlifted, and `ends_at` not yet reached)."""

    __tablename__ = "family_blocks"
    __table_args__ = (
        Index("ix_family_blocks_family_account_id_facility_id", "family_account_id", "facility_id"),
        Index("ix_family_blocks_facility_id_id", "facility_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    family_account_id: Mapped[int] = mapped_column(ForeignKey("family_accounts.id"))
    reason: Mapped[str] = mapped_column(Text)
    until: Mapped[date | None] = mapped_column(Date)
    ends_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    created_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    lifted_at: Mapped[datetime | None]
    lifted_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    lift_reason: Mapped[str | None] = mapped_column(Text)


def sent_while_privileged() -> ColumnElement[bool]:
    """SQL over `messages`: sent while its contact was privileged. Staff views must leave
    these out even after the privilege is revoked (what was said to counsel stays private)."""
    return exists().where(
        ContactPrivilege.contact_id == Message.contact_id,
        ContactPrivilege.granted_at <= Message.created_at,
        or_(
            ContactPrivilege.revoked_at.is_(None),
            Message.created_at < ContactPrivilege.revoked_at,
        ),
    )
