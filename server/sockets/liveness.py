"""Sockets live no longer than their session.

Every connection is recorded here under its session (the SHA-256 of its token). A session
ends in one of two ways, and both disconnect its sockets in every namespace, on every process:

- **it is ended** (log out, password reset, customer care): the transaction that deletes the
  session row leaves a `SessionEnded` for after its commit; the notifier disconnects this
  process's sockets of it and tells the other processes through Redis (`SessionEndRelay`);
- **it runs out** (idle or absolute lifetime): the sweep, a job of the scheduler
  (server/scheduler.py, registered in server/app.py), is due at the earliest end of this
  process's sessions on the injected clock, and re-checks in the database each session whose
  end has come (its end moves if it was used meanwhile, on any process).

A lost Redis message (an outage) is made up by the sweep re-checking every session of this
process every `FULL_RECHECK_SECONDS`; until then the namespaces' own check at every event
(`base.py`) refuses any work from an ended session, and makes a sweep due at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta

import socketio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.services.context import Services
from server.services.notify import SessionEnded
from server.services.sessions import access_session_ends

log = logging.getLogger("homeline.socket")

# How often the relay's listener looks at `stop` between messages: a shutdown waits for it.
RELAY_POLL_SECONDS = 0.1
FULL_RECHECK_SECONDS = 30.0
SESSION_ENDED = "session_ended"


class SocketSessions:
    """This process's sockets, by session, with when each session ends if untouched."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio
        self._last_full: datetime | None = None
        self._sockets: dict[str, set[tuple[str, str]]] = {}  # token hash -> {(sid, namespace)}
        self._session_of: dict[tuple[str, str], str] = {}
        self._ends_at: dict[str, datetime] = {}
        self._recheck: set[str] = set()

    def add(self, *, sid: str, namespace: str, token_hash: str, ends_at: datetime) -> None:
        self._sockets.setdefault(token_hash, set()).add((sid, namespace))
        self._session_of[(sid, namespace)] = token_hash
        self._ends_at[token_hash] = ends_at

    def remove(self, *, sid: str, namespace: str) -> None:
        token_hash = self._session_of.pop((sid, namespace), None)
        if token_hash is None:
            return
        sockets = self._sockets.get(token_hash, set())
        sockets.discard((sid, namespace))
        if not sockets:
            self._sockets.pop(token_hash, None)
            self._ends_at.pop(token_hash, None)
            self._recheck.discard(token_hash)

    def still_live(self, token_hash: str, *, ends_at: datetime) -> None:
        """The session was just found live (and perhaps touched): its new end."""
        if token_hash in self._sockets:
            self._ends_at[token_hash] = ends_at

    def recheck_soon(self, token_hash: str) -> None:
        """An event found the session ended: let the next sweep disconnect its sockets."""
        if token_hash in self._sockets:
            # Due at once, found by the scheduler's next pass (within a second); not a wake-up,
            # so that the client still gets its answers to events already on their way.
            self._recheck.add(token_hash)

    async def next_due(self, now: datetime) -> datetime | None:
        """When the sweep is next due: at once for a session an event found ended, else the
        earliest end of a session with sockets here, or the next full re-check."""
        if not self._sockets:
            return None
        if self._recheck & self._sockets.keys():
            return now
        full = (self._last_full or now) + timedelta(seconds=FULL_RECHECK_SECONDS)
        return min([full, *self._ends_at.values()])

    def due(self, now: datetime, *, everything: bool) -> list[str]:
        if everything:
            return list(self._sockets)
        due = {h for h, ends_at in self._ends_at.items() if ends_at <= now}
        due |= self._recheck & self._sockets.keys()
        self._recheck.clear()
        return list(due)

    def count(self) -> int:
        return len(self._session_of)

    async def disconnect(self, ended: Iterable[SessionEnded]) -> None:
        """Tell each socket of these sessions why (`session_ended {reason}`), then close it."""
        for end in ended:
            for sid, namespace in list(self._sockets.get(end.token_hash, ())):
                try:
                    await self._sio.emit(
                        SESSION_ENDED,
                        {"reason": end.reason},
                        to=sid,
                        namespace=namespace,
                        ignore_queue=True,
                    )
                    await self._sio.disconnect(sid, namespace=namespace, ignore_queue=True)
                except Exception:
                    log.warning("could not disconnect a socket of an ended session", exc_info=True)
                # The namespace's disconnect handler removes it; make sure even if it did not run.
                self.remove(sid=sid, namespace=namespace)

    async def sweep(self, svc: Services) -> int:
        """Disconnect the sockets of sessions that have run out (one pass, the scheduler's
        job); how many sessions ended."""
        now = svc.clock.now()
        if self._last_full is None:
            self._last_full = now
        everything = now - self._last_full >= timedelta(seconds=FULL_RECHECK_SECONDS)
        if everything:
            self._last_full = now
        due = self.due(now, everything=everything)
        if not due:
            return 0
        live = await access_session_ends(svc, token_hashes=due)
        for token_hash, ends_at in live.items():
            self.still_live(token_hash, ends_at=ends_at)
        ended = [SessionEnded(h, reason="expired") for h in due if h not in live]
        await self.disconnect(ended)
        return len(ended)


class SessionEndRelay:
    """Carries ended sessions to the other server processes through Redis pub/sub (a wake-up
    only: the sweep and the per-event check make up for a lost message)."""

    def __init__(self, redis_url: str, *, channel: str) -> None:
        # Bounded waits: a Redis that hangs must not hold up the log out that publishes.
        self._redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._channel = channel

    async def publish(self, ended: Sequence[SessionEnded]) -> None:
        payload = json.dumps([[e.token_hash, e.reason] for e in ended])
        try:
            await self._redis.publish(self._channel, payload)
        except RedisError:
            log.warning("ended sessions not relayed (Redis unreachable); the sweep will do it")

    async def listen(
        self, on_end: Callable[[list[SessionEnded]], Awaitable[None]], stop: asyncio.Event
    ) -> None:
        """Hand every relayed end to `on_end` until `stop` is set; reconnects after an outage."""
        while not stop.is_set():
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    while not stop.is_set():
                        message = await pubsub.get_message(timeout=RELAY_POLL_SECONDS)
                        if message is not None:
                            await on_end(_decode(message.get("data")))
            except (RedisError, OSError):
                log.warning("session-end relay lost Redis; retrying", exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    async def close(self) -> None:
        await self._redis.aclose()


def _decode(data: object) -> list[SessionEnded]:
    try:
        items = json.loads(data) if isinstance(data, (bytes, str)) else []
        return [SessionEnded(str(h), reason=str(r)) for h, r in items]
    except (ValueError, TypeError):
        log.warning("ignored a malformed session-end message")
        return []
