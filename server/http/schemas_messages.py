"""Request bodies and query strings of messaging."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from media.domain.photo_rules import MAX_PHOTOS_PER_MESSAGE
from server.domain.messages import MAX_BODY_CHARS
from server.http.openapi_schema import NOT_BLANK, require_in_schema
from server.http.parsing import Body, ClientId, Id, Query

# 30,000 code points, each at most 12 bytes of JSON (an escaped surrogate pair), plus room for
# the other fields: the body's own length rule is the domain's (server/domain/messages.py).
MESSAGE_JSON_BYTES = 30_000 * 12 + 4096


def _text_or_photos(schema: dict[str, Any]) -> None:
    """The document's form of the rule: a body that is not blank, or at least one photo."""
    require_in_schema("client_id")(schema)
    schema["anyOf"] = [
        {"required": ["body"], "properties": {"body": {"pattern": NOT_BLANK}}},
        {"required": ["photo_ids"], "properties": {"photo_ids": {"minItems": 1}}},
    ]


class MessageBody(Body):
    model_config = ConfigDict(json_schema_extra=_text_or_photos)

    contact_id: Id
    # Checked by the domain (check_body), with its own sentences; the document says the same.
    # Empty only when the message carries photos (then it costs only its photos).
    body: Annotated[str, Field(json_schema_extra={"maxLength": MAX_BODY_CHARS})] = ""
    # Unsent photos of the sender on this contact (POST /api/v1/photos), in the order shown;
    # how many is the domain's rule (media/domain/photo_rules.py), with its own sentence.
    photo_ids: Annotated[
        list[Id],
        Field(json_schema_extra={"maxItems": MAX_PHOTOS_PER_MESSAGE, "uniqueItems": True}),
    ] = []
    client_id: ClientId | None = None  # or the Idempotency-Key header; one is required


class MessageHistoryQuery(Query):
    contact_id: Id
    before: Id | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class QuoteQuery(Query):
    contact_id: Id
    photos: Annotated[int, Field(ge=0, le=MAX_PHOTOS_PER_MESSAGE)] = 0  # to be attached


class MarkReadBody(Body):
    contact_id: Id
    up_to_id: Id


class ExportQuery(Query):
    contact_id: Id
    format: Literal["txt", "json"] = "txt"
