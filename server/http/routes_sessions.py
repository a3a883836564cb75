"""Signing in and out: families, residents on tablets, staff."""

from __future__ import annotations

from aiohttp import web

from server.appkeys import CONFIG, SERVICES
from server.errors import Unauthenticated
from server.http.api import Endpoint
from server.http.auth import (
    authenticate,
    clear_session_cookies,
    principal_json,
    request_token,
    route_actor,
    session_response,
)
from server.http.parsing import client_address, parse_json
from server.http.schemas import LoginBody, TabletLoginBody
from server.services import sessions


def _address(request: web.Request) -> str:
    return client_address(request, trust_proxy=request.app[CONFIG].trust_proxy)


async def family_login(request: web.Request) -> web.Response:
    body = await parse_json(request, LoginBody)
    new = await sessions.do_login_family(
        request.app[SERVICES],
        username=body.username,
        password=body.password,
        address=_address(request),
    )
    return session_response(request, new, bearer=body.session == "bearer")


async def tablet_login(request: web.Request) -> web.Response:
    body = await parse_json(request, TabletLoginBody)
    new = await sessions.do_login_resident(
        request.app[SERVICES],
        facility_id=body.facility_id,
        resident_number=body.resident_number,
        pin=body.pin,
        address=_address(request),
    )
    return session_response(request, new, bearer=body.session == "bearer")


async def staff_login(request: web.Request) -> web.Response:
    body = await parse_json(request, LoginBody)
    new = await sessions.do_login_staff(
        request.app[SERVICES],
        username=body.username,
        password=body.password,
        address=_address(request),
    )
    return session_response(request, new, bearer=body.session == "bearer")


async def current(request: web.Request) -> web.Response:
    """Who is signed in; `null` (not an error) when nobody is, so pages can ask freely."""
    try:
        principal = await authenticate(request)
    except Unauthenticated:
        return web.json_response({"principal": None})
    return web.json_response({"principal": principal_json(principal)})


async def logout(request: web.Request) -> web.Response:
    await route_actor(request)
    token, _ = request_token(request)
    assert token is not None
    await sessions.do_logout(request.app[SERVICES], token=token)
    response = web.Response(status=204)
    clear_session_cookies(response)
    return response


def endpoints() -> list[Endpoint]:
    t = "sessions"
    return [
        Endpoint(
            "POST",
            "/api/v1/sessions",
            family_login,
            "Family log in",
            t,
            body=LoginBody,
            ok=201,
            errors=(401, 403, 429),
        ),
        Endpoint(
            "GET",
            "/api/v1/sessions/current",
            current,
            "Who is signed in (principal null when nobody is)",
            t,
        ),
        Endpoint(
            "DELETE",
            "/api/v1/sessions/current",
            logout,
            "Log out",
            t,
            auth="any",
            ok=204,
            errors=(403,),
        ),
        Endpoint(
            "POST",
            "/api/v1/tablet/sessions",
            tablet_login,
            "Resident log in on a tablet (facility, resident number, PIN)",
            t,
            body=TabletLoginBody,
            ok=201,
            errors=(401, 429),
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/sessions",
            staff_login,
            "Staff log in",
            t,
            body=LoginBody,
            ok=201,
            errors=(401, 429),
        ),
    ]
