"""Prometheus metrics in a registry owned by the application (no process-wide globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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
