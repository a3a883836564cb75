"""The audit log: every staff action, appended inside the transaction that performs it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.services.context import Principal, PrincipalKind
from server.storage.models import AuditEntry


async def record_staff_action(
    tx: AsyncSession,
    *,
    staff: Principal,
    at: datetime,
    action: str,
    facility_id: int | None,
    target_type: str | None = None,
    target_id: int | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append who did what, when and why. Never updated, never deleted."""
    assert staff.kind is PrincipalKind.STAFF
    tx.add(
        AuditEntry(
            at=at,
            facility_id=facility_id,
            staff_id=staff.id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            reason=reason,
            details=details or {},
        )
    )
