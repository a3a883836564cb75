"""Operations: liveness, readiness, metrics and the API description."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from server.appkeys import API, CONFIG, METRICS, SERVICES
from server.http.api import Endpoint
from server.http.metrics import check_scraper


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICES].db.ping()
    except Exception as exc:
        return web.json_response(
            {
                "error": {
                    "code": "not_ready",
                    "message": f"Database unreachable: {type(exc).__name__}",
                }
            },
            status=503,
        )
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    check_scraper(request, token=config.metrics_token, behind_proxy=config.trust_proxy)
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    doc = request.app[API].openapi(server_url=request.app[CONFIG].public_url)
    return web.json_response(doc)


def endpoints() -> list[Endpoint]:
    t = "operations"
    return [
        Endpoint("GET", "/healthz", healthz, "Liveness", t),
        Endpoint("GET", "/readyz", readyz, "Readiness: the database answers", t, errors=(503,)),
        Endpoint(
            "GET",
            "/metrics",
            metrics,
            "Prometheus metrics: with METRICS_TOKEN set, for its bearer only (401); without it,"
            " only for a local caller that did not come through a proxy (404 for others)",
            t,
            errors=(401, 404),
            produces="text/plain",
        ),
        Endpoint("GET", "/api/openapi.json", openapi, "This document", t),
    ]
