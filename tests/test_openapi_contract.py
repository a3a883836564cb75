"""The OpenAPI document states what the server enforces (schemathesis checks the two agree in
`make fuzz`; these tests pin the rules it found): patterns that say exactly what parsing and
the domain take, integers as JSON Schema counts them, every content type and status a route
answers, and no two request shapes under one name."""

from __future__ import annotations

import re
import sys
from typing import Annotated, Any

import jsonschema_rs
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import StringConstraints, TypeAdapter, ValidationError

from moderation.http.schemas import PrivilegeBody
from moderation.services.privilege import check_credentials
from server.domain.messages import MAX_BODY_CHARS, check_body
from server.errors import FieldErrors
from server.http.api import Endpoint
from server.http.openapi_schema import (
    NOT_BLANK,
    PY_WHITE_SPACE,
    WHITE_SPACE,
    stripped_length_pattern,
)
from server.services.context import PrincipalKind
from tests.story import Actor, World, approved_contact, assert_error

JSON = {"Content-Type": "application/json"}
# Text that is mostly white space, NUL and a few letters: where the rules have their edges.
EDGY = st.text(
    alphabet=st.sampled_from(
        [
            *(" ", "\t", "\n", "\x0b", "\x1c", "\x1f", "\x85", "\xa0", "\u2000", "\u3000"),
            *("\ufeff", "\u200b", "\x00", "a", "Z", "-", "\u00e9", "\U0001f600"),
        ]
    ),
    max_size=12,
)


async def openapi(client: TestClient[Any, Any]) -> dict[str, Any]:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    return dict(await resp.json())


# --- white space, as pydantic and str.strip see it ----------------------------------------


def _in_class(chars: str, ch: str) -> bool:
    return re.fullmatch(f"[{chars}]", ch) is not None


def test_white_space_is_what_pydantic_strips() -> None:
    strip = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True)])
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        ch = chr(code)
        stripped = strip.validate_python(f"{ch}a{ch}") == "a"
        assert stripped == _in_class(WHITE_SPACE, ch), hex(code)


def test_python_white_space_is_what_str_strip_removes() -> None:
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        ch = chr(code)
        assert (f"{ch}a{ch}".strip() == "a") == _in_class(PY_WHITE_SPACE, ch), hex(code)


@pytest.mark.parametrize(("low", "high"), [(0, 100), (1, 100), (2, 5), (3, 500), (1, 1), (0, 2)])
@given(text=EDGY)
def test_stripped_length_pattern_takes_what_pydantic_takes(low: int, high: int, text: str) -> None:
    adapter = TypeAdapter(
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=low, max_length=high)]
    )
    try:
        adapter.validate_python(text)
        accepted = "\x00" not in text  # parsing refuses NUL in every field
    except ValidationError:
        accepted = False
    assert (re.fullmatch(stripped_length_pattern(low, high), text) is not None) == accepted


@given(text=EDGY)
def test_not_blank_takes_what_a_message_body_takes(text: str) -> None:
    try:
        check_body(text)
        accepted = True
    except FieldErrors:
        accepted = False
    assert len(text) <= MAX_BODY_CHARS
    assert (re.fullmatch(NOT_BLANK, text) is not None) == accepted


@given(
    kind=st.sampled_from(["legal_counsel", "abuse_line"]),
    bar_number=st.none() | st.sampled_from(["", "  ", "NY123", " 12-3/4 ", "a" * 41, "-1", "1 "]),
    bar_state=st.none() | st.sampled_from(["", " ", "NY", " ny ", "N", "NYC"]),
    organisation=st.none() | st.sampled_from(["", " \x1c", "RAINN", "x" * 201]),
    note=st.none() | st.sampled_from(["", "  ", "ok", "n" * 501, " " * 600 + "n"]),
)
def test_privilege_schema_takes_what_check_credentials_takes(
    kind: str,
    bar_number: str | None,
    bar_state: str | None,
    organisation: str | None,
    note: str | None,
) -> None:
    schema = PrivilegeBody.model_json_schema()
    body = {
        "kind": kind,
        "bar_number": bar_number,
        "bar_state": bar_state,
        "organisation": organisation,
        "note": note,
    }
    try:
        check_credentials(**body)
        accepted = True
    except FieldErrors:
        accepted = False
    assert _valid(schema, body) == accepted, body


def _valid(schema: dict[str, Any], value: Any) -> bool:
    return bool(jsonschema_rs.validator_for(schema).is_valid(value))


# --- integers as JSON Schema counts them --------------------------------------------------


@pytest.mark.parametrize("written", ["{}.0", "{}e0", "{}.000", "{}0e-1", "{}.0E+0"])
async def test_json_number_with_no_fraction_is_an_integer(
    app_client: TestClient[Any, Any], family: Actor, world: World, written: str
) -> None:
    # JSON Schema (and so the OpenAPI document) counts 5.0 as the integer 5.
    number = written.format(world.residents["A1001"])
    raw = f'{{"resident_id": {number}, "relationship": "family"}}'
    resp = await app_client.post("/api/v1/contacts", data=raw, headers={**family.headers, **JSON})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["resident"]["id"] == world.residents["A1001"]


@pytest.mark.parametrize("number", ["5.5", "1e-1", "1e400", "123456789012345678901234567890.0"])
async def test_json_number_with_a_fraction_or_beyond_an_id_is_refused(
    app_client: TestClient[Any, Any], family: Actor, number: str
) -> None:
    raw = f'{{"resident_id": {number}}}'
    resp = await app_client.post("/api/v1/contacts", data=raw, headers={**family.headers, **JSON})
    assert resp.status == 422
    assert "resident_id" in (await resp.json())["error"]["fields"]


async def test_json_number_with_a_huge_exponent_is_refused_quickly(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    raw = '{"resident_id": 1e999999999}'
    resp = await app_client.post("/api/v1/contacts", data=raw, headers={**family.headers, **JSON})
    assert resp.status == 422


# --- query strings ------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["0.5", "1700000000", "2026-11-18", "2026-11-18T15:00:00"])
async def test_audit_time_that_is_not_rfc_3339_with_offset_is_422(
    app_client: TestClient[Any, Any], facility_admin: Actor, when: str
) -> None:
    resp = await app_client.get(f"/api/v1/staff/audit?to={when}", headers=facility_admin.headers)
    assert resp.status == 422
    assert "to" in (await resp.json())["error"]["fields"]


async def test_audit_time_in_rfc_3339_is_taken(
    app_client: TestClient[Any, Any], facility_admin: Actor
) -> None:
    for when in ("2026-11-18T15:00:00Z", "2026-11-18t15:00:00.5z", "2026-11-18T15:00:00%2B01:00"):
        resp = await app_client.get(
            f"/api/v1/staff/audit?from={when}", headers=facility_admin.headers
        )
        assert resp.status == 200, (when, await resp.text())


async def test_visiting_hours_take_ascii_digits_only(
    app_client: TestClient[Any, Any], facility_admin: Actor, world: World
) -> None:
    path = f"/api/v1/staff/facilities/{world.facility_id}/policy"
    instant = {"mode": "instant", "delay_minutes": 0}
    body = {
        "incoming": instant,
        "outgoing": instant,
        "visiting_hours": {"mon": [["0\u0669:00", "17:00"]]},  # Arabic-Indic nine
    }
    resp = await app_client.put(path, json=body, headers=facility_admin.headers)
    assert resp.status == 422
    assert_error(await resp.json(), "invalid_fields")


# --- the document -------------------------------------------------------------------------


async def test_two_request_shapes_of_one_name_are_two_schemas(
    app_client: TestClient[Any, Any],
) -> None:
    doc = await openapi(app_client)

    def body_schema(path: str) -> dict[str, Any]:
        ref = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        name = ref["$ref"].rsplit("/", 1)[1]
        return dict(doc["components"]["schemas"][name])

    refund = body_schema("/api/v1/staff/refunds/{id}/reject")["properties"]["reason"]
    review = body_schema("/api/v1/staff/review/{id}/reject")["properties"]["reason"]
    assert refund != review
    assert re.fullmatch(refund["pattern"], "ab") is None  # three characters at least
    assert review["minLength"] == 1


@pytest.mark.parametrize(
    ("path", "types"),
    [
        ("/api/v1/wallet/statement", {"application/json", "text/csv"}),
        ("/api/v1/staff/audit", {"application/json", "text/csv"}),
        ("/api/v1/messages/export", {"text/plain", "application/json"}),
    ],
)
async def test_openapi_lists_every_content_type_of_an_answer(
    app_client: TestClient[Any, Any], path: str, types: set[str]
) -> None:
    doc = await openapi(app_client)
    assert set(doc["paths"][path]["get"]["responses"]["200"]["content"]) == types


async def test_idempotency_key_is_required_in_the_document(
    app_client: TestClient[Any, Any],
) -> None:
    doc = await openapi(app_client)
    for name in ("MessageBody", "DepositBody", "StaffDepositBody", "RefundBody"):
        schema = doc["components"]["schemas"][name]
        assert "client_id" in schema["required"], name
        assert "anyOf" not in schema["properties"]["client_id"], name


async def test_text_fields_in_the_document_refuse_nul(app_client: TestClient[Any, Any]) -> None:
    doc = await openapi(app_client)
    strings: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and "enum" not in node and "const" not in node:
                strings.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in doc["components"]["schemas"].items() if k != "Error"})
    for path_item in doc["paths"].values():
        for op in path_item.values():
            walk([p["schema"] for p in op.get("parameters", [])])
    assert len(strings) > 50
    for s in strings:
        if "format" in s:
            continue
        assert "pattern" in s, s
        assert re.search(s["pattern"], "a\x00b") is None, s


async def test_message_body_rules_are_in_the_document(
    app_client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> None:
    doc = await openapi(app_client)
    schema = doc["components"]["schemas"]["MessageBody"]
    assert schema["properties"]["body"]["maxLength"] == MAX_BODY_CHARS
    # Blank text is refused unless the message carries photos: a body that is not blank, or
    # at least one photo.
    text_branch, photos_branch = schema["anyOf"]
    body = text_branch["properties"]["body"]
    assert photos_branch == {
        "required": ["photo_ids"],
        "properties": {"photo_ids": {"minItems": 1}},
    }
    contact_id = await approved_contact(app_client, family, resident, world)
    resp = await app_client.post(
        "/api/v1/messages",
        json={"contact_id": contact_id, "body": " \x1c\t", "client_id": "blank-1"},
        headers=family.headers,
    )
    assert resp.status == 422
    assert re.fullmatch(body["pattern"], " \x1c\t") is None


async def _nothing(request: Any) -> Any:
    raise AssertionError("never called")


def test_an_endpoint_declaring_an_unknown_kind_of_account_is_refused() -> None:
    """`auth` is both what the document states and what the route's `route_actor` checks."""
    assert Endpoint("GET", "/x", _nothing, "x", "t", auth="family|resident").kinds == (
        PrincipalKind.FAMILY,
        PrincipalKind.RESIDENT,
    )
    assert Endpoint("GET", "/x", _nothing, "x", "t", auth="any").kinds == ()
    assert Endpoint("GET", "/x", _nothing, "x", "t").kinds is None
    with pytest.raises(ValueError):
        Endpoint("GET", "/x", _nothing, "x", "t", auth="famliy")
