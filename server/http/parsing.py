"""Turning untrusted request input into typed objects, or the contract's errors."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from server.errors import BadRequest, FieldErrors, NotFound, TooLarge, UnsupportedMedia

MAX_JSON_BYTES = 64 * 1024
M = TypeVar("M", bound=BaseModel)


def _refuse_nul(value: Any) -> Any:
    # PostgreSQL text can neither store nor compare U+0000: refuse it here, with the
    # field's name, rather than fail in the database with a 500.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("Must not contain the NUL character.")
    return value


class Body(BaseModel):
    """Base for JSON request bodies: unknown fields, wrong types and NUL characters are
    refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    _no_nul = field_validator("*", mode="after")(_refuse_nul)


class Query(BaseModel):
    """Base for query strings: values arrive as text, so numbers are converted; NUL refused."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    _no_nul = field_validator("*", mode="before")(_refuse_nul)


def _sentence(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "This field is required."
    if kind == "extra_forbidden":
        return "Unknown field."
    if kind == "string_type":
        return "Must be text."
    if kind == "bool_type":
        return "Must be true or false."
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "Must be a whole number."
    if kind == "string_too_long":
        return f"Use at most {ctx.get('max_length')} characters."
    if kind == "string_too_short":
        return (
            "This field cannot be empty."
            if ctx.get("min_length") == 1
            else (f"Use at least {ctx.get('min_length')} characters.")
        )
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return str(error["msg"]).replace("Input should be", "Must be") + "."
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error" or kind == "enum":
        return str(error["msg"]).replace("Input should be", "Must be") + "."
    return str(error["msg"])


def field_errors(exc: ValidationError) -> FieldErrors:
    fields: dict[str, str] = {}
    for error in exc.errors():
        name = ".".join(str(p) for p in error["loc"]) or "body"
        fields.setdefault(name, _sentence(error))
    return FieldErrors(fields)


async def parse_json(request: web.Request, model: type[M], *, limit: int = MAX_JSON_BYTES) -> M:
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"The request body is larger than {limit // 1024} KiB.")
    if request.content_type not in ("application/json", ""):
        raise UnsupportedMedia("Send the body as application/json.")
    raw = await _read_body(request, limit)
    try:
        data = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting deeper than the decoder's stack is malformed input, not a 500.
        raise BadRequest("The request body is not valid JSON.", code="malformed_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", code="malformed_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise field_errors(exc) from None


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, or TooLarge past `limit` bytes. One `read(n)` returns only what has
    arrived so far, so a body sent in pieces (chunked, slow links) is read until its end."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(limit + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The request body is larger than {limit // 1024} KiB.")
    return b"".join(chunks)


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise field_errors(exc) from None


def path_id(request: web.Request, name: str = "id") -> int:
    """An id from the path. Anything that is not a plausible id is simply not found."""
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound("Not found.")
    return int(raw)


def client_address(request: web.Request, *, trust_proxy: bool) -> str:
    """The caller's address for rate limits. Behind the reverse proxy in deploy/ (TRUST_PROXY=1)
    it is the last X-Forwarded-For entry, the one our own proxy appended; a client cannot
    forge that one."""
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if trust_proxy and forwarded:
        return forwarded.split(",")[-1].strip() or peer
    return peer
