"""Request bodies and query strings of messaging."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from server.http.parsing import Body, Id, Query

ClientId = Annotated[str, Field(min_length=1, max_length=100)]

# 30,000 code points, each at most 12 bytes of JSON (an escaped surrogate pair), plus room for
# the other fields: the body's own length rule is the domain's (server/domain/messages.py).
MESSAGE_JSON_BYTES = 30_000 * 12 + 4096


class MessageBody(Body):
    contact_id: Id
    body: str
    client_id: ClientId | None = None  # or the Idempotency-Key header; one is required


class MessageHistoryQuery(Query):
    contact_id: Id
    before: Id | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class ContactQuery(Query):
    contact_id: Id


class MarkReadBody(Body):
    contact_id: Id
    up_to_id: Id


class ExportQuery(Query):
    contact_id: Id
    format: Literal["txt", "json"] = "txt"
