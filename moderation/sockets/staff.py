"""The `/staff` namespace: live review-queue updates for the consoles of one facility.
Nothing is asked of it; the notifier pushes `review.*` and `appeal.*` to the facility's room.
Opening it is audited, since it shows what held messages say."""

from __future__ import annotations

from typing import Any

import socketio
from aiohttp import web

from moderation.services.review import do_open_live_feed
from server.domain.rooms import STAFF_NAMESPACE, facility_room
from server.errors import DomainError
from server.services.context import Principal, PrincipalKind
from server.sockets.base import SessionNamespace, services_of
from server.sockets.liveness import SocketSessions


class StaffNamespace(SessionNamespace):
    def __init__(self, app: web.Application, *, sessions: SocketSessions) -> None:
        super().__init__(STAFF_NAMESPACE, services=services_of(app), sessions=sessions)

    async def admit(self, sid: str, principal: Principal, auth: Any) -> list[str]:
        """Staff only, one room per facility. Global support staff name the facility they
        watch (`auth {facility_id}`)."""
        if principal.kind is not PrincipalKind.STAFF:
            raise socketio.exceptions.ConnectionRefusedError("For facility staff only.")
        facility_id = principal.facility_id
        wanted = auth.get("facility_id") if isinstance(auth, dict) else None
        if facility_id is None and isinstance(wanted, int) and not isinstance(wanted, bool):
            facility_id = wanted
        if facility_id is None:
            raise socketio.exceptions.ConnectionRefusedError("Choose a facility to watch.")
        try:
            await do_open_live_feed(self.svc, principal, facility_id=facility_id)
        except DomainError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message) from None
        return [facility_room(facility_id)]
