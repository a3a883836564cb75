"""The moderation wing's own tables: each facility's message policy and every version it has had.

(A contact's blocks and privileges and a message's appeal are moderation's decisions too, but
the core shows them on every contact and message, so their rows live in the core's
`server/storage/case_models.py`; the wing writes them through its services.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models import Base, BigId


class FacilityPolicy(Base):
    """A facility's current message policy (JSON checked by moderation/domain/policy.py)."""

    __tablename__ = "facility_policies"

    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]
    updated_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))


class FacilityPolicyChange(Base):
    """Every version a facility's policy has had: who set it, when and why. Append-only."""

    __tablename__ = "facility_policy_changes"
    __table_args__ = (UniqueConstraint("facility_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    version: Mapped[int] = mapped_column(BigInteger)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_at: Mapped[datetime]
    changed_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    reason: Mapped[str | None] = mapped_column(Text)
