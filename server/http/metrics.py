"""Prometheus metrics in a registry owned by the application (no process-wide globals), and
who may read them.

`/metrics` tells how busy the service is, route by route, and how many people are connected:
not for the public. With `METRICS_TOKEN` set, a scraper sends `Authorization: Bearer <token>`
(401 otherwise, from anywhere). Without it, only a caller on this machine's loopback that did
not come through a proxy is answered (`make run`, a local Prometheus or curl); everyone else
gets 404, as for a route that does not exist. Behind the proxy in deploy/ (TRUST_PROXY=1)
every request arrives from loopback, so there loopback proves nothing and, without a token,
nobody is answered; the proxy refuses /metrics as well."""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from server.errors import NotFound, Unauthenticated

# Headers a proxy adds: a request that carries one came through a proxy, whatever its peer.
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


class HttpMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "homeline_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "homeline_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.in_flight = Gauge(
            "homeline_http_requests_in_flight", "Requests being answered", registry=self.registry
        )
        self.sockets = Gauge(
            "homeline_socketio_connections", "Connected socket.io clients", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


def check_scraper(request: web.Request, *, token: str | None, behind_proxy: bool) -> None:
    """Return if this caller may read the metrics; else Unauthenticated (a token is set and
    this is not it) or NotFound (no token is set and the caller is not local)."""
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, sent = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            sent.strip().encode(), token.encode()
        ):
            raise Unauthenticated("The metrics need the metrics token (METRICS_TOKEN).")
        return
    if behind_proxy or any(h in request.headers for h in PROXY_HEADERS):
        raise NotFound("No such page.")
    if not _loopback(request.remote):
        raise NotFound("No such page.")


def _loopback(peer: str | None) -> bool:
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return False  # a Unix socket or an unknown peer: not known to be local
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
