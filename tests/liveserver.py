"""Real `homeline serve` processes for tests: start, health-check, SIGTERM, SIGKILL and
restart them on the same port and database; a small JSON API client (http.client) and a
socket.io client that collects `event` pushes, acknowledges them and can `sync {since}`.

Used by tests/test_processes.py and tests/test_processes_sessions.py (several processes,
crashes, Redis restarts; they share the `database_url`, `processes` and `sockets` fixtures
defined at the end) and, for the generic parts (free port, request, the command, health check,
stop, and `LiveServer`, the handle on the served demo), by the browser tests.

Everything here is synchronous so that tests read as a story; the socket.io clients run on an
event loop of their own on a background thread (`LoopThread`).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import redis
import socketio
from sqlalchemy.engine import make_url

from tests.story import REQUIRE_SERVICES, TEST_DATABASE_URL, need_service

STARTUP_SECONDS = 20.0
STOP_SECONDS = 15.0
WAIT = 15.0  # generous: these tests are about what arrives, not how fast
CODE_RE = re.compile(r"^\s+([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", re.M)
PASSWORD = "correct horse battery"
T = TypeVar("T")


# --- the generic parts (also used by tests/browser/conftest.py) ---------------------------


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


# --- a deployment and its processes -------------------------------------------------------


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


# --- the JSON API ------------------------------------------------------------------------


class NoAnswer(Exception):
    """The request may or may not have been carried out: the server did not answer."""


@dataclass(frozen=True)
class Api:
    port: int
    token: str | None = None
    client_address: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = WAIT,
    ) -> tuple[int, Any]:
        """The status and the decoded JSON (None for an empty body); NoAnswer when the
        server is not there or died while answering."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if self.client_address:
            sent["X-Forwarded-For"] = self.client_address
        data = None if body is None else json.dumps(body).encode()
        try:
            status, raw = request(self.port, method, path, data, sent, timeout=timeout)
        except (OSError, http.client.HTTPException) as exc:
            raise NoAnswer(f"{method} {path}: {exc!r}") from exc
        return status, (json.loads(raw) if raw else None)

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call that must succeed (2xx); its JSON."""
        status, data = self.call(method, path, body)
        if status >= 300:
            raise AssertionError(f"{method} {path}: {status} {data}")
        return data

    def get(self, path: str) -> Any:
        return self.ok("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.ok("POST", path, body)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.ok("PUT", path, body)


@dataclass(frozen=True)
class Person:
    """Someone signed in with a bearer token."""

    token: str
    principal: dict[str, Any]

    @property
    def id(self) -> int:
        return int(self.principal["id"])

    def on(self, server: ServerProcess) -> Api:
        return server.api(self.token)


def log_in(server: ServerProcess, path: str, body: dict[str, Any]) -> Person:
    data = server.api().post(path, {**body, "session": "bearer"})
    return Person(token=data["token"], principal=data["principal"])


def sign_up_family(server: ServerProcess, username: str, email_address: str) -> Person:
    """Sign-up, activation with the code from the outbox, log in."""
    server.api().ok(
        "POST",
        "/api/v1/accounts",
        {
            "username": username,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "first_name": "Jane",
            "last_name": "Reed",
            "address_line1": "12 Elm Street",
            "address_line2": "",
            "city": "Albany",
            "state": "NY",
            "postal_code": "12207",
            "date_of_birth": "1970-04-01",
            "gender": "female",
            "email": email_address,
            "email_confirm": email_address,
            "accept_terms": True,
        },
    )
    code = server.deployment.activation_code(email_address)
    server.api().post("/api/v1/accounts/activate", {"email": email_address, "code": code})
    return log_in(server, "/api/v1/sessions", {"username": username, "password": PASSWORD})


def tablet_log_in(server: ServerProcess, facility_id: int, number: str, pin: str) -> Person:
    return log_in(
        server,
        "/api/v1/tablet/sessions",
        {"facility_id": facility_id, "resident_number": number, "pin": pin},
    )


def staff_log_in(server: ServerProcess, username: str, password: str) -> Person:
    return log_in(server, "/api/v1/staff/sessions", {"username": username, "password": password})


# --- socket.io ---------------------------------------------------------------------------


class LoopThread:
    """An asyncio event loop running on a thread of its own, for the async socket.io client
    driven from synchronous tests (and from the tests' sender threads)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float = WAIT * 2) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class SocketClient:
    """One person's socket.io connection (namespace `/`, websocket transport), kept the way a
    client app keeps it: every `event` is held by its `seq` and acknowledged with `ack {seq}`
    (the highest seq up to which nothing is missing); `sync()` asks for everything after that
    seq, as a client does on reconnecting. Pushes are only a wake-up, so what the stream holds
    is what `sync` confirms: a push that disagrees with it is counted as `foreign`."""

    def __init__(self, loop: LoopThread, person: Person, server: ServerProcess) -> None:
        self._loop = loop
        self.person = person
        self.server = server
        self.events: dict[int, dict[str, Any]] = {}  # seq -> {seq, type, data}
        self.pushes: list[tuple[float, dict[str, Any]]] = []  # (monotonic time, event)
        self.foreign: list[dict[str, Any]] = []
        self.last_seq = 0  # every seq up to this one is held
        self._recheck_from: int | None = None  # a push disagreed with what we held here
        self.disconnects = 0
        self.ended: list[str] = []  # the reasons of `session_ended` notices
        self._changed = threading.Condition()
        self._client: socketio.AsyncClient | None = None
        self._gone: asyncio.Event | None = None

    # -- connection --

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    def connect(self, server: ServerProcess | None = None) -> SocketClient:
        """Connect (again) with the same token, to `server` or the same process as before."""
        self.server = server or self.server
        self._loop.run(self._connect(self.server.url))
        return self

    async def _connect(self, url: str) -> None:
        if self._client is not None:
            await self._close()
        client = socketio.AsyncClient(reconnection=False)
        gone = asyncio.Event()

        async def on_event(data: dict[str, Any]) -> None:
            self._keep(data, pushed=True)
            if client.connected:
                await client.emit("ack", {"seq": self.last_seq})

        async def on_disconnect(*_: Any) -> None:
            self.disconnects += 1
            gone.set()

        async def on_session_ended(data: dict[str, Any]) -> None:
            self.ended.append(str(data.get("reason")))

        client.on("event", on_event)
        client.on("disconnect", on_disconnect)
        client.on("session_ended", on_session_ended)
        await client.connect(
            url,
            auth={"token": self.person.token},
            headers={"Origin": url},
            transports=["websocket"],
            wait_timeout=WAIT,
        )
        self._client, self._gone = client, gone

    def disconnect(self) -> None:
        self._loop.run(self._close())

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.connected:
            await client.disconnect()

    def wait_disconnected(self, *, timeout: float = WAIT) -> None:
        wait_until(lambda: not self.connected, "the socket to notice", timeout=timeout)

    # -- calls --

    def call(self, event: str, data: dict[str, Any], *, timeout: float = WAIT) -> Any:
        """`event` with an ack; NoAnswer when the connection is gone before the answer."""
        return self._loop.run(self._call(event, data, timeout), timeout=timeout + 5)

    async def _call(self, event: str, data: dict[str, Any], seconds: float) -> Any:
        client, gone = self._client, self._gone
        if client is None or gone is None or not client.connected:
            raise NoAnswer(f"{event}: not connected")
        answer = asyncio.ensure_future(client.call(event, data, timeout=seconds))
        dropped = asyncio.ensure_future(gone.wait())
        await asyncio.wait({answer, dropped}, return_when=asyncio.FIRST_COMPLETED)
        dropped.cancel()
        if not answer.done():
            answer.cancel()
            raise NoAnswer(f"{event}: the connection dropped before the answer")
        try:
            return answer.result()
        except (TimeoutError, socketio.exceptions.SocketIOError) as exc:
            raise NoAnswer(f"{event}: {exc!r}") from exc

    def send(self, contact_id: int, body: str, client_id: str) -> dict[str, Any]:
        """`message:send`: the stored message, or `{error}`; NoAnswer if none came."""
        answer: dict[str, Any] = self.call(
            "message:send", {"contact_id": contact_id, "body": body, "client_id": client_id}
        )
        return answer

    def sync(self) -> int:
        """`sync {since: last_seq}` until caught up; how many events were new."""
        before = len(self.events)
        while True:
            with self._changed:
                since = self.last_seq
                if self._recheck_from is not None:
                    since, self._recheck_from = min(since, self._recheck_from), None
            answer = self.call("sync", {"since": since})
            assert "error" not in answer, answer
            for event in answer["events"]:
                self._keep(event, pushed=False)
            if self.last_seq and self.connected:
                self._loop.run(self._ack())
            if not answer["events"] or self.last_seq >= answer["last_seq"]:
                self._drop_beyond(int(answer["last_seq"]))
                return len(self.events) - before

    async def _ack(self) -> None:
        if self._client is not None and self._client.connected:
            await self._client.emit("ack", {"seq": self.last_seq})

    # -- what arrived --

    def _keep(self, event: dict[str, Any], *, pushed: bool) -> None:
        with self._changed:
            seq = int(event["seq"])
            if pushed:
                self.pushes.append((time.monotonic(), event))
            held = self.events.get(seq)
            if held is None:
                self.events[seq] = event
            elif held != event:
                if pushed:  # one of the two is someone else's; the next sync will tell
                    self.foreign.append(event)
                    recheck = seq - 1 if self._recheck_from is None else self._recheck_from
                    self._recheck_from = min(recheck, seq - 1)
                else:  # the stream is the truth; what was pushed under this seq was not ours
                    self.foreign.append(held)
                    self.events[seq] = event
            while self.last_seq + 1 in self.events:
                self.last_seq += 1
            self._changed.notify_all()

    def _drop_beyond(self, last_seq: int) -> None:
        """Pushes numbered past the end of our stream were someone else's."""
        with self._changed:
            for seq in [s for s in self.events if s > last_seq]:
                self.foreign.append(self.events.pop(seq))

    def messages(self) -> list[dict[str, Any]]:
        """The message JSON of every `message.new` held, in stream order."""
        with self._changed:
            return [e["data"] for _, e in sorted(self.events.items()) if e["type"] == "message.new"]

    def _push_of(self, message: dict[str, Any]) -> float | None:
        for at, event in self.pushes:
            data = event["data"]
            if (
                event["type"] == "message.new"
                and data["id"] == message["id"]
                and data["body"] == message["body"]
            ):
                return at
        return None

    def pushed(self, message: dict[str, Any]) -> float | None:
        """When the `message.new` of `message` (as its sender was answered) was pushed
        (monotonic time), if it was."""
        with self._changed:
            return self._push_of(message)

    def wait_pushed(self, message: dict[str, Any], *, timeout: float = WAIT) -> float:
        """Wait for the push of `message`, without asking (no sync); when it arrived."""
        with self._changed:
            deadline = time.monotonic() + timeout
            while (at := self._push_of(message)) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no message.new push for message {message['id']} within {timeout} s"
                    )
                self._changed.wait(left)
            return at

    def close(self) -> None:
        if self._client is not None:
            self._loop.run(self._close())


@contextmanager
def socket_clients() -> Iterator[Callable[[Person, ServerProcess], SocketClient]]:
    """Make connected SocketClients on a shared background loop; all closed at the end."""
    loop = LoopThread()
    made: list[SocketClient] = []

    def make(person: Person, server: ServerProcess) -> SocketClient:
        client = SocketClient(loop, person, server)
        made.append(client)
        return client.connect()

    try:
        yield make
    finally:
        for client in made:
            client.close()
        loop.close()


# --- a private Redis ---------------------------------------------------------------------


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


@dataclass(frozen=True)
class LiveServer:
    url: str
    port: int
    var_dir: Path
    facility_id: int

    @property
    def outbox(self) -> Path:
        return self.var_dir / "outbox"

    def mail_to(self, address: str, *, timeout: float = 10.0) -> EmailMessage:
        """The newest mail written to the outbox for `address`, waiting for the background
        mail task to write it."""
        deadline = time.monotonic() + timeout
        while True:
            found: list[tuple[float, EmailMessage]] = []
            for path in self.outbox.glob("*.eml"):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                if str(message["To"]).lower() == address.lower():
                    found.append((path.stat().st_mtime, message))
            if found:
                return max(found, key=lambda pair: pair[0])[1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail to {address} in {self.outbox} after {timeout} s")
            time.sleep(0.05)

    def activation_code(self, address: str) -> str:
        message = self.mail_to(address)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        found = CODE_RE.search(text)
        assert found, text
        return found.group(1)

    def api(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> dict[str, Any]:
        """A JSON call without a browser, for setting the scene (bearer sessions only)."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        status, raw = request(self.port, method, path, data, headers)
        if status >= 400:
            raise AssertionError(f"{method} {path}: {status} {raw.decode(errors='replace')}")
        return json.loads(raw) if raw else {}


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL database of this test's own, or one SQLite file for all its processes."""
    if TEST_DATABASE_URL:
        with private_postgres(TEST_DATABASE_URL) as url:
            yield url
        return
    if REQUIRE_SERVICES:
        need_service(None, "test_database")
    yield f"sqlite+aiosqlite:///{tmp_path}/homeline.db"


@pytest.fixture
def processes() -> Iterator[list[ServerProcess]]:
    """Every process a test starts goes in here; those still running get SIGTERM at the end
    (and must exit on their own)."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.close()


@pytest.fixture
def sockets() -> Iterator[Callable[[Person, ServerProcess], SocketClient]]:
    with socket_clients() as connect:
        yield connect
