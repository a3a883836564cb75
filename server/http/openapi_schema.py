"""The JSON Schema of request shapes as the OpenAPI document states them: exactly what parsing
(server/http/parsing.py) lets through, so that a client that follows the document is never
refused for the shape of its input, and one that does not follow it always is.

Pydantic's own schema leaves out rules that parsing enforces; this generator adds them:

- Text never holds NUL (PostgreSQL cannot store it): every string without a pattern of its own
  gets one that excludes U+0000. (Unpaired surrogates are refused too, but JSON Schema text is
  made of characters, and an unpaired surrogate is not one: nothing to say.)
- Text that is stripped before its length is checked (`strip_whitespace`) counts only what is
  left between the first and the last character that is not white space: a pattern says so
  instead of minLength/maxLength, which would count the text as sent. Pydantic strips Unicode
  White_Space (Rust's `trim`), which differs from Python's `str.strip` (U+001C to U+001F).
- A value that may be null in a body is absent, not null, in a query string.

A JSON number with no fractional part (`5.0`, `1e2`) is an integer to JSON Schema, and parsing
reads it as one (`parse_json`), so integer fields need nothing more here.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

# Unicode White_Space, as pydantic's strip_whitespace removes it (a test compares the two).
WHITE_SPACE = "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
# What Python's str.strip() removes, as the domain's "nothing but white space" checks do:
# Unicode White_Space and the four information separators U+001C to U+001F.
PY_WHITE_SPACE = WHITE_SPACE + "\\u001c-\\u001f"
NO_NUL = "^[^\\u0000]*$"
# Text with something in it besides white space (by str.strip), and no NUL.
NOT_BLANK = f"^[^\\u0000]*[^{PY_WHITE_SPACE}\\u0000][^\\u0000]*$"


def stripped_length_pattern(low: int, high: int | None, *, space: str = WHITE_SPACE) -> str:
    """Text whose part between the first and last non-white-space characters is `low` to
    `high` characters long (`high` None: no limit), with no NUL anywhere. `space`: what is
    stripped (pydantic's WHITE_SPACE, or PY_WHITE_SPACE for a domain's str.strip)."""
    edge = f"[^{space}\\u0000]"
    space = f"[{space}]*"
    inner = "[^\\u0000]"
    choices: list[str] = []
    if low <= 1 and (high is None or high >= 1):
        choices.append(edge)
    if high is None or high >= 2:
        least = max(low, 2) - 2
        most = "" if high is None else str(high - 2)
        choices.append(f"{edge}{inner}{{{least},{most}}}{edge}")
    body = "|".join(choices)
    middle = f"(?:{body})?" if low == 0 else f"(?:{body})"
    return f"^{space}{middle}{space}$"


def stripped_pattern(core: str, *, space: str = PY_WHITE_SPACE) -> str:
    """Text that is `core` (a regular expression) once white space around it is stripped."""
    return f"^[{space}]*(?:{core})[{space}]*$"


def blank_or_null(max_length: int) -> dict[str, Any]:
    """A field that must be left out: null, or nothing but white space (by str.strip)."""
    return {
        "anyOf": [
            {"type": "string", "maxLength": max_length, "pattern": f"^[{PY_WHITE_SPACE}]*$"},
            {"type": "null"},
        ]
    }


class RequestJsonSchema(GenerateJsonSchema):
    """Pydantic's JSON Schema of a request model, plus what parsing enforces beyond it."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        if schema.get("strip_whitespace"):
            assert "pattern" not in json_schema, "a stripped pattern field: say it by hand"
            low = int(json_schema.pop("minLength", 0))
            high = json_schema.pop("maxLength", None)
            json_schema["pattern"] = stripped_length_pattern(
                low, None if high is None else int(high)
            )
        elif "pattern" not in json_schema:
            json_schema["pattern"] = NO_NUL
        return json_schema


def query_parameter_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A query model's property as a parameter's schema: null is not something a query
    string can say (the parameter is left out instead)."""
    out = dict(schema)
    branches = out.get("anyOf")
    if isinstance(branches, list) and {"type": "null"} in branches:
        rest = [b for b in branches if b != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1:
            out.update(rest[0])
        else:
            out["anyOf"] = rest
    if out.get("default", 0) is None:
        del out["default"]
    return out


def require_in_schema(*names: str) -> Any:
    """A model's `json_schema_extra` that lists `names` as required in the document although
    parsing takes them as optional: each has another way in that the document does not
    describe (a client_id may come as the Idempotency-Key header instead), and the service
    refuses a request that has neither."""

    def extra(schema: dict[str, Any]) -> None:
        required = list(schema.get("required", []))
        schema["required"] = required + [n for n in names if n not in required]
        for name in names:
            prop = schema["properties"][name]
            branches = prop.get("anyOf")
            if isinstance(branches, list):
                rest = [b for b in branches if b != {"type": "null"}]
                del prop["anyOf"]
                prop.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
            prop.pop("default", None)

    return extra
