"""The media wing's tables: every uploaded photo, sent or not.

A photo is uploaded first (an *unsent* photo, kept `UNSENT_PHOTO_LIFETIME`), then attached to
one message by the send. Its two renditions are blobs in the blob store, named by the SHA-256 of
their bytes; a blob is deleted once no photo row names it any more (`media/services/photos.py`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models import Base, BigId


class Photo(Base):
    """One photo a family member uploaded on a contact. `message_id` is None while unsent;
    each party may hide a sent photo for themselves only."""

    __tablename__ = "photos"
    __table_args__ = (
        # A retried upload (same Idempotency-Key) finds the first photo.
        UniqueConstraint("uploader_family_id", "client_id"),
        # The expiry job's "unsent and past its time".
        Index("ix_photos_unsent_expires_at", "message_id", "expires_at"),
        Index("ix_photos_message_id_position", "message_id", "position"),
        # Is a blob still named by any photo?
        Index("ix_photos_display_key", "display_key"),
        Index("ix_photos_thumbnail_key", "thumbnail_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    uploader_family_id: Mapped[int] = mapped_column(ForeignKey("family_accounts.id"))
    client_id: Mapped[str | None] = mapped_column(String(100))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    position: Mapped[int | None] = mapped_column(Integer)  # its place in the message, from 0
    uploaded_bytes: Mapped[int] = mapped_column(BigInteger)
    source_format: Mapped[str] = mapped_column(String(10))
    display_key: Mapped[str] = mapped_column(String(200))
    display_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    thumbnail_key: Mapped[str] = mapped_column(String(200))
    thumbnail_bytes: Mapped[int] = mapped_column(BigInteger)
    thumbnail_width: Mapped[int] = mapped_column(Integer)
    thumbnail_height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]  # while unsent: when it is deleted; None once sent
    sent_at: Mapped[datetime | None]
    hidden_by_sender: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_by_recipient: Mapped[bool] = mapped_column(Boolean, default=False)
