"""The `/` namespace: a person's own event stream (`sync`, `ack`) and messaging
(`message:send`, `message:read`). One room per person, which the notifier pushes to."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.appkeys import METRICS
from server.domain.rooms import MAIN_NAMESPACE
from server.errors import FieldErrors
from server.http.parsing import idempotency_key
from server.http.schemas_messages import MarkReadBody, MessageBody
from server.services.context import Principal
from server.services.conversations import do_mark_read, read_json
from server.services.events import access_events, do_ack
from server.services.message_views import message_json
from server.services.messages import do_send_message
from server.sockets.base import SessionNamespace, on, services_of
from server.sockets.liveness import SocketSessions

# What a seq can be: the database stores it in a 64-bit integer.
MAX_SEQ = 2**63 - 1


def _seq(data: Any, name: str) -> int:
    value = data.get(name) if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise FieldErrors({name: f"Must be a whole number from 0 to {MAX_SEQ}."})
    return value


def _body(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


class MainNamespace(SessionNamespace):
    def __init__(self, app: web.Application, *, sessions: SocketSessions) -> None:
        super().__init__(MAIN_NAMESPACE, services=services_of(app), sessions=sessions)
        self._app = app

    async def admit(self, sid: str, principal: Principal, auth: Any) -> list[str]:
        return [principal.party.room]

    async def connected(self, sid: str, principal: Principal) -> None:
        self._app[METRICS].sockets.inc()

    async def disconnected(self, sid: str) -> None:
        self._app[METRICS].sockets.dec()

    @on("sync", use=False)
    async def sync(self, actor: Principal, data: Any) -> dict[str, Any]:
        """`sync {since}` -> `{events: [...], last_seq}`: everything missed, in order."""
        since = _seq(data, "since")
        page = await access_events(self.svc, recipient=actor.party, since=since)
        return {"events": [e.wire() for e in page.events], "last_seq": page.last_seq}

    @on("ack", use=False)
    async def ack(self, actor: Principal, data: Any) -> dict[str, Any]:
        await do_ack(self.svc, recipient=actor.party, seq=_seq(data, "seq"))
        return {"ok": True}

    @on("message:send")
    async def message_send(self, actor: Principal, data: Any) -> dict[str, Any]:
        """`message:send {contact_id, body, photo_ids?, client_id}` -> the stored message (the
        first one, on a retry with the same client_id) or `{error}`."""
        body = MessageBody.model_validate(_body(data))
        key = idempotency_key(None, body.client_id)
        view, _ = await do_send_message(
            self.svc,
            actor,
            contact_id=body.contact_id,
            body=body.body,
            client_id=key,
            photo_ids=body.photo_ids,
        )
        return message_json(view, actor.party)

    @on("message:read")
    async def message_read(self, actor: Principal, data: Any) -> dict[str, Any]:
        """`message:read {contact_id, up_to_id}` -> `{contact_id, marked, unread}`."""
        body = MarkReadBody.model_validate(_body(data))
        result = await do_mark_read(
            self.svc, actor, contact_id=body.contact_id, up_to_id=body.up_to_id
        )
        return read_json(result)
