"""The socket.io server: its creation, the notifier that pushes committed events and ends
sessions' sockets, and telling clients when the server shuts down.

The namespaces themselves are classes, one per namespace (`/` in server/sockets/main.py,
`/staff` in moderation/sockets/staff.py), built and handed to `attach` by server/app.py; every
one of them authenticates its connections and checks the session at every event
(server/sockets/base.py).

Where emits are allowed: stored events (the per-person stream, staff feed updates) go out only
from the notifier here, after their transaction commits (server/storage/db.py runs the hook);
signaling relays, which are not stored, go out from the `/visits` namespace alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import socketio
from aiohttp import web

from server.config import Config
from server.domain.rooms import STAFF_NAMESPACE, facility_room
from server.services.notify import SessionEnded, StaffEvent, StreamEvent
from server.sockets.liveness import SessionEndRelay, SocketSessions

log = logging.getLogger("homeline.socket")


class SocketNotifier:
    """Pushes stream events to the recipients' rooms and disconnects the sockets of ended
    sessions, on every server process (through Redis when REDIS_URL is set)."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        sessions: SocketSessions,
        relay: SessionEndRelay | None = None,
    ) -> None:
        self._sio = sio
        self._sessions = sessions
        self._relay = relay

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

    async def end_sessions(self, ended: Sequence[SessionEnded]) -> None:
        await self._sessions.disconnect(ended)
        if self._relay is not None:
            await self._relay.publish(ended)


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


def attach(
    sio: socketio.AsyncServer, app: web.Application, namespaces: Sequence[socketio.AsyncNamespace]
) -> None:
    """Register the namespaces the composition root built and serve socket.io on the app."""
    for namespace in namespaces:
        sio.register_namespace(namespace)
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
    for namespace in list(sio.namespace_handlers):
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
