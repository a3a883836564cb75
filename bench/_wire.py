"""Two socket.io clients behind one small interface, for the messaging benchmark.

`SioClient` is python-socketio's own `AsyncClient` (what a Python tablet would use).
`WireClient` speaks the same protocol by hand over one aiohttp websocket (engine.io 4 text
frames: `0{open}`, `40{auth}` / `40{sid}`, `42[event, data]`, `42<id>[...]` / `43<id>[...]`,
ping `2` / pong `3`): on the wire it is indistinguishable, and it costs the benchmark process
a fraction of the CPU and memory, so that thousands of connections, or a bare relay at full
speed, are limited by the server and not by the load generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from itertools import count
from typing import Any, Protocol

import aiohttp
import socketio

EventHandler = Callable[["Client", Any], Awaitable[None]]
AckHandler = Callable[[Any], None]


class ConnectRefused(Exception):
    """The server answered the handshake with `connect_error`."""


class Client(Protocol):
    label: Any  # whatever the caller attaches (the benchmark puts the party here)

    async def connect(self, wait_seconds: float) -> None: ...

    async def emit(self, event: str, data: Any, callback: AckHandler | None = None) -> None: ...

    async def close(self) -> None: ...


class WireClient:
    """A socket.io client in ~100 lines: namespace "/", text frames, no reconnection."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        *,
        token: str,
        label: Any = None,
        on_event: EventHandler | None = None,
    ) -> None:
        self.label = label
        self._http = http
        self._url = url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
        self._token = token
        self._on_event = on_event
        self._ids = count(1)
        self._pending: dict[int, AckHandler] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, wait_seconds: float) -> None:
        async with asyncio.timeout(wait_seconds):
            ws = await self._http.ws_connect(self._url, autoping=True, max_msg_size=0)
            try:
                opened = await ws.receive_str()
                if not opened.startswith("0"):
                    raise ConnectRefused(f"unexpected engine.io open packet {opened[:40]!r}")
                await ws.send_str("40" + json.dumps({"token": self._token}))
                while True:
                    answer = await ws.receive_str()
                    if answer == "2":
                        await ws.send_str("3")
                    elif answer.startswith("40"):
                        break
                    elif answer.startswith("44"):
                        raise ConnectRefused(answer[2:])
                    else:
                        raise ConnectRefused(f"unexpected packet {answer[:40]!r}")
            except BaseException:
                await ws.close()
                raise
        self._ws = ws
        self._reader = asyncio.create_task(self._read(ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            text: str = frame.data
            if text == "2":
                await ws.send_str("3")
            elif text.startswith("42"):
                if self._on_event is not None:
                    name, *args = json.loads(text[text.index("[") :])
                    if name == "event" and args:
                        # Handled in order, one at a time, as a client's event loop would.
                        await self._on_event(self, args[0])
            elif text.startswith("43"):
                start = text.index("[")
                callback = self._pending.pop(int(text[2:start]), None)
                if callback is not None:
                    args = json.loads(text[start:])
                    callback(args[0] if args else None)
            elif text.startswith("41") or text.startswith("1"):
                break

    async def emit(self, event: str, data: Any, callback: AckHandler | None = None) -> None:
        if self._ws is None:
            raise RuntimeError("not connected")
        ack = ""
        if callback is not None:
            ack_id = next(self._ids)
            self._pending[ack_id] = callback
            ack = str(ack_id)
        await self._ws.send_str(f"42{ack}{json.dumps([event, data], separators=(',', ':'))}")

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.send_str("41")
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


class SioClient:
    """python-socketio's AsyncClient, websocket transport, `auth {token}`."""

    def __init__(
        self, url: str, *, token: str, label: Any = None, on_event: EventHandler | None = None
    ) -> None:
        self.label = label
        self._url = url
        self._token = token
        self._sio = socketio.AsyncClient(reconnection=False, request_timeout=5)
        if on_event is not None:
            handler = on_event

            async def event(data: Any) -> None:
                await handler(self, data)

            self._sio.on("event", event)

    async def connect(self, wait_seconds: float) -> None:
        try:
            await self._sio.connect(
                self._url,
                auth={"token": self._token},
                transports=["websocket"],
                wait_timeout=wait_seconds,
            )
        except socketio.exceptions.ConnectionError as exc:
            raise ConnectRefused(str(exc)) from None

    async def emit(self, event: str, data: Any, callback: AckHandler | None = None) -> None:
        await self._sio.emit(event, data, callback=callback)

    async def close(self) -> None:
        await self._sio.disconnect()
