"""The rules every socket.io namespace shares: a connection belongs to a live session, and
every event is answered.

- **connect**: the handshake's `auth {token}` or the session cookie must name a live session;
  the namespace's `admit` says which rooms the connection joins, or refuses it.
- **every other event**: the session is looked up again in the database before the handler
  runs, so an ended session (logged out, reset, ended by staff, expired, its account or
  resident disabled) is refused even before its sockets are disconnected; the handler's answer,
  or `{error: {code, message}}`, goes back as the ack. An unknown event, malformed input or a
  failure on our side is an error ack too: every event that asks for an answer gets one.
- the connection is recorded in `SocketSessions`, which disconnects it when its session ends.

Handlers are methods marked with `@on("event:name")`; each parses its input, makes one service
call and returns the answer. Stored events are pushed only after commit (the notifier);
namespaces emit nothing themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any, TypeVar

import socketio
from pydantic import ValidationError

from server.appkeys import SERVICES
from server.errors import DomainError, Unauthenticated
from server.http.auth import SESSION_COOKIE
from server.http.parsing import field_errors
from server.services.context import Principal, Services
from server.services.sessions import access_session, access_session_by_hash
from server.sockets.liveness import SocketSessions

log = logging.getLogger("homeline.socket")

Handler = Callable[[Any, Principal, Any], Awaitable[Any]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class _Marked:
    event: str
    use: bool


def on(event: str, *, use: bool = True) -> Callable[[H], H]:
    """Mark a method as the handler of `event`. `use=False` for passive traffic (acks, sync
    after a reconnect), which does not keep an idle session alive."""

    def mark(handler: H) -> H:
        handler.__socket_event__ = _Marked(event, use)  # type: ignore[attr-defined]
        return handler

    return mark


def error_ack(exc: DomainError) -> dict[str, Any]:
    return {"error": exc.payload()}


def session_room(token_hash: str) -> str:
    return f"session:{token_hash}"


class SessionNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(
        self, namespace: str, *, services: Callable[[], Services], sessions: SocketSessions
    ):
        super().__init__(namespace)
        self._services = services
        self._sessions = sessions
        self._handlers: Mapping[str, tuple[_Marked, str]] = {
            marked.event: (marked, name)
            for name in dir(type(self))
            if (marked := getattr(getattr(type(self), name), "__socket_event__", None)) is not None
        }

    @property
    def svc(self) -> Services:
        return self._services()

    # -- what a namespace decides ---------------------------------------------------------

    async def admit(self, sid: str, principal: Principal, auth: Any) -> list[str]:
        """The rooms this connection joins; raise `ConnectionRefusedError` to refuse it."""
        return []

    async def connected(self, sid: str, principal: Principal) -> None:
        """After a connection is admitted."""

    async def disconnected(self, sid: str) -> None:
        """After a connection is gone, whatever the reason."""

    # -- the shared rules -----------------------------------------------------------------

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            return await self._connect(*args)
        if event == "disconnect":
            self._sessions.remove(sid=args[0], namespace=self.namespace)
            return await self.disconnected(args[0])
        sid, data = args[0], (args[1] if len(args) > 1 else None)
        found = self._handlers.get(event)
        if found is None:
            return error_ack(DomainError(f"Unknown event {event!r}.", code="unknown_event"))
        marked, name = found
        try:
            actor = await self._live(sid, use=marked.use)
            return await getattr(self, name)(actor, data)
        except ValidationError as exc:
            return error_ack(field_errors(exc))
        except DomainError as exc:
            return error_ack(exc)
        except Exception:
            log.exception("socket handler failed", extra={"event": event})
            return {"error": {"code": "internal", "message": "Something went wrong on our side."}}

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = _handshake_token(environ, auth)
        if token is None:
            raise socketio.exceptions.ConnectionRefusedError("Please sign in.")
        try:
            active = await access_session(self.svc, token=token)
        except DomainError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message) from None
        rooms = await self.admit(sid, active.principal, auth)
        await self.save_session(sid, {"token_hash": active.token_hash})
        for room in (session_room(active.token_hash), *rooms):
            await self.enter_room(sid, room)
        self._sessions.add(
            sid=sid, namespace=self.namespace, token_hash=active.token_hash, ends_at=active.ends_at
        )
        await self.connected(sid, active.principal)

    async def _live(self, sid: str, *, use: bool) -> Principal:
        """Who is behind this socket now, from the database; Unauthenticated once the
        session has ended (and the sweep is asked to disconnect it)."""
        token_hash: str = (await self.get_session(sid))["token_hash"]
        try:
            active = await access_session_by_hash(self.svc, token_hash=token_hash, touch=use)
        except Unauthenticated:
            self._sessions.recheck_soon(token_hash)
            raise
        self._sessions.still_live(token_hash, ends_at=active.ends_at)
        return active.principal


def _handshake_token(environ: dict[str, Any], auth: Any) -> str | None:
    """The handshake's `auth {token}`, else the session cookie."""
    token = auth.get("token") if isinstance(auth, dict) else None
    if not token:
        try:
            morsel = SimpleCookie(environ.get("HTTP_COOKIE", "")).get(SESSION_COOKIE)
        except CookieError:
            morsel = None
        token = morsel.value if morsel else None
    return token if isinstance(token, str) and token else None


def services_of(app: Any) -> Callable[[], Services]:
    """The app's services, looked up when a socket needs them (they are built at start-up,
    after the namespaces are registered)."""
    return lambda: app[SERVICES]
