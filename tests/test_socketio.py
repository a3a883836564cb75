"""The socket.io connection itself, with a real `socketio.AsyncClient` against the real server:
handshake authentication, the Origin check, and the shutdown notice."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient

from server.config import Config
from tests.fakes import FrozenClock
from tests.story import ALLOWED_ORIGIN, START, TEST_REDIS_URL, WAIT, Actor, connect, need_service


@pytest.fixture(params=["in_process", "redis"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """SQLite (the database is not what these tests are about), with socket.io's fan-out in
    process and, when configured, through Redis."""
    redis_url = None
    if request.param == "redis":
        redis_url = need_service(TEST_REDIS_URL, "test_redis")
    return Config(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/homeline.db",
        redis_url=redis_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret",
        public_url=ALLOWED_ORIGIN,
    )


@pytest.fixture
def clock() -> FrozenClock:
    # Redis is shared with other test runs, and rate-limit windows follow the injected clock:
    # a day of our own keeps their counts and ours apart.
    return FrozenClock(START + timedelta(days=secrets.randbelow(1_000_000)))


async def connected_sockets(app_client: TestClient[Any, Any]) -> float:
    text = await (await app_client.get("/metrics")).text()
    for line in text.splitlines():
        if line.startswith("homeline_socketio_connections "):
            return float(line.split()[1])
    raise AssertionError("no socket gauge in /metrics")


def refusals(sio: socketio.AsyncClient) -> list[Any]:
    reasons: list[Any] = []

    @sio.event  # type: ignore[untyped-decorator]
    async def connect_error(data: Any) -> None:
        reasons.append(data)

    return reasons


async def test_connection_with_valid_token_succeeds(
    app_client: TestClient[Any, Any], sio: socketio.AsyncClient, resident: Actor
) -> None:
    await connect(sio, app_client, token=resident.token, headers={"Origin": ALLOWED_ORIGIN})
    assert sio.connected
    assert sio.transport() == "websocket"
    assert await connected_sockets(app_client) == 1


async def test_connection_without_token_is_refused(
    app_client: TestClient[Any, Any], sio: socketio.AsyncClient, resident: Actor
) -> None:
    reasons = refusals(sio)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(sio, app_client, token=None)
    assert not sio.connected
    assert reasons and "sign in" in str(reasons[0])


async def test_connection_with_bad_token_is_refused(
    app_client: TestClient[Any, Any], sio: socketio.AsyncClient, resident: Actor
) -> None:
    reasons = refusals(sio)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(sio, app_client, token=resident.token[:-4] + "AAAA")
    assert not sio.connected
    assert reasons
    assert await connected_sockets(app_client) == 0


async def test_connection_with_signed_out_token_is_refused(
    app_client: TestClient[Any, Any], sio: socketio.AsyncClient, resident: Actor
) -> None:
    resp = await app_client.delete("/api/v1/sessions/current", headers=resident.headers)
    assert resp.status == 204
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(sio, app_client, token=resident.token)


async def test_connection_from_disallowed_origin_is_refused(
    app_client: TestClient[Any, Any], sio: socketio.AsyncClient, resident: Actor
) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(
            sio, app_client, token=resident.token, headers={"Origin": "https://evil.example"}
        )
    assert not sio.connected


async def test_clients_are_told_when_the_server_shuts_down(
    app_client: TestClient[Any, Any], sio: socketio.AsyncClient, resident: Actor
) -> None:
    told = asyncio.get_running_loop().create_future()
    gone = asyncio.get_running_loop().create_future()

    @sio.event  # type: ignore[untyped-decorator]
    async def server_shutdown(data: Any) -> None:
        told.set_result(data)

    @sio.event  # type: ignore[untyped-decorator]
    async def disconnect(reason: Any = None) -> None:
        if not gone.done():
            gone.set_result(reason)

    await connect(sio, app_client, token=resident.token)
    closing = asyncio.ensure_future(app_client.close())
    assert await asyncio.wait_for(told, WAIT) == {"reconnect_after_ms": 1000}
    # The notice comes first, then the server closes the connection itself.
    assert await asyncio.wait_for(gone, WAIT) == "server disconnect"
    await asyncio.wait_for(closing, WAIT)
