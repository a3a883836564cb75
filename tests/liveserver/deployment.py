"""A deployment and its `homeline serve` processes: one var folder, database and (optionally)
Redis shared by processes that start, stop, crash and restart on ports of their own."""

from __future__ import annotations

import email
import email.policy
import os
import re
import secrets
import subprocess
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.liveserver.api import Api
from tests.liveserver.process import (
    CODE_RE,
    WAIT,
    free_port,
    homeline_command,
    stop,
    tail,
    wait_healthy,
    wait_until,
)


@dataclass
class Deployment:
    """One installation: a var folder, a database and (optionally) Redis, shared by all of
    its server processes, as several processes behind a load balancer would share them."""

    root: Path
    database_url: str
    redis_url: str | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    # The processes trust X-Forwarded-For, as behind the load balancer of a real deployment,
    # and this deployment's clients come from an address of their own: the sign-up limit
    # (10 an hour per address) is counted in Redis, which other test runs share.
    client_address: str = field(
        default_factory=lambda: f"198.18.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"
    )
    # Its own Redis keys and socket.io channel: other test runs on the same Redis stay apart.
    redis_prefix: str = field(default_factory=lambda: f"homeline-test-{secrets.token_hex(6)}")
    # Settings of this deployment's own (e.g. a short SESSION_IDLE_SECONDS).
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def channel(self) -> str:
        """socket.io's Redis channel for this installation (server/realtime.py)."""
        return f"{self.redis_prefix}:socketio"

    @property
    def var_dir(self) -> Path:
        return self.root / "var"

    @property
    def outbox(self) -> Path:
        return self.var_dir / "outbox"

    def env(self, port: int) -> dict[str, str]:
        env = {
            **os.environ,
            "HOMELINE_VAR": str(self.var_dir),
            "PORT": str(port),
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "LOG_FORMAT": "text",
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": self.secret_key,
            "TRUST_PROXY": "1",
        }
        for name in ("REDIS_URL", "SMTP_HOST", "PAYMENT_GATEWAY", "ALLOWED_ORIGINS"):
            env.pop(name, None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
            env["REDIS_PREFIX"] = self.redis_prefix
        env.update(self.settings)
        return env

    def run(self, *args: str) -> str:
        """`homeline ARGS` against this deployment's database; its standard output."""
        done = subprocess.run(
            [*homeline_command(), *args],
            env=self.env(0),
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"homeline {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def seed_demo(self) -> int:
        """`homeline migrate` and `homeline demo`; the demo facility's id."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.run("migrate")
        found = re.search(r"facility (\d+)", self.run("demo"))
        assert found, "homeline demo printed no facility id"
        return int(found.group(1))

    def process(self, name: str, *, port: int | None = None) -> ServerProcess:
        return ServerProcess(self, name, port or free_port())

    def mail_to(self, address: str, *, timeout: float = WAIT) -> EmailMessage:
        """The newest mail in the outbox for `address`, waiting for it to be written."""

        def newest() -> EmailMessage | None:
            found: list[tuple[float, EmailMessage]] = []
            for path in self.outbox.glob("*.eml"):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                if str(message["To"]).lower() == address.lower():
                    found.append((path.stat().st_mtime, message))
            return max(found, key=lambda pair: pair[0])[1] if found else None

        return wait_until(newest, f"a mail to {address} in {self.outbox}", timeout=timeout)

    def activation_code(self, address: str) -> str:
        body = self.mail_to(address).get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        found = CODE_RE.search(text)
        assert found, text
        return found.group(1)


class ServerProcess:
    """One `homeline serve` of a deployment, on a port that it keeps across restarts."""

    def __init__(self, deployment: Deployment, name: str, port: int) -> None:
        self.deployment = deployment
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = deployment.root / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False  # by the test, on purpose (SIGTERM or SIGKILL)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def launch(self) -> ServerProcess:
        """Start the process without waiting for it (see `start_all`)."""
        assert not self.running, f"{self.name} is running already"
        self.deployment.root.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # appended: a restart keeps the earlier story
            log.write(f"--- {self.name}: serve on port {self.port}\n".encode())
            log.flush()
            self.stopped = False
            self.proc = subprocess.Popen(
                [*homeline_command(), "serve"],
                env=self.deployment.env(self.port),
                cwd=self.deployment.root,
                stdout=log,
                stderr=log,
            )
        return self

    def wait_healthy(self) -> ServerProcess:
        assert self.proc is not None
        wait_healthy(self.port, self.proc, self.log_path)
        return self

    def start(self) -> ServerProcess:
        return self.launch().wait_healthy()

    def stop(self) -> None:
        """SIGTERM; the process must exit on its own."""
        assert self.proc is not None
        self.stopped = True
        stop(self.proc, self.log_path)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the process crashes or is OOM-killed."""
        assert self.proc is not None
        self.stopped = True
        self.proc.kill()
        self.proc.wait()

    def restart(self) -> ServerProcess:
        if self.running:
            self.stop()
        return self.start()

    def close(self) -> None:
        """For the end of a test: SIGTERM if still running; a process that will not stop, or
        that died without being killed, fails the test."""
        if self.proc is not None and (self.running or not self.stopped):
            self.stop()

    def api(self, token: str | None = None) -> Api:
        return Api(self.port, token=token, client_address=self.deployment.client_address)

    def tail(self) -> str:
        return tail(self.log_path)


def start_all(*servers: ServerProcess) -> None:
    """Start several processes side by side (faster than one after the other)."""
    for server in servers:
        server.launch()
    for server in servers:
        server.wait_healthy()
