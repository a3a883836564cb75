"""Family accounts: sign-up, activation, password reset."""

from __future__ import annotations

from aiohttp import web

from server.appkeys import CONFIG, SERVICES
from server.domain.signup import SignupForm
from server.errors import BadRequest, DomainError, RateLimited
from server.http.api import Endpoint
from server.http.auth import route_actor
from server.http.parsing import client_address, parse_json
from server.http.schemas import (
    ActivateBody,
    ActivateLinkQuery,
    EmailBody,
    ResetConfirmBody,
    SignupBody,
)
from server.services import accounts

ACCEPTED = {
    "status": "accepted",
    "message": "If the details are right, an e-mail is on its way. Check your inbox.",
}


def _address(request: web.Request) -> str:
    return client_address(request, trust_proxy=request.app[CONFIG].trust_proxy)


async def signup(request: web.Request) -> web.Response:
    body = await parse_json(request, SignupBody)
    form = SignupForm(**body.model_dump())
    await accounts.do_signup(request.app[SERVICES], form, address=_address(request))
    return web.json_response(ACCEPTED, status=202)


async def activate(request: web.Request) -> web.Response:
    body = await parse_json(request, ActivateBody)
    await accounts.do_activate_with_code(
        request.app[SERVICES], email=body.email, code=body.code, address=_address(request)
    )
    return web.json_response({"status": "active", "message": "Your account is active."})


async def activate_link(request: web.Request) -> web.Response:
    """The link in the activation mail. Works without JavaScript; shows a plain result page.
    A refusal is a page for a browser and the API's JSON error for any other client."""
    token = request.query.get("token", "")
    try:
        if not token or len(token) > 100:
            raise BadRequest(accounts.BAD_CODE, code="invalid_code")
        await accounts.do_activate_with_link(
            request.app[SERVICES], token=token, address=_address(request)
        )
    except DomainError as exc:
        if not _from_browser(request):
            raise
        page = _page(
            "Activation failed",
            f"{exc.message} <a href='/#/activate'>Enter a code</a> or "
            "<a href='/#/resend'>ask for a new one</a>.",
            status=400 if exc.status != 429 else 429,
        )
        if isinstance(exc, RateLimited):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    return _page("Account activated", "Your account is active. <a href='/#/login'>Sign in</a>.")


def _from_browser(request: web.Request) -> bool:
    """A browser following a link asks for HTML by name; API clients ask for JSON or for
    anything (*/*)."""
    return "text/html" in request.headers.get("Accept", "")


def _page(title: str, html: str, *, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        content_type="text/html",
        text=(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title} · Homeline</title><link rel='stylesheet' href='/static/app.css'>"
            f"</head><body><main class='card'><h1>{title}</h1><p role='status'>{html}</p>"
            "</main></body></html>"
        ),
    )


async def resend(request: web.Request) -> web.Response:
    body = await parse_json(request, EmailBody)
    await accounts.do_resend_activation(
        request.app[SERVICES], email=body.email, address=_address(request)
    )
    return web.json_response(ACCEPTED, status=202)


async def reset_request(request: web.Request) -> web.Response:
    body = await parse_json(request, EmailBody)
    await accounts.do_request_password_reset(
        request.app[SERVICES], email=body.email, address=_address(request)
    )
    return web.json_response(ACCEPTED, status=202)


async def reset_confirm(request: web.Request) -> web.Response:
    body = await parse_json(request, ResetConfirmBody)
    await accounts.do_confirm_password_reset(
        request.app[SERVICES], token=body.token, password=body.password, address=_address(request)
    )
    return web.json_response(
        {"status": "changed", "message": "Your password is changed. Please sign in."}
    )


async def me(request: web.Request) -> web.Response:
    principal = await route_actor(request)
    view = await accounts.access_account(request.app[SERVICES], account_id=principal.id)
    return web.json_response(
        {
            "id": view.id,
            "username": view.username,
            "email": view.email,
            "first_name": view.first_name,
            "last_name": view.last_name,
        }
    )


def endpoints() -> list[Endpoint]:
    t = "accounts"
    return [
        Endpoint(
            "POST",
            "/api/v1/accounts",
            signup,
            "Family sign-up; mails an activation code",
            t,
            body=SignupBody,
            ok=202,
            errors=(429,),
        ),
        Endpoint(
            "POST",
            "/api/v1/accounts/activate",
            activate,
            "Activate with e-mail and code",
            t,
            body=ActivateBody,
            errors=(429,),
        ),
        Endpoint(
            "POST",
            "/api/v1/accounts/activation/resend",
            resend,
            "Mail a new activation code (always 202)",
            t,
            body=EmailBody,
            ok=202,
            errors=(429,),
        ),
        Endpoint(
            "GET",
            "/api/v1/accounts/me",
            me,
            "The signed-in family member's account",
            t,
            auth="family",
            errors=(403,),
        ),
        Endpoint(
            "POST",
            "/api/v1/password-resets",
            reset_request,
            "Mail a password-reset link (always 202)",
            t,
            body=EmailBody,
            ok=202,
            errors=(429,),
        ),
        Endpoint(
            "POST",
            "/api/v1/password-resets/confirm",
            reset_confirm,
            "Set a new password with the link's token; ends every session",
            t,
            body=ResetConfirmBody,
            errors=(429,),
        ),
        Endpoint(
            "GET",
            "/activate",
            activate_link,
            "The activation link (HTML page)",
            t,
            query=ActivateLinkQuery,
            produces="text/html",
            errors=(400, 429),
            error_produces=("text/html", "application/json"),
        ),
    ]
