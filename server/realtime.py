"""The socket.io server: authenticated connections, one room per signed-in person.

This module owns the connection (handshake authentication, the Origin check, telling clients
when the server shuts down) and the namespace's events: `sync` and `ack` of the durable event
stream, `message:send` and `message:read`. Each handler parses, makes one service call and
answers through the ack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from http.cookies import SimpleCookie
from typing import Any

import socketio
from aiohttp import web
from pydantic import ValidationError

from server.appkeys import METRICS, SERVICES
from server.config import Config
from server.errors import DomainError
from server.http.auth import SESSION_COOKIE
from server.http.parsing import field_errors
from server.http.routes_messages import message_key, read_json
from server.http.schemas_messages import MarkReadBody, MessageBody
from server.services.context import Principal, PrincipalKind
from server.services.conversations import do_mark_read
from server.services.events import access_events, do_ack, recipient_of
from server.services.message_views import message_json
from server.services.messages import do_send_message
from server.services.notify import StaffEvent, StreamEvent
from server.services.sessions import access_session

log = logging.getLogger("homeline.socket")


STAFF_NAMESPACE = "/staff"


def room_of(principal: Principal) -> str:
    return f"{principal.kind.value}:{principal.id}"


def facility_room(facility_id: int) -> str:
    return f"facility:{facility_id}"


class SocketNotifier:
    """Pushes stream events to the recipients' rooms, on every server process (through
    socket.io's Redis manager when REDIS_URL is set)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def publish(self, events: Sequence[StreamEvent]) -> None:
        for event in events:
            await self._sio.emit("event", event.wire(), room=event.recipient.room)

    async def publish_staff(self, events: Sequence[StaffEvent]) -> None:
        for event in events:
            await self._sio.emit(
                event.type,
                event.data,
                room=facility_room(event.facility_id),
                namespace=STAFF_NAMESPACE,
            )


def _seq(data: Any, name: str) -> int:
    value = data.get(name) if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number, zero or more")
    return value


def create_socket_server(config: Config) -> socketio.AsyncServer:
    # A channel of this installation's own, so another one's socket.io on the same Redis
    # server (whatever its database number: pub/sub ignores it) stays apart.
    manager = (
        socketio.AsyncRedisManager(config.redis_url, channel=f"{config.redis_prefix}:socketio")
        if config.redis_url
        else None
    )
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=list(config.origins),
        logger=False,
        engineio_logger=False,
    )


def attach(sio: socketio.AsyncServer, app: web.Application) -> None:
    async def signed_in(environ: dict[str, Any], auth: Any) -> Principal:
        """Who connects: the handshake's `auth {token}` or the session cookie."""
        token = auth.get("token") if isinstance(auth, dict) else None
        if not token:
            cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
            morsel = cookie.get(SESSION_COOKIE)
            token = morsel.value if morsel else None
        if not isinstance(token, str) or not token:
            raise socketio.exceptions.ConnectionRefusedError("Please sign in.")
        try:
            active = await access_session(app[SERVICES], token=token)
        except DomainError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message) from None
        return active.principal

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        principal = await signed_in(environ, auth)
        await sio.save_session(sid, {"principal": principal})
        await sio.enter_room(sid, room_of(principal))
        app[METRICS].sockets.inc()

    @sio.on("connect", namespace=STAFF_NAMESPACE)  # type: ignore[untyped-decorator]
    async def staff_connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        """Staff consoles: one room per facility. Global support staff name the facility they
        watch (`auth {facility_id}`)."""
        principal = await signed_in(environ, auth)
        if principal.kind is not PrincipalKind.STAFF:
            raise socketio.exceptions.ConnectionRefusedError("For facility staff only.")
        facility_id = principal.facility_id
        wanted = auth.get("facility_id") if isinstance(auth, dict) else None
        if facility_id is None and isinstance(wanted, int) and not isinstance(wanted, bool):
            facility_id = wanted
        if facility_id is None or not principal.may_staff(facility_id):
            raise socketio.exceptions.ConnectionRefusedError("Choose a facility to watch.")
        await sio.enter_room(sid, facility_room(facility_id), namespace=STAFF_NAMESPACE)

    @sio.event  # type: ignore[untyped-decorator]
    async def disconnect(sid: str, *args: Any) -> None:
        app[METRICS].sockets.dec()

    async def principal_of(sid: str) -> Principal:
        session = await sio.get_session(sid)
        principal: Principal = session["principal"]
        return principal

    @sio.on("sync")  # type: ignore[untyped-decorator]
    async def sync(sid: str, data: Any) -> dict[str, Any]:
        """`sync {since}` -> `{events: [...], last_seq}`: everything missed, in order."""
        try:
            since = _seq(data, "since")
        except ValueError as exc:
            return {"error": {"code": "invalid_fields", "message": str(exc)}}
        page = await access_events(
            app[SERVICES], recipient=recipient_of(await principal_of(sid)), since=since
        )
        return {"events": [e.wire() for e in page.events], "last_seq": page.last_seq}

    @sio.on("ack")  # type: ignore[untyped-decorator]
    async def ack(sid: str, data: Any) -> dict[str, Any]:
        try:
            seq = _seq(data, "seq")
        except ValueError as exc:
            return {"error": {"code": "invalid_fields", "message": str(exc)}}
        await do_ack(app[SERVICES], recipient=recipient_of(await principal_of(sid)), seq=seq)
        return {"ok": True}

    @sio.on("message:send")  # type: ignore[untyped-decorator]
    async def message_send(sid: str, data: Any) -> dict[str, Any]:
        """`message:send {contact_id, body, client_id}` -> the stored message (the first one,
        on a retry with the same client_id) or `{error}`."""
        actor = await principal_of(sid)
        try:
            body = MessageBody.model_validate(data if isinstance(data, dict) else {})
            key = message_key(None, body.client_id)
            view, _ = await do_send_message(
                app[SERVICES], actor, contact_id=body.contact_id, body=body.body, client_id=key
            )
        except ValidationError as exc:
            return {"error": field_errors(exc).payload()}
        except DomainError as exc:
            return {"error": exc.payload()}
        return message_json(view, recipient_of(actor))

    @sio.on("message:read")  # type: ignore[untyped-decorator]
    async def message_read(sid: str, data: Any) -> dict[str, Any]:
        """`message:read {contact_id, up_to_id}` -> `{contact_id, marked, unread}`."""
        actor = await principal_of(sid)
        try:
            body = MarkReadBody.model_validate(data if isinstance(data, dict) else {})
            result = await do_mark_read(
                app[SERVICES], actor, contact_id=body.contact_id, up_to_id=body.up_to_id
            )
        except ValidationError as exc:
            return {"error": field_errors(exc).payload()}
        except DomainError as exc:
            return {"error": exc.payload()}
        return read_json(result)

    sio.attach(app)


async def tell_clients_and_stop(sio: socketio.AsyncServer, *, grace: float) -> None:
    """On shutdown: tell this process's clients to reconnect shortly (to another process),
    close their connections (an open websocket would hold the shutdown back), then stop.
    Bounded by `grace` seconds: engine.io's close can wait for a socket that is already going."""
    try:
        async with asyncio.timeout(grace):
            await _tell_and_disconnect(sio)
    except TimeoutError:
        log.warning("clients were still closing when the shutdown timeout ran out")
    except Exception:
        log.warning("could not tell every client about the shutdown", exc_info=True)
    # engine.io's shutdown fails if run twice (it keeps its event but drops the task), and both
    # the runner and the app's on_shutdown hook call this.
    if sio.eio.service_task_handle is not None:
        await sio.shutdown()


async def _tell_and_disconnect(sio: socketio.AsyncServer) -> None:
    for namespace in ("/", STAFF_NAMESPACE):
        await sio.emit(
            "server_shutdown",
            {"reconnect_after_ms": 1000},
            namespace=namespace,
            ignore_queue=True,
        )
        # A socket.io disconnect packet makes the client close its own transport, which
        # ends the websocket cleanly; engine.io's close alone is ignored by browsers.
        for sid, _ in list(sio.manager.get_participants(namespace, None)):
            await sio.disconnect(sid, namespace=namespace, ignore_queue=True)
    if sio.eio.sockets:
        await sio.eio.disconnect()
