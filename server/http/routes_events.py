"""The caller's event stream over HTTP: the same events the socket pushes, for catching up."""

from __future__ import annotations

from aiohttp import web

from server.appkeys import SERVICES
from server.http.api import Endpoint
from server.http.auth import route_actor
from server.http.parsing import parse_query
from server.http.schemas import EventsQuery
from server.services.events import access_events


async def list_events(request: web.Request) -> web.Response:
    query = parse_query(request, EventsQuery)
    actor = await route_actor(request)
    page = await access_events(
        request.app[SERVICES], recipient=actor.party, since=query.since, limit=query.limit
    )
    return web.json_response({"events": [e.wire() for e in page.events], "last_seq": page.last_seq})


def endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            "GET",
            "/api/v1/events",
            list_events,
            "The caller's events after `since` (oldest first) and the newest seq",
            "events",
            query=EventsQuery,
            auth="any",
        ),
    ]
