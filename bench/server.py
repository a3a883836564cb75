"""Start a real `homeline serve` process in a throw-away folder for a benchmark."""

from __future__ import annotations

import contextlib
import email
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path


@dataclass
class RunningServer:
    url: str
    var: Path
    process: subprocess.Popen[bytes]

    def outbox(self) -> list[Message]:
        files = sorted((self.var / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime)
        return [email.message_from_bytes(p.read_bytes()) for p in files]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def homeline(*args: str, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "server.cli", *args], env=env, check=True, stdout=subprocess.DEVNULL
    )


@contextlib.contextmanager
def running_server(extra_env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    with tempfile.TemporaryDirectory(prefix="homeline-bench-") as tmp:
        port = free_port()
        env = {
            **os.environ,
            "HOMELINE_VAR": f"{tmp}/var",
            "PORT": str(port),
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "LOG_FORMAT": "text",
            **(extra_env or {}),
        }
        homeline("migrate", env=env)
        homeline("demo", env=env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=1):  # noqa: S310
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("server did not start") from None
                    time.sleep(0.05)
            yield RunningServer(url=url, var=Path(tmp) / "var", process=proc)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
