"""Reading the audit log: facility admins see their facility's entries, support staff theirs
(global support staff: every facility's, and the house's own entries without a facility).
Reviewers do not read the log (403). Newest first, paged by id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from server.errors import Forbidden, NotFound
from server.services.context import Principal, PrincipalKind, Services, StaffRole
from server.storage.models import AuditEntry, Staff

AUDIT_READERS = frozenset({StaffRole.FACILITY_ADMIN, StaffRole.SUPPORT})


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    facility_id: int | None
    staff_id: int
    staff_name: str
    staff_role: str
    action: str
    target_type: str | None
    target_id: int | None
    reason: str | None
    details: dict[str, Any]


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_audit(
    svc: Services,
    actor: Principal,
    *,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    facility_id: int | None = None,
    limit: int = 50,
) -> list[AuditView]:
    """`action` is exact ("refund.approve") or a prefix ending in ".*" ("refund.*");
    `since` inclusive, `until` exclusive; `facility_id` narrows global support's view."""
    if actor.kind is not PrincipalKind.STAFF or actor.role not in AUDIT_READERS:
        raise Forbidden("The audit log is for facility admins and support staff.")
    stmt = (
        select(AuditEntry, Staff.display_name, Staff.role)
        .join(Staff, Staff.id == AuditEntry.staff_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if actor.role is StaffRole.SUPPORT and actor.facility_id is None:
        if facility_id is not None:
            stmt = stmt.where(AuditEntry.facility_id == facility_id)
    else:
        if facility_id is not None and facility_id != actor.facility_id:
            raise NotFound("No such facility.")
        stmt = stmt.where(AuditEntry.facility_id == actor.facility_id)
    if action:
        if action.endswith(".*"):
            stmt = stmt.where(AuditEntry.action.like(_like_prefix(action[:-1]), escape="\\"))
        else:
            stmt = stmt.where(AuditEntry.action == action)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    if before is not None:
        stmt = stmt.where(AuditEntry.id < before)
    async with svc.db.read() as tx:
        rows = (await tx.execute(stmt)).all()
    return [
        AuditView(
            id=e.id,
            at=e.at,
            facility_id=e.facility_id,
            staff_id=e.staff_id,
            staff_name=name,
            staff_role=role,
            action=e.action,
            target_type=e.target_type,
            target_id=e.target_id,
            reason=e.reason,
            details=dict(e.details or {}),
        )
        for e, name, role in rows
    ]
