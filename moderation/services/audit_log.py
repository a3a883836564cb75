"""Reading the audit log: facility admins see their facility's entries, support staff theirs
(global support staff: every facility's, and the house's own entries without a facility).
Reviewers do not read the log (403). Newest first, paged by id.

The log is append-only: this module only reads it, and no route updates or deletes an entry.
Exporting it (CSV) is itself a staff action and is recorded as `audit.export`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.permissions import Action, Role
from server.errors import Forbidden, NotFound
from server.services.audit import record_staff_action
from server.services.context import Principal, Services
from server.storage.models import AuditEntry, Staff

MAX_SEARCH_TERMS = 8
# One export is at most this many entries; the answer says when there are more (and where
# the next slice starts), rather than building an unbounded file in memory.
EXPORT_MAX_ROWS = 10_000


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


@dataclass(frozen=True)
class AuditFilter:
    """What to show. `action` is exact ("refund.approve") or a prefix ending in ".*"
    ("refund.*"); `since` inclusive, `until` exclusive; `before` an entry id (paging);
    `facility_id` narrows global support's view; `q` is free text: every word must occur,
    case-insensitively, in the action, reason, target type or staff member's name (a whole
    number also finds the target id, "message:12" the target); `%` and `_` are literal."""

    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    facility_id: int | None = None
    staff_id: int | None = None
    q: str | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditView]
    next_before: int | None  # the `before` of the next page; None when this was the last


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _term(word: str) -> ColumnElement[bool]:
    pattern = f"%{_like_escaped(word)}%"
    fields: list[ColumnElement[bool]] = [
        column.ilike(pattern, escape="\\")
        for column in (AuditEntry.action, AuditEntry.reason, AuditEntry.target_type)
    ]
    fields.append(Staff.display_name.ilike(pattern, escape="\\"))
    if word.isdigit() and len(word) <= 18:
        fields.append(AuditEntry.target_id == int(word))
    else:
        # "message:12": a target written as type and id together.
        kind, _, number = word.partition(":")
        if kind and number.isdigit() and len(number) <= 18:
            fields.append(
                (AuditEntry.target_type == kind.lower()) & (AuditEntry.target_id == int(number))
            )
    return or_(*fields)


def _scope(actor: Principal, facility_id: int | None) -> tuple[bool, int | None]:
    """(global, facility): whose entries this reader may see, after the 403/404 rules."""
    if not actor.may(Action.AUDIT_READ):
        raise Forbidden("The audit log is for facility admins and support staff.")
    if actor.acting_role is Role.GLOBAL_SUPPORT:
        return facility_id is None, facility_id
    if facility_id is not None and facility_id != actor.facility_id:
        raise NotFound("No such facility.")
    return False, actor.facility_id


def _query(actor: Principal, f: AuditFilter, *, limit: int) -> Select[AuditEntry, str, str]:
    everything, facility_id = _scope(actor, f.facility_id)
    stmt = (
        select(AuditEntry, Staff.display_name, Staff.role)
        .join(Staff, Staff.id == AuditEntry.staff_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if not everything:
        stmt = stmt.where(AuditEntry.facility_id == facility_id)
    if f.action:
        if f.action.endswith(".*"):
            prefix = _like_escaped(f.action[:-1]) + "%"
            stmt = stmt.where(AuditEntry.action.like(prefix, escape="\\"))
        else:
            stmt = stmt.where(AuditEntry.action == f.action)
    if f.since is not None:
        stmt = stmt.where(AuditEntry.at >= f.since)
    if f.until is not None:
        stmt = stmt.where(AuditEntry.at < f.until)
    if f.before is not None:
        stmt = stmt.where(AuditEntry.id < f.before)
    if f.staff_id is not None:
        stmt = stmt.where(AuditEntry.staff_id == f.staff_id)
    for word in (f.q or "").split()[:MAX_SEARCH_TERMS]:
        stmt = stmt.where(_term(word))
    return stmt


async def _page(tx: AsyncSession, actor: Principal, f: AuditFilter, *, limit: int) -> AuditPage:
    # One more than asked tells whether there is a next page without a second query.
    rows = (await tx.execute(_query(actor, f, limit=limit + 1))).all()
    entries = [
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
        for e, name, role in rows[:limit]
    ]
    return AuditPage(entries, entries[-1].id if len(rows) > limit else None)


async def list_audit(
    svc: Services, actor: Principal, *, where: AuditFilter, limit: int = 50
) -> AuditPage:
    """One page of the entries the actor may read, newest first."""
    async with svc.db.read() as tx:
        return await _page(tx, actor, where, limit=limit)


async def do_export_audit(
    svc: Services, actor: Principal, *, where: AuditFilter, limit: int = EXPORT_MAX_ROWS
) -> AuditPage:
    """Up to `limit` entries for a download, newest first; the export is audited (with its
    filters and size) in the same transaction, so no copy of the log leaves unrecorded."""
    _scope(actor, where.facility_id)
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        page = await _page(tx, actor, where, limit=limit)
        shown = {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in asdict(where).items()
            if v is not None
        }
        await record_staff_action(
            tx,
            staff=actor,
            at=now,
            action="audit.export",
            facility_id=actor.facility_id if actor.facility_id is not None else where.facility_id,
            details={
                "filters": shown,
                "rows": len(page.entries),
                "truncated": page.next_before is not None,
            },
        )
        return page
