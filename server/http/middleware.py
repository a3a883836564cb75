"""Cross-cutting request handling: request ids, JSON access logs, metrics, the error shape."""

from __future__ import annotations

import logging
import secrets
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from server.appkeys import METRICS
from server.errors import DomainError, RateLimited
from server.logs import request_id_var

log = logging.getLogger("homeline.http")
# A context variable (not shared state): each request's task sees its own id, and every log
# line written while handling it carries the id.


def error_response(exc: DomainError) -> web.Response:
    response = web.json_response({"error": exc.payload()}, status=exc.status)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else secrets.token_hex(8)
    token = request_id_var.set(rid)
    metrics = request.app[METRICS]
    route = request.match_info.route.resource
    route_name = route.canonical if route is not None else "unmatched"
    started = time.perf_counter()
    status = 500
    metrics.in_flight.inc()
    try:
        response = await _handle(request, handler)
        status = response.status
        response.headers["X-Request-Id"] = rid
        return response
    except web.HTTPException as exc:
        # Raised outside /api/ (pages, static files, redirects): aiohttp renders these, so the
        # id goes on the exception's headers and the metrics count its real status, not 500.
        status = exc.status
        exc.headers["X-Request-Id"] = rid
        raise
    finally:
        elapsed = time.perf_counter() - started
        metrics.in_flight.dec()
        metrics.requests.labels(request.method, route_name, str(status)).inc()
        metrics.latency.labels(request.method, route_name).observe(elapsed)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "ms": round(elapsed * 1000, 2),
            },
        )
        request_id_var.reset(token)


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except DomainError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        code = _HTTP_CODES.get(exc.status, "error")
        reply = web.json_response(
            {"error": {"code": code, "message": exc.reason}}, status=exc.status
        )
        if exc.status == 405:
            reply.headers["Allow"] = exc.headers.get("Allow", "")
        return reply
    except Exception:
        log.exception("unhandled error")
        return web.json_response(
            {"error": {"code": "internal", "message": "Something went wrong on our side."}},
            status=500,
        )
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
