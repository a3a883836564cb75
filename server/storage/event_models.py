"""The per-person event stream: every change a person should see, numbered for replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models import Base, BigId


class EventStream(Base):
    """One row per person: the last sequence number given out, and the last one they acked."""

    __tablename__ = "event_streams"

    principal_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    principal_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    acked_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("principal_kind", "principal_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    principal_kind: Mapped[str] = mapped_column(String(10))
    principal_id: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
