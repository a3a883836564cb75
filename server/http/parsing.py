"""Turning untrusted request input into typed objects, or the contract's errors."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from server.errors import BadRequest, FieldErrors, NotFound, TooLarge, UnsupportedMedia

MAX_JSON_BYTES = 64 * 1024
# Ids are 64-bit signed integers in the database (BIGINT on PostgreSQL, INTEGER on SQLite): a
# larger one cannot name anything, and PostgreSQL would refuse to even compare it.
MAX_ID = 2**63 - 1
# The one id type of every request shape (bodies, query strings); path ids: `path_id`.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# What the route table lets through as a `{name}` path segment: ASCII digits only (str.isdigit
# would also take a superscript two or a fullwidth one), at most as many as MAX_ID has.
ID_PATTERN = "[0-9]{1,19}"
# The idempotency key of every request that spends money or creates something: the
# `Idempotency-Key` header or the body's `client_id` field (socket.io events: the field alone).
# Printable ASCII without spaces (UUIDs, ULIDs and the like), at most 100 characters: the
# column that keeps it is 100 long.
IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[\x21-\x7e]{1,100}$"
_KEY_RE = re.compile(KEY_PATTERN)
# The one `client_id` type of every request shape; `idempotency_key` checks the value (with the
# header), and the document states the same rule.
ClientId = Annotated[
    str, Field(min_length=1, max_length=100, json_schema_extra={"pattern": KEY_PATTERN})
]
UNPAIRED_SURROGATE = "Must be Unicode text (an unpaired surrogate is not a character)."
M = TypeVar("M", bound=BaseModel)


def _text_problem(value: Any) -> str | None:
    """What is wrong with the text in `value` (a string, or strings inside lists and
    objects), or None. PostgreSQL text can neither store nor compare U+0000, and an unpaired
    surrogate is not a character at all (it cannot be encoded as UTF-8): refuse them here,
    with the field's name, rather than fail in the database or an export with a 500."""
    if isinstance(value, str):
        if "\x00" in value:
            return "Must not contain the NUL character."
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return UNPAIRED_SURROGATE
        return None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            if problem := _text_problem(item):
                return problem
    return None


def _refuse_bad_text(value: Any) -> Any:
    if problem := _text_problem(value):
        raise ValueError(problem)
    return value


class Body(BaseModel):
    """Base for JSON request bodies: unknown fields, wrong types, NUL characters and unpaired
    surrogates (at any depth) are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    # After: a nested Body checks its own fields (and a before-validator would not work on
    # the discriminator of a tagged union).
    _no_bad_text = field_validator("*", mode="after")(_refuse_bad_text)


class Query(BaseModel):
    """Base for query strings: values arrive as text, so numbers are converted; NUL characters
    and unpaired surrogates refused."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    _no_bad_text = field_validator("*", mode="before")(_refuse_bad_text)


def _sentence(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "This field is required."
    if kind == "extra_forbidden":
        return "Unknown field."
    if kind == "string_type":
        return "Must be text."
    if kind == "string_unicode":
        return UNPAIRED_SURROGATE
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
        data = json.loads(raw or b"{}", parse_constant=_not_json, parse_float=_json_number)
    except (ValueError, RecursionError):
        # ValueError covers every decoding error: bad syntax (JSONDecodeError), bytes that are
        # not UTF-8 (UnicodeDecodeError), an integer longer than Python converts (over 4,300
        # digits) and NaN or Infinity (not JSON). RecursionError: nesting deeper than the
        # decoder's stack. All are malformed input, not a 500.
        raise BadRequest("The request body is not valid JSON.", code="malformed_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", code="malformed_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise field_errors(exc) from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _json_number(text: str) -> int | float:
    """A JSON number written with a fraction or an exponent. One with no fractional part
    (5.0, 1e2) is an integer, as JSON Schema (and so the OpenAPI document) counts it; anything
    else stays a float, which integer fields refuse. Past 30 digits it cannot be an id or an
    amount: it stays a float rather than be expanded (1e999999 would be a million digits)."""
    number = Decimal(text)
    if number.is_finite() and number == number.to_integral_value() and number.adjusted() < 30:
        return int(number)
    return float(text)


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
    """An id from the path. Anything that is not a plausible id (ASCII digits, 1 to MAX_ID) is
    simply not found. The route table already lets only ASCII digits through (ID_PATTERN);
    this is the same rule for a route mounted without it."""
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_ID)):
        raise NotFound("Not found.")
    value = int(raw)
    if not 1 <= value <= MAX_ID:
        raise NotFound("Not found.")
    return value


def idempotency_key(request: web.Request | None, client_id: str | None) -> str:
    """The request's idempotency key: the `Idempotency-Key` header or the body's `client_id`
    (the same if both are sent), required. `request` None: a socket.io event, which has only
    the field."""
    header = request.headers.get(IDEMPOTENCY_HEADER) if request is not None else None
    if header is not None and client_id is not None and header != client_id:
        raise FieldErrors({"client_id": "Differs from the Idempotency-Key header; send one."})
    key = header if header is not None else client_id
    if key is None:
        raise FieldErrors(
            {"client_id": "Send an Idempotency-Key header or a client_id, new for each request."},
            message="An idempotency key is required so that a retry never does anything twice.",
        )
    if not _KEY_RE.match(key):
        raise FieldErrors({"client_id": "Use 1-100 visible ASCII characters, no spaces."})
    return key


def client_address(request: web.Request, *, trust_proxy: bool) -> str:
    """The caller's address for rate limits. Behind the reverse proxy in deploy/ (TRUST_PROXY=1)
    it is the last X-Forwarded-For entry, the one our own proxy appended; a client cannot
    forge that one."""
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if trust_proxy and forwarded:
        return forwarded.split(",")[-1].strip() or peer
    return peer


DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def calendar_day(value: Any, *, first_year: int) -> Any:
    """A date written as YYYY-MM-DD only (pydantic would also take timestamps and other
    spellings), from `first_year` to 2999; a non-string is left for pydantic to refuse."""
    if not isinstance(value, str) or not DAY_RE.match(value):
        raise ValueError("Use a date such as 2026-11-18.")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("Use a real date such as 2026-11-18.") from None
    if not first_year <= day.year <= 2999:
        raise ValueError(f"Use a date between {first_year} and 2999.")
    return day
