"""The console's reports: a facility's messages per facility-local day."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from aiohttp import web
from pydantic import BeforeValidator, Field
from pydantic.config import JsonDict

from moderation.services import reports
from server.appkeys import SERVICES
from server.http.api import Endpoint
from server.http.auth import authenticate
from server.http.parsing import Query, parse_query, path_id
from server.services.context import PrincipalKind

S = PrincipalKind.STAFF
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(value: Any) -> Any:
    # Only YYYY-MM-DD: pydantic would also take timestamps and other spellings.
    if not isinstance(value, str) or not DATE_RE.match(value):
        raise ValueError("Use a date such as 2026-11-18.")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("Use a real date such as 2026-11-18.") from None
    if not 2000 <= day.year <= 2999:
        raise ValueError("Use a date between 2000 and 2999.")
    return day


Day = Annotated[date, BeforeValidator(_day)]


# What `_day` takes, as the document states it (with the date format).
DAY_SCHEMA: JsonDict = {"pattern": "^2[0-9]{3}-[0-9]{2}-[0-9]{2}$"}


class ReportQuery(Query):
    # default: 13 days before `to`
    first: Day | None = Field(default=None, alias="from", json_schema_extra=DAY_SCHEMA)
    # default: today, the facility's
    last: Day | None = Field(default=None, alias="to", json_schema_extra=DAY_SCHEMA)


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
    actor = await authenticate(request, S)
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
