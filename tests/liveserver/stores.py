"""Private stores for process tests: a PostgreSQL database of its own and a `redis-server`
of its own."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import redis
from sqlalchemy.engine import make_url

from tests.liveserver.process import STARTUP_SECONDS, free_port, wait_until


@contextmanager
def private_postgres(base_url: str) -> Iterator[str]:
    """A database of its own on the PostgreSQL server of `base_url` (created from it, dropped
    at the end), so that runs and tests never see each other's rows."""
    base = make_url(base_url)
    name = f"homeline_proc_{os.getpid()}_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(
            host=base.host,
            port=base.port,
            user=base.username,
            password=base.password,
            database=base.database,
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class RedisServer:
    """A `redis-server` of our own on a free port (no persistence), which a test may SIGKILL
    and start again on the same port."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, f"redis-server on port {self.port}", timeout=STARTUP_SECONDS)
        return self

    def _answers(self) -> bool:
        try:
            with self._client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def _client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def subscribers(self, channel: str) -> int:
        """How many connections are subscribed to `channel` (socket.io's processes)."""
        with self._client() as client:
            return int(dict(client.pubsub_numsub(channel)).get(channel.encode(), 0))

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered (a hung Redis)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
