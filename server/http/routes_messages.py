"""Messages: send (paid, idempotent), the price first, history, delete-for-me, read receipts,
unread counts and the owner's export."""

from __future__ import annotations

from aiohttp import web

from server.appkeys import SERVICES
from server.http.api import Endpoint
from server.http.auth import route_actor
from server.http.parsing import idempotency_key, parse_json, parse_query, path_id
from server.http.schemas_messages import (
    MESSAGE_JSON_BYTES,
    ExportQuery,
    MarkReadBody,
    MessageBody,
    MessageHistoryQuery,
    QuoteQuery,
)
from server.services import conversations, messages
from server.services.message_views import message_json


async def send_message(request: web.Request) -> web.Response:
    body = await parse_json(request, MessageBody, limit=MESSAGE_JSON_BYTES)
    key = idempotency_key(request, body.client_id)
    actor = await route_actor(request)
    view, created = await messages.do_send_message(
        request.app[SERVICES],
        actor,
        contact_id=body.contact_id,
        body=body.body,
        client_id=key,
        photo_ids=body.photo_ids,
    )
    return web.json_response(message_json(view, actor.party), status=201 if created else 200)


async def message_history(request: web.Request) -> web.Response:
    query = parse_query(request, MessageHistoryQuery)
    actor = await route_actor(request)
    found = await messages.access_history(
        request.app[SERVICES],
        actor,
        contact_id=query.contact_id,
        before=query.before,
        limit=query.limit,
    )
    viewer = actor.party
    return web.json_response(
        {
            "messages": [message_json(m, viewer) for m in found],
            "next_before": found[-1].id if len(found) == query.limit else None,
        }
    )


async def delete_message(request: web.Request) -> web.Response:
    message_id = path_id(request)
    actor = await route_actor(request)
    await messages.do_delete_for_me(request.app[SERVICES], actor, message_id=message_id)
    return web.Response(status=204)


async def message_quote(request: web.Request) -> web.Response:
    query = parse_query(request, QuoteQuery)
    actor = await route_actor(request)
    quote = await messages.access_quote(
        request.app[SERVICES], actor, contact_id=query.contact_id, photos=query.photos
    )
    return web.json_response(
        {
            "contact_id": query.contact_id,
            "price_cents": quote.price_cents,
            "message_price_cents": quote.message_price_cents,
            "free_remaining_today": quote.free_remaining_today,
            "payer": quote.payer,
            "can_send": quote.can_send,
            "why_not": quote.why_not,
            "text_cents": quote.text_cents,
            "photos": quote.photos,
            "photo_price_cents": quote.photo_price_cents,
            "photos_cents": quote.price_cents - quote.text_cents,
        }
    )


async def mark_read(request: web.Request) -> web.Response:
    body = await parse_json(request, MarkReadBody)
    actor = await route_actor(request)
    result = await conversations.do_mark_read(
        request.app[SERVICES], actor, contact_id=body.contact_id, up_to_id=body.up_to_id
    )
    return web.json_response(conversations.read_json(result))


async def unread_counts(request: web.Request) -> web.Response:
    actor = await route_actor(request)
    counts = await conversations.access_unread(request.app[SERVICES], actor)
    return web.json_response(
        {
            "contacts": [{"contact_id": c, "unread": n} for c, n in counts.items()],
            "total": sum(counts.values()),
        }
    )


async def export_conversation(request: web.Request) -> web.Response:
    query = parse_query(request, ExportQuery)
    actor = await route_actor(request)
    export = await conversations.access_export(
        request.app[SERVICES], actor, contact_id=query.contact_id
    )
    name = f"homeline-conversation-{query.contact_id}-{export.at:%Y%m%d}.{query.format}"
    return web.Response(
        text=export.as_json() if query.format == "json" else export.as_text(),
        content_type="application/json" if query.format == "json" else "text/plain",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def endpoints() -> list[Endpoint]:
    t = "messages"
    return [
        Endpoint(
            "POST",
            "/api/v1/messages",
            send_message,
            "Send a message over an approved contact, with up to 5 uploaded photos (family to "
            "resident only; Idempotency-Key or client_id required; a retry answers 200 with "
            "the first send)",
            t,
            body=MessageBody,
            auth="family|resident",
            ok=201,
            also_ok=(200,),
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
            "GET",
            "/api/v1/messages/quote",
            message_quote,
            "The price of the next message on a contact (with `photos` photos) and who would "
            "pay it, before sending",
            t,
            query=QuoteQuery,
            auth="family|resident",
            errors=(403, 404),
        ),
        Endpoint(
            "POST",
            "/api/v1/messages/read",
            mark_read,
            "Mark messages on a contact read, up to a message id (the sender gets a receipt)",
            t,
            body=MarkReadBody,
            auth="family|resident",
            errors=(403, 404),
        ),
        Endpoint(
            "GET",
            "/api/v1/messages/unread",
            unread_counts,
            "Unread messages per contact",
            t,
            auth="family|resident",
            errors=(403,),
        ),
        Endpoint(
            "GET",
            "/api/v1/messages/export",
            export_conversation,
            "Download a conversation as plain text or JSON (`format=txt|json`)",
            t,
            query=ExportQuery,
            auth="family|resident",
            errors=(403, 404),
            produces="text/plain",
            also_produces=("application/json",),
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
