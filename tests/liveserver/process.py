"""The generic parts of a server process (also used by tests/browser/conftest.py): a free
port, one HTTP request, the command, the health check, SIGTERM, and polling until
something is true."""

from __future__ import annotations

import http.client
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

STARTUP_SECONDS = 20.0
STOP_SECONDS = 15.0
WAIT = 15.0  # generous: these tests are about what arrives, not how fast
CODE_RE = re.compile(r"^\s+([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", re.M)
PASSWORD = "correct horse battery"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """One HTTP request to 127.0.0.1:`port`; the status and the body. A server that is not
    there (or dies while answering) raises OSError or http.client.HTTPException."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def homeline_command() -> list[str]:
    script = Path(sys.executable).parent / "homeline"
    return [str(script)] if script.exists() else [sys.executable, "-m", "server.cli"]


def tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-4000:]


def wait_healthy(
    port: int, proc: subprocess.Popen[bytes], log_path: Path, *, timeout: float = STARTUP_SECONDS
) -> None:
    """Poll /healthz until it answers 200; a process that exits or stays unhealthy fails."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if request(port, "GET", "/healthz", None, {})[0] == 200:
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"server did not become healthy:\n{tail(log_path)}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes], log_path: Path, *, timeout: float = STOP_SECONDS) -> None:
    """SIGTERM, as a service manager would; a server that died early or ignores it fails."""
    if proc.poll() is not None:
        pytest.fail(f"server exited early with {proc.returncode}:\n{tail(log_path)}")
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"server ignored SIGTERM:\n{tail(log_path)}")


def wait_until(
    check: Callable[[], T | None], what: str, *, timeout: float = WAIT, interval: float = 0.02
) -> T:
    """Poll `check` until it returns something other than None (or False); fail after
    `timeout` seconds with `what`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
