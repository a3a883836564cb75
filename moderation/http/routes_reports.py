"""The console's reports: a facility's messages per facility-local day."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from moderation.http.schemas import ReportQuery
from moderation.services import reports
from server.appkeys import SERVICES
from server.http.api import Endpoint
from server.http.auth import route_actor
from server.http.parsing import parse_query, path_id


def report_json(r: reports.MessageReport) -> dict[str, Any]:
    return {
        "facility_id": r.facility_id,
        "timezone": r.timezone,
        "from": r.first.isoformat(),
        "to": r.last.isoformat(),
        "days": [
            {
                "date": d.day.isoformat(),
                "sent": d.sent,
                "held": d.held,
                "approved": d.approved,
                "rejected": d.rejected,
                "median_review_seconds": d.median_review_seconds,
            }
            for d in r.days
        ],
    }


async def message_report(request: web.Request) -> web.Response:
    facility_id = path_id(request)
    query = parse_query(request, ReportQuery)
    actor = await route_actor(request)
    report = await reports.access_message_report(
        request.app[SERVICES],
        actor,
        facility_id=facility_id,
        first=query.first,
        last=query.last,
    )
    return web.json_response(report_json(report))


def endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            "GET",
            "/api/v1/staff/facilities/{id}/reports/messages",
            message_report,
            "Messages per facility-local day from `from` to `to` (YYYY-MM-DD, inclusive, at "
            f"most {reports.MAX_DAYS} days; default the last {reports.DEFAULT_DAYS}): sent, "
            "held for review, approved and rejected that day, median review time in seconds",
            "moderation",
            query=ReportQuery,
            auth="staff",
            errors=(403,),
        ),
    ]
