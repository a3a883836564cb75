"""The public facility list and resident search."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from server.appkeys import SERVICES
from server.http.api import Endpoint
from server.http.parsing import parse_query
from server.http.schemas import ResidentSearchQuery
from server.services import facilities


async def list_facilities(request: web.Request) -> web.Response:
    found = await facilities.list_facilities(request.app[SERVICES])
    return web.json_response({"facilities": [asdict(f) for f in found]})


async def search_residents(request: web.Request) -> web.Response:
    query = parse_query(request, ResidentSearchQuery)
    found = await facilities.search_residents(
        request.app[SERVICES], facility_id=query.facility_id, query=query.q
    )
    return web.json_response({"residents": [asdict(r) for r in found]})


def endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            "GET", "/api/v1/facilities", list_facilities, "Public list of facilities", "facilities"
        ),
        Endpoint(
            "GET",
            "/api/v1/residents",
            search_residents,
            "Find a resident of a facility by name or number (minimal fields)",
            "facilities",
            query=ResidentSearchQuery,
            errors=(404,),
        ),
    ]
