"""Request bodies and query strings of messaging."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from server.domain.messages import MAX_BODY_CHARS
from server.http.openapi_schema import NOT_BLANK, require_in_schema
from server.http.parsing import Body, ClientId, Id, Query

# 30,000 code points, each at most 12 bytes of JSON (an escaped surrogate pair), plus room for
# the other fields: the body's own length rule is the domain's (server/domain/messages.py).
MESSAGE_JSON_BYTES = 30_000 * 12 + 4096


class MessageBody(Body):
    model_config = ConfigDict(json_schema_extra=require_in_schema("client_id"))

    contact_id: Id
    # Checked by the domain (check_body), with its own sentences; the document says the same.
    body: Annotated[
        str, Field(json_schema_extra={"maxLength": MAX_BODY_CHARS, "pattern": NOT_BLANK})
    ]
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
