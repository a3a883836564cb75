"""Messages between a family member and a resident over a contact."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models import Base, BigId


class Message(Base):
    """One message. `payer` names the wallet charged ("family_wallet:12", "resident_wallet:5")
    or is None when the message was free; each party may hide it for themselves only."""

    __tablename__ = "messages"
    __table_args__ = (
        # A retry with the same client_id finds the first send instead of a second message.
        UniqueConstraint("sender_kind", "sender_id", "client_id"),
        Index("ix_messages_contact_id_id", "contact_id", "id"),
        Index("ix_messages_sender_created", "sender_kind", "sender_id", "created_at"),
        # The scheduler's "what is due" and the review queue's "what is held".
        Index("ix_messages_status_deliver_at", "status", "deliver_at"),
        Index("ix_messages_recipient_status", "recipient_kind", "recipient_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    sender_kind: Mapped[str] = mapped_column(String(10))
    sender_id: Mapped[int] = mapped_column(BigInteger)
    recipient_kind: Mapped[str] = mapped_column(String(10))
    recipient_id: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str] = mapped_column(String(100))
    payer: Mapped[str | None] = mapped_column(String(40))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    charge_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime]
    deliver_at: Mapped[datetime | None]  # when a scheduled message is due
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    deleted_by_sender: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_by_recipient: Mapped[bool] = mapped_column(Boolean, default=False)
    # Screening and review: the rules that held or delayed it, and the staff decision.
    screening: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    reviewed_at: Mapped[datetime | None]
    reviewed_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    refund_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    # Photos (family -> resident only): what the message carries, as the parties see it
    # ({id, width, height, thumbnail_width, thumbnail_height}, in order; the photo rows are the
    # media wing's), and their part of `price_cents`, charged to the sender alone and apart
    # from the text (its own revenue account), refunded with it on rejection.
    photos: Mapped[list[dict[str, int]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    photos_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    photo_charge_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transactions.id")
    )
    photo_refund_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transactions.id")
    )
