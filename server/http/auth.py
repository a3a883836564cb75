"""Who is calling: a bearer token (tablets, scripts) or the session cookie plus a CSRF header
(browsers) on unsafe methods."""

from __future__ import annotations

import hmac
from datetime import timedelta

from aiohttp import web

from server.appkeys import CONFIG, SERVICES
from server.domain.permissions import actions_of
from server.errors import Forbidden, Unauthenticated
from server.services.context import Principal, PrincipalKind
from server.services.sessions import NewSession, access_session

SESSION_COOKIE = "homeline_session"
CSRF_COOKIE = "homeline_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The kinds of account a route lets in, as its Endpoint declares them (`auth`, which the OpenAPI
# document states): set on each request by `Api.mount`, read by `route_actor`. Empty: any kind.
ROUTE_KINDS: web.RequestKey[tuple[PrincipalKind, ...]] = web.RequestKey("route_kinds")


def request_token(request: web.Request) -> tuple[str | None, bool]:
    """(token, came_from_cookie)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None, False
    return request.cookies.get(SESSION_COOKIE), True


def read_token(request: web.Request) -> str:
    """The caller's session token, for a read (GET, HEAD) whose service judges the session
    in its own single query (`sessions.session_of_row`, the same rules as `authenticate`):
    the photo views. A read needs no CSRF token."""
    assert request.method in SAFE_METHODS, "only reads judge the session themselves"
    token, _ = request_token(request)
    if not token:
        raise Unauthenticated("Please sign in.")
    return token


async def authenticate(request: web.Request, *kinds: PrincipalKind) -> Principal:
    """The caller, if signed in as one of `kinds` (any kind when none are given)."""
    token, from_cookie = request_token(request)
    if not token:
        raise Unauthenticated("Please sign in.")
    active = await access_session(request.app[SERVICES], token=token)
    if from_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), active.csrf_token.encode()):
            raise Forbidden(
                "Missing or wrong CSRF token; reload the page and try again.", code="csrf"
            )
    if kinds and active.principal.kind not in kinds:
        # A different kind of account simply has no such resource.
        raise Forbidden("This needs a different kind of account.", code="wrong_account_kind")
    return active.principal


async def route_actor(request: web.Request) -> Principal:
    """The caller, if signed in as a kind of account the route's Endpoint declares: the
    document's `auth` and the check are one declaration, so they cannot drift apart."""
    kinds = request.get(ROUTE_KINDS)
    if kinds is None:
        # A programming error, not bad input: the route is documented as public.
        raise RuntimeError(f"{request.method} {request.path}: its Endpoint declares no auth")
    return await authenticate(request, *kinds)


def session_response(request: web.Request, new: NewSession, *, bearer: bool) -> web.Response:
    """The log-in answer: cookies for browsers, the token in the body for bearer clients."""
    config = request.app[CONFIG]
    body: dict[str, object] = {
        "principal": principal_json(new.principal),
        "csrf_token": new.csrf_token,
        "expires_at": new.expires_at.isoformat(),
    }
    if bearer:
        body["token"] = new.token
    response = web.json_response(body, status=201)
    if not bearer:
        # Measured on the injected clock, like the session itself: the wall clock may disagree.
        now = request.app[SERVICES].clock.now()
        set_session_cookies(
            response, new.token, new.csrf_token, new.expires_at - now, config.cookie_secure
        )
    return response


def set_session_cookies(
    response: web.StreamResponse, token: str, csrf: str, lifetime: timedelta, secure: bool
) -> None:
    max_age = max(0, int(lifetime.total_seconds()))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=secure,
        path="/",
        max_age=max_age,
    )
    # Readable by the page's script, which echoes it in the CSRF header.
    response.set_cookie(
        CSRF_COOKIE, csrf, httponly=False, samesite="Lax", secure=secure, path="/", max_age=max_age
    )


def clear_session_cookies(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")


def principal_json(p: Principal) -> dict[str, object]:
    """Who is signed in, with what their role may do (the permission table's actions), so
    that the console shows each person the pages the server will let them use."""
    return {
        "kind": p.kind.value,
        "id": p.id,
        "display_name": p.display_name,
        "facility_id": p.facility_id,
        "role": p.role.value if p.role else None,
        "may": [action.value for action in actions_of(p.acting_role)],
    }
