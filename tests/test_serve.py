"""The real `homeline serve` process: it starts, answers, and shuts down gracefully on SIGTERM
(connected sockets are told, the process exits cleanly)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {
        **os.environ,
        "HOMELINE_VAR": str(tmp_path / "var"),
        "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    cli = [sys.executable, "-m", "server.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "demo"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(
        [*cli, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"server did not start: {proc.stderr.read() if proc.stderr else ''!r}")
            time.sleep(0.05)
    try:
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_sigterm_tells_sockets_and_exits_cleanly(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, proc = served
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/api/v1/tablet/sessions",
            json={"facility_id": 1, "resident_number": "A1001", "pin": "2468"},
        ) as resp:
            assert resp.status == 201
            token = (await resp.json())["token"]
        async with http.get(f"{url}/readyz") as resp:
            assert resp.status == 200

    told = asyncio.Event()
    client = socketio.AsyncClient(reconnection=False)
    client.on("server_shutdown", lambda data: told.set())
    await client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=5)
    try:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(told.wait(), timeout=10)
        code = await asyncio.to_thread(proc.wait, 20)
    finally:
        await client.disconnect()
    assert code == 0
    assert proc.stderr is not None
    log = proc.stderr.read().decode()
    assert "Traceback" not in log, log
