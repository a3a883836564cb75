"""Event stream types and the notifier that wakes sockets after a commit.

Kept apart from `events.py` (which talks SQL) so that the service context can hold a notifier
without an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from server.domain.party import Party


@dataclass(frozen=True)
class StreamEvent:
    recipient: Party
    seq: int
    type: str
    data: dict[str, Any]
    created_at: datetime

    def wire(self) -> dict[str, Any]:
        """What a client receives: `event {seq, type, data}`."""
        return {"seq": self.seq, "type": self.type, "data": self.data}


@dataclass(frozen=True)
class StaffEvent:
    """A live update for the consoles of one facility's staff (the review queue). Not kept:
    a console that was away reloads the queue, which the database holds."""

    facility_id: int
    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class SessionEnded:
    """A session that ended (log out, password reset, staff, expiry): every socket opened with
    it, on every server process and in every namespace, is to be disconnected. Identified by
    the SHA-256 of its token, as the database stores it; `reason` is told to the client
    (`signed_out`, `password_reset`, `ended_by_staff`, `expired`)."""

    token_hash: str
    reason: str = "signed_out"


class Notifier(Protocol):
    async def publish(self, events: Sequence[StreamEvent]) -> None:
        """Wake the recipients' sockets (on any server process). Called after commit."""
        ...

    async def publish_staff(self, events: Sequence[StaffEvent]) -> None:
        """Tell the facility's staff consoles (on any server process). Called after commit."""
        ...

    async def end_sessions(self, ended: Sequence[SessionEnded]) -> None:
        """Disconnect the sockets of these sessions (on every server process). Called after
        commit, and by the sweep that notices expired sessions."""
        ...


class RecordingNotifier:
    """Keeps what it is given; the embedded default before sockets exist, and for tests."""

    def __init__(self) -> None:
        self.published: list[StreamEvent] = []
        self.staff: list[StaffEvent] = []
        self.ended: list[SessionEnded] = []

    async def publish(self, events: Sequence[StreamEvent]) -> None:
        self.published.extend(events)

    async def publish_staff(self, events: Sequence[StaffEvent]) -> None:
        self.staff.extend(events)

    async def end_sessions(self, ended: Sequence[SessionEnded]) -> None:
        self.ended.extend(ended)
