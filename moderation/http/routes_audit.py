"""The audit log in the console: search it, page it, export it as CSV (every export audited).
Append-only: there is no route that changes or removes an entry."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from aiohttp import web

from moderation.http.schemas import AuditQuery
from moderation.services import audit_log
from server.appkeys import SERVICES
from server.http.api import Endpoint
from server.http.auth import route_actor
from server.http.parsing import parse_query


def audit_json(e: audit_log.AuditView) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "facility_id": e.facility_id,
        "staff": {"id": e.staff_id, "name": e.staff_name, "role": e.staff_role},
        "action": e.action,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "reason": e.reason,
        "details": e.details,
    }


AUDIT_CSV_COLUMNS = (
    "id",
    "at",
    "facility_id",
    "staff_id",
    "staff_name",
    "staff_role",
    "action",
    "target_type",
    "target_id",
    "reason",
    "details",
)


def _cell(text: str | None) -> str:
    # A spreadsheet runs a cell that starts like a formula; reasons and names are typed by staff.
    if text is None:
        return ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def audit_csv(entries: list[audit_log.AuditView]) -> str:
    """One header row, then one row per entry; times in UTC, details as compact JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(AUDIT_CSV_COLUMNS)
    for e in entries:
        writer.writerow(
            [
                e.id,
                e.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "" if e.facility_id is None else e.facility_id,
                e.staff_id,
                _cell(e.staff_name),
                e.staff_role,
                e.action,
                e.target_type or "",
                "" if e.target_id is None else e.target_id,
                _cell(e.reason),
                json.dumps(e.details, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
            ]
        )
    return out.getvalue()


async def list_audit(request: web.Request) -> web.Response:
    query = parse_query(request, AuditQuery)
    actor = await route_actor(request)
    where = audit_log.AuditFilter(
        action=query.action,
        since=query.since,
        until=query.until,
        before=query.before,
        facility_id=query.facility_id,
        staff_id=query.staff_id,
        q=query.q or None,
    )
    svc = request.app[SERVICES]
    if query.format == "csv":
        page = await audit_log.do_export_audit(svc, actor, where=where)
        scope = query.facility_id or actor.facility_id
        name = f"homeline-audit-{scope or 'all'}-{svc.clock.now():%Y%m%d}.csv"
        response = web.Response(
            # An entry written before unpaired surrogates were refused holds one in its JSON
            # details: it is exported as its escape (\\ud800) rather than failing the export.
            body=audit_csv(page.entries).encode("utf-8", "backslashreplace"),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
        # More entries than one export holds: say so, and where the next export starts.
        response.headers["X-Truncated"] = "true" if page.next_before is not None else "false"
        if page.next_before is not None:
            response.headers["X-Next-Before"] = str(page.next_before)
        return response
    page = await audit_log.list_audit(svc, actor, where=where, limit=query.limit)
    return web.json_response(
        {"entries": [audit_json(e) for e in page.entries], "next_before": page.next_before}
    )


def endpoints() -> list[Endpoint]:
    t = "customer care"
    return [
        Endpoint(
            "GET",
            "/api/v1/staff/audit",
            list_audit,
            "The audit log of the staff member's facility (support: every facility), newest "
            "first, paged by `before`; filter by action, staff_id, from/to and free text `q`; "
            "`format=csv` downloads up to 10,000 entries (X-Truncated, X-Next-Before; audited). "
            "Append-only: there is no way to change or remove an entry",
            t,
            query=AuditQuery,
            auth="staff",
            errors=(403, 404),
            also_produces=("text/csv",),
        ),
    ]
