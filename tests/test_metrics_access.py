"""Who may read /metrics: the bearer of METRICS_TOKEN when it is set; without it only a local
caller that did not come through a proxy; and the proxy in deploy/ never passes it on."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Config
from tests.fakes import FrozenClock, RecordingMailer
from tests.story import FAST_HASHER, assert_error, reset_schema

TOKEN = "scrape-7d1f0c9e4b2a8f35e6c1"
NGINX = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"
Client = TestClient[Any, Any]


@pytest.fixture
def serve(
    aiohttp_client: Callable[..., Awaitable[Client]],
    config: Config,
    clock: FrozenClock,
    mailer: RecordingMailer,
) -> Callable[..., Awaitable[Client]]:
    started: list[Client] = []

    async def start(**settings: Any) -> Client:
        # The app started before in this test stops first: its scheduler reads the tables that
        # resetting the schema drops (on PostgreSQL the two would deadlock).
        for client in started:
            await client.close()
        await reset_schema(config.database_url)
        app = create_app(config.with_(**settings), clock=clock, mailer=mailer, hasher=FAST_HASHER)
        started.append(await aiohttp_client(app))
        return started[-1]

    return start


async def test_metrics_need_the_token_when_one_is_set(
    serve: Callable[..., Awaitable[Client]],
) -> None:
    client = await serve(metrics_token=TOKEN)
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        resp = await client.get("/metrics", headers=headers)
        assert resp.status == 401, headers
        assert_error(await resp.json(), "unauthenticated")
        assert "homeline_http_requests" not in await resp.text()
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200
    assert "homeline_http_requests_total" in await resp.text()
    # Through a proxy too: the token is what counts.
    resp = await client.get(
        "/metrics", headers={"Authorization": f"bearer {TOKEN}", "X-Forwarded-For": "203.0.113.9"}
    )
    assert resp.status == 200


async def test_without_a_token_metrics_are_only_for_a_local_caller_not_through_a_proxy(
    serve: Callable[..., Awaitable[Client]],
) -> None:
    client = await serve()
    assert (await client.get("/metrics")).status == 200  # the test client is on loopback
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        resp = await client.get("/metrics", headers={header: "203.0.113.9"})
        assert resp.status == 404, header
        assert_error(await resp.json(), "not_found")
        assert "homeline_http_requests" not in await resp.text()


async def test_behind_the_proxy_without_a_token_nobody_reads_the_metrics(
    serve: Callable[..., Awaitable[Client]],
) -> None:
    """With TRUST_PROXY=1 every request comes from the proxy on loopback: loopback proves
    nothing, so without a token /metrics is not there at all."""
    client = await serve(trust_proxy=True)
    assert (await client.get("/metrics")).status == 404
    client = await serve(trust_proxy=True, metrics_token=TOKEN)
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200


def test_metrics_token_is_read_from_the_environment(tmp_path: Path) -> None:
    env = {"HOMELINE_VAR": str(tmp_path), "SECRET_KEY": "k"}
    assert Config.from_env(env).metrics_token is None
    assert Config.from_env({**env, "METRICS_TOKEN": ""}).metrics_token is None
    assert Config.from_env({**env, "METRICS_TOKEN": TOKEN}).metrics_token == TOKEN


# --- the proxy in deploy/ ----------------------------------------------------------------


def nginx_locations(text: str) -> list[tuple[str, str, str]]:
    """(modifier, pattern, body) of each `location` block of the nginx configuration."""
    text = re.sub(r"#[^\n]*", "", text)
    found = []
    for m in re.finditer(r"location\s+(=|\^~|~\*|~)?\s*(\S+)\s*\{", text):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found.append((m.group(1) or "", m.group(2), text[m.end() : i - 1]))
    return found


def nginx_location_for(uri: str, locations: list[tuple[str, str, str]]) -> str:
    """The body of the block nginx picks for `uri`: an exact match; else the longest prefix,
    final if it is `^~`; else the first matching regex; else that longest prefix."""
    for modifier, pattern, body in locations:
        if modifier == "=" and uri == pattern:
            return body
    prefixes = [
        (pattern, modifier, body)
        for modifier, pattern, body in locations
        if modifier in ("", "^~") and uri.startswith(pattern)
    ]
    longest = max(prefixes, key=lambda p: len(p[0]), default=None)
    if longest is not None and longest[1] == "^~":
        return longest[2]
    for modifier, pattern, body in locations:
        flags = re.IGNORECASE if modifier == "~*" else 0
        if modifier in ("~", "~*") and re.search(pattern, uri, flags):
            return body
    assert longest is not None, f"no location serves {uri}"
    return longest[2]


def test_the_nginx_proxy_does_not_pass_metrics_on() -> None:
    locations = nginx_locations(NGINX.read_text())
    for uri in ("/metrics", "/metrics/", "/metrics/anything", "/metrics.txt"):
        body = nginx_location_for(uri, locations)
        assert "proxy_pass" not in body, uri
        assert re.search(r"\b(return\s+40[34]|deny\s+all)\s*;", body), (uri, body)
    # The rest is still proxied.
    for uri in ("/", "/api/v1/facilities", "/socket.io/", "/healthz"):
        assert "proxy_pass" in nginx_location_for(uri, locations), uri
