"""Operations: liveness, readiness, metrics, request ids, the error shape for unknown routes,
the OpenAPI document and JSON log lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Config
from server.logs import JsonFormatter
from tests.fakes import FrozenClock, RecordingMailer
from tests.story import FAST_HASHER, World, assert_error

OPS_PATHS = {"/healthz", "/readyz", "/metrics", "/activate"}
# Nothing listens on port 1: connecting is refused at once.
UNREACHABLE_DATABASE = "postgresql+asyncpg://x@127.0.0.1:1/x"


async def test_healthz_answers_ok(app_client: TestClient[Any, Any]) -> None:
    resp = await app_client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_readyz_answers_ready_when_database_answers(
    app_client: TestClient[Any, Any],
) -> None:
    resp = await app_client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ready"}


async def test_readyz_is_503_when_database_is_unreachable(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    clock: FrozenClock,
    mailer: RecordingMailer,
) -> None:
    config = Config(database_url=UNREACHABLE_DATABASE, var_dir=tmp_path, secret_key="t")
    client = await aiohttp_client(
        create_app(config, clock=clock, mailer=mailer, hasher=FAST_HASHER)
    )
    resp = await client.get("/readyz")
    assert resp.status == 503
    data = await resp.json()
    assert_error(data, "not_ready")
    assert "127.0.0.1" not in data["error"]["message"]  # no connection details leak
    resp = await client.get("/healthz")
    assert resp.status == 200


async def test_metrics_count_requests_by_route(app_client: TestClient[Any, Any]) -> None:
    await app_client.get("/api/v1/facilities")
    await app_client.get("/api/v1/contacts/12345")
    await app_client.get("/api/nowhere/12345")
    resp = await app_client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()
    assert (
        'homeline_http_requests_total{method="GET",route="/api/v1/facilities",status="200"} 1.0'
        in text
    )
    # Routes are labelled by their pattern, never by the raw path: ids would grow the series.
    assert 'route="/api/v1/contacts/{id}",status="401"' in text
    assert 'route="unmatched",status="404"' in text
    assert "12345" not in text
    assert (
        'homeline_http_request_duration_seconds_count{method="GET",route="/api/v1/facilities"}'
        in text
    )


async def test_metrics_count_statuses_of_raised_http_errors(
    app_client: TestClient[Any, Any],
) -> None:
    resp = await app_client.get("/no-such-page")
    assert resp.status == 404
    text = await (await app_client.get("/metrics")).text()
    assert 'route="unmatched",status="404"' in text
    assert 'status="500"' not in text


async def test_every_response_has_a_request_id(app_client: TestClient[Any, Any]) -> None:
    for path in ("/healthz", "/api/v1/facilities", "/api/nowhere", "/nowhere", "/static/none.js"):
        resp = await app_client.get(path)
        assert len(resp.headers.get("X-Request-Id", "")) >= 16, (path, resp.status)


async def test_request_ids_differ_between_requests(app_client: TestClient[Any, Any]) -> None:
    ids = {(await app_client.get("/healthz")).headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3


async def test_incoming_request_id_is_echoed(app_client: TestClient[Any, Any]) -> None:
    for path in ("/healthz", "/api/nowhere", "/nowhere"):
        resp = await app_client.get(path, headers={"X-Request-Id": "lb-7f3a-0001"})
        assert resp.headers.get("X-Request-Id") == "lb-7f3a-0001", path


async def test_overlong_incoming_request_id_is_replaced(app_client: TestClient[Any, Any]) -> None:
    resp = await app_client.get("/healthz", headers={"X-Request-Id": "x" * 65})
    assert resp.headers["X-Request-Id"] != "x" * 65


async def test_unknown_api_path_is_404_with_error_shape(app_client: TestClient[Any, Any]) -> None:
    resp = await app_client.get("/api/v1/nothing-here")
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")


async def test_wrong_method_is_405_with_error_shape(app_client: TestClient[Any, Any]) -> None:
    resp = await app_client.delete("/api/v1/facilities")
    assert resp.status == 405
    assert_error(await resp.json(), "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


def served_operations(client: TestClient[Any, Any]) -> set[tuple[str, str]]:
    out = set()
    for route in client.app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        path = route.resource.canonical
        if path.startswith("/api/") or path in OPS_PATHS:
            out.add((path, route.method.lower()))
    return out


async def test_openapi_describes_every_route(app_client: TestClient[Any, Any]) -> None:
    resp = await app_client.get("/api/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert described == served_operations(app_client)
    assert ("/api/v1/contacts/{id}/block", "post") in described

    operation_ids = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (path, method)
            assert all(code.isdigit() for code in op["responses"]), (path, method)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == {part[1:-1] for part in path.split("/") if part.startswith("{")}
            operation_ids.append(op["operationId"])
    assert len(operation_ids) == len(set(operation_ids))


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("homeline")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_log_lines_carry_the_request_id(
    app_client: TestClient[Any, Any], world: World, log_lines: Lines
) -> None:
    resp = await app_client.get(
        "/api/v1/residents",
        params={"facility_id": world.facility_id, "q": "reed"},
        headers={"X-Request-Id": "trace-42"},
    )
    assert resp.status == 200
    mine = [line for line in log_lines.lines if line["request_id"] == "trace-42"]
    assert mine, log_lines.lines
    access = [line for line in mine if line["message"] == "request"]
    assert access == [
        {
            **access[0],
            "level": "info",
            "logger": "homeline.http",
            "method": "GET",
            "path": "/api/v1/residents",
            "status": 200,
        }
    ]
    # Outside a request the id is a dash, not the last request's id.
    logging.getLogger("homeline.test").info("between requests")
    assert log_lines.lines[-1]["request_id"] == "-"
