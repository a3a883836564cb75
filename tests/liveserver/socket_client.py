"""socket.io clients driven from synchronous tests: an event loop on a thread of its own,
and one person's connection that holds, acknowledges and syncs its events."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import socketio

from tests.liveserver.api import NoAnswer, Person
from tests.liveserver.deployment import ServerProcess
from tests.liveserver.process import WAIT, T, wait_until


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
