"""Messages: send (paid, idempotent), conversation history, delete-for-me."""

from __future__ import annotations

from aiohttp import web

from server.appkeys import SERVICES
from server.errors import FieldErrors
from server.http.api import Endpoint
from server.http.auth import authenticate
from server.http.parsing import parse_json, parse_query, path_id
from server.http.routes_wallet import IDEMPOTENCY_HEADER, KEY_RE
from server.http.schemas_messages import MESSAGE_JSON_BYTES, MessageBody, MessageHistoryQuery
from server.services import messages
from server.services.context import PrincipalKind
from server.services.events import recipient_of

F, R = PrincipalKind.FAMILY, PrincipalKind.RESIDENT


def message_key(header: str | None, client_id: str | None) -> str:
    """The `Idempotency-Key` header or the body's `client_id` (the same if both are sent)."""
    if header is not None and client_id is not None and header != client_id:
        raise FieldErrors({"client_id": "Differs from the Idempotency-Key header; send one."})
    key = header if header is not None else client_id
    if key is None:
        raise FieldErrors(
            {"client_id": "Send an Idempotency-Key header or a client_id, new for each message."},
            message="An idempotency key is required so that a retry never sends twice.",
        )
    if not KEY_RE.match(key):
        raise FieldErrors({"client_id": "Use 1-100 visible ASCII characters, no spaces."})
    return key


async def send_message(request: web.Request) -> web.Response:
    body = await parse_json(request, MessageBody, limit=MESSAGE_JSON_BYTES)
    key = message_key(request.headers.get(IDEMPOTENCY_HEADER), body.client_id)
    actor = await authenticate(request, F, R)
    view, created = await messages.do_send_message(
        request.app[SERVICES], actor, contact_id=body.contact_id, body=body.body, client_id=key
    )
    return web.json_response(
        messages.message_json(view, recipient_of(actor)), status=201 if created else 200
    )


async def message_history(request: web.Request) -> web.Response:
    query = parse_query(request, MessageHistoryQuery)
    actor = await authenticate(request, F, R)
    found = await messages.access_history(
        request.app[SERVICES],
        actor,
        contact_id=query.contact_id,
        before=query.before,
        limit=query.limit,
    )
    viewer = recipient_of(actor)
    return web.json_response(
        {
            "messages": [messages.message_json(m, viewer) for m in found],
            "next_before": found[-1].id if len(found) == query.limit else None,
        }
    )


async def delete_message(request: web.Request) -> web.Response:
    message_id = path_id(request)
    actor = await authenticate(request, F, R)
    await messages.do_delete_for_me(request.app[SERVICES], actor, message_id=message_id)
    return web.Response(status=204)


def endpoints() -> list[Endpoint]:
    t = "messages"
    return [
        Endpoint(
            "POST",
            "/api/v1/messages",
            send_message,
            "Send a message over an approved contact (Idempotency-Key or client_id required; "
            "a retry answers 200 with the first send)",
            t,
            body=MessageBody,
            auth="family|resident",
            ok=201,
            errors=(402, 403, 404, 409, 413),
        ),
        Endpoint(
            "GET",
            "/api/v1/messages",
            message_history,
            "A conversation, newest first, paged by the `before` message id",
            t,
            query=MessageHistoryQuery,
            auth="family|resident",
            errors=(403, 404),
        ),
        Endpoint(
            "DELETE",
            "/api/v1/messages/{id}",
            delete_message,
            "Delete a message for yourself (the other party keeps it)",
            t,
            auth="family|resident",
            ok=204,
            errors=(403, 404),
        ),
    ]
