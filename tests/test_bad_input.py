"""No input reaches a 500: ids are ASCII digits bounded by what the database holds, every JSON
decoding error is 400, text refuses NUL and unpaired surrogates with a field error (at any
depth), stored text can always be exported, every status a route answers is documented, the
Allow header names the methods of the path asked for, and API errors are always JSON."""

from __future__ import annotations

import io
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import ValidationError

from server.domain.ledger import family_wallet
from server.http.parsing import MAX_ID
from server.http.schemas import ResidentSearchQuery
from server.services.context import Services
from server.storage.models import AuditEntry
from tests.story import Actor, World, approved_contact, assert_error, document, fund, path_of

JSON = {"Content-Type": "application/json"}
AUDIT = "/api/v1/staff/audit"


def with_json(who: Actor) -> dict[str, str]:
    return {**who.headers, **JSON}


async def request_contact(client: TestClient[Any, Any], family: Actor, world: World) -> int:
    resp = await client.post(
        "/api/v1/contacts",
        json={"resident_id": world.residents["A1001"]},
        headers=family.headers,
    )
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


# --- ids in the path ----------------------------------------------------------------------


async def test_superscript_digit_id_is_404(
    app_client: TestClient[Any, Any], family: Actor, world: World
) -> None:
    await request_contact(app_client, family, world)
    # "²".isdigit() is True, but int("²") raises: this was a 500.
    resp = await app_client.get("/api/v1/contacts/\u00b2", headers=family.headers)
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")


@pytest.mark.parametrize(
    "digit_one",
    ["\uff11", "\u0661", "\u06f1", "\u0967"],  # fullwidth, Arabic-Indic, Persian, Devanagari
)
async def test_non_ascii_digit_id_is_404_not_contact_1(
    app_client: TestClient[Any, Any], family: Actor, world: World, digit_one: str
) -> None:
    contact_id = await request_contact(app_client, family, world)
    assert contact_id == 1
    assert (await app_client.get("/api/v1/contacts/1", headers=family.headers)).status == 200
    resp = await app_client.get(f"/api/v1/contacts/{digit_one}", headers=family.headers)
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")


@pytest.mark.parametrize("raw", [str(MAX_ID + 1), "9" * 19, "1" * 20, "0", "00000000000000000001"])
async def test_path_id_beyond_64_bits_or_zero_is_404(
    app_client: TestClient[Any, Any], family: Actor, raw: str
) -> None:
    resp = await app_client.get(f"/api/v1/contacts/{raw}", headers=family.headers)
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")


async def test_largest_64_bit_path_id_is_an_ordinary_not_found(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    resp = await app_client.get(f"/api/v1/contacts/{MAX_ID}", headers=family.headers)
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")


# --- the Allow header ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/messages/export", "GET"),
        ("/api/v1/messages/quote", "GET"),
        ("/api/v1/messages/read", "POST"),
        ("/api/v1/messages/unread", "GET"),
    ],
)
async def test_allow_header_of_fixed_message_paths_lists_only_their_methods(
    app_client: TestClient[Any, Any], path: str, allowed: str
) -> None:
    for method in ("OPTIONS", "DELETE", "PATCH"):
        resp = await app_client.request(method, path)
        assert resp.status == 405, (method, path)
        assert_error(await resp.json(), "method_not_allowed")
        assert {m.strip() for m in resp.headers["Allow"].split(",")} == {allowed}, path


async def test_allow_header_of_messages_export_lists_get_only(
    app_client: TestClient[Any, Any],
) -> None:
    resp = await app_client.options("/api/v1/messages/export")
    assert resp.status == 405
    assert resp.headers["Allow"] == "GET"


async def test_allow_header_of_a_message_lists_delete(app_client: TestClient[Any, Any]) -> None:
    resp = await app_client.options("/api/v1/messages/12")
    assert resp.status == 405
    assert resp.headers["Allow"] == "DELETE"


# --- JSON decoding ------------------------------------------------------------------------


async def test_json_integer_over_4300_digits_is_400(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    # json.loads raises ValueError (not JSONDecodeError) past Python's int-conversion limit.
    raw = '{"resident_id": ' + "1" * 5000 + "}"
    resp = await app_client.post("/api/v1/contacts", data=raw, headers=with_json(family))
    assert resp.status == 400
    assert_error(await resp.json(), "malformed_json")


async def test_json_integer_over_4300_digits_is_400_without_signing_in(
    app_client: TestClient[Any, Any],
) -> None:
    raw = '{"username": "jane", "password": ' + "9" * 4301 + "}"
    resp = await app_client.post("/api/v1/sessions", data=raw, headers=JSON)
    assert resp.status == 400
    assert_error(await resp.json(), "malformed_json")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_not_json_400(
    app_client: TestClient[Any, Any], family: Actor, constant: str
) -> None:
    raw = '{"resident_id": ' + constant + "}"
    resp = await app_client.post("/api/v1/contacts", data=raw, headers=with_json(family))
    assert resp.status == 400
    assert_error(await resp.json(), "malformed_json")


# --- text: NUL and unpaired surrogates ----------------------------------------------------


async def test_lone_surrogate_in_message_body_is_422(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    world: World,
    services: Services,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await fund(services, family_wallet(family.id), 1000)
    # Written by hand: the escape \ud800 alone is valid JSON syntax, but not a character.
    raw = f'{{"contact_id": {contact_id}, "body": "hi \\ud800 there", "client_id": "s-1"}}'
    resp = await app_client.post("/api/v1/messages", data=raw, headers=with_json(family))
    assert resp.status == 422
    data = await resp.json()
    assert "surrogate" in data["error"]["fields"]["body"]
    # A whole pair is a character (U+1F600) and is sent as usual.
    raw = f'{{"contact_id": {contact_id}, "body": "hi \\ud83d\\ude00", "client_id": "s-2"}}'
    resp = await app_client.post("/api/v1/messages", data=raw, headers=with_json(family))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["body"] == "hi \U0001f600"


async def test_lone_low_surrogate_in_contact_relationship_is_422(
    app_client: TestClient[Any, Any], family: Actor, world: World
) -> None:
    resident_id = world.residents["A1001"]
    raw = f'{{"resident_id": {resident_id}, "relationship": "\\udc00"}}'
    resp = await app_client.post("/api/v1/contacts", data=raw, headers=with_json(family))
    assert resp.status == 422
    assert "relationship" in (await resp.json())["error"]["fields"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rules": [{"kind": "word", "pattern": "knife", "note": "\ud800"}]}, "rules.0"),
        ({"rules": [{"kind": "word", "pattern": "\udfff", "note": ""}]}, "rules.0"),
        ({"rejection_reasons": ["Threats", "\ud800 bad"]}, "rejection_reasons"),
        ({"rejection_reasons": ["Threats", "nul\x00"]}, "rejection_reasons"),
        ({"visiting_hours": {"mon": [["09:00", "1\ud8000:00"]]}}, "visiting_hours.mon"),
        ({"reason": "why \ud800"}, "reason"),
    ],
)
async def test_lone_surrogate_or_nul_anywhere_in_a_policy_is_422_by_field(
    app_client: TestClient[Any, Any],
    facility_admin: Actor,
    world: World,
    change: dict[str, Any],
    field: str,
) -> None:
    resp = await app_client.put(
        path_of(world), json=document(**change), headers=facility_admin.headers
    )
    assert resp.status == 422, await resp.text()
    data = await resp.json()
    assert_error(data, "invalid_fields")
    assert any(name.startswith(field) for name in data["error"]["fields"]), data


async def test_lone_surrogate_in_a_rejection_reason_is_422(
    app_client: TestClient[Any, Any], reviewer: Actor
) -> None:
    resp = await app_client.post(
        "/api/v1/staff/review/1/reject", json={"reason": "no \udbff"}, headers=reviewer.headers
    )
    assert resp.status == 422
    assert "reason" in (await resp.json())["error"]["fields"]


def test_query_strings_refuse_lone_surrogates_and_nul() -> None:
    # aiohttp decodes bad UTF-8 in a query string to U+FFFD, so this guards the model itself.
    for bad in ("ab\ud800", "ab\x00"):
        with pytest.raises(ValidationError):
            ResidentSearchQuery.model_validate({"facility_id": "1", "q": bad})
    assert ResidentSearchQuery.model_validate({"facility_id": "1", "q": "ab\ufffd"}).q


async def test_nul_in_a_query_string_is_422(app_client: TestClient[Any, Any], world: World) -> None:
    resp = await app_client.get(f"/api/v1/residents?facility_id={world.facility_id}&q=re%00ed")
    assert resp.status == 422
    assert "q" in (await resp.json())["error"]["fields"]


# --- integers the database can hold -------------------------------------------------------


async def test_resident_id_beyond_64_bits_is_422(
    app_client: TestClient[Any, Any], facility_admin: Actor, world: World
) -> None:
    restriction = {"resident_id": 2**64, "kind": "review_all", "until": None, "reason": ""}
    resp = await app_client.put(
        path_of(world), json=document(restrictions=[restriction]), headers=facility_admin.headers
    )
    assert resp.status == 422, await resp.text()
    assert "restrictions.0.resident_id" in (await resp.json())["error"]["fields"]


@pytest.mark.parametrize("value", [MAX_ID + 1, 2**64, -(2**63) - 1])
async def test_ids_in_bodies_beyond_64_bits_are_422(
    app_client: TestClient[Any, Any], family: Actor, value: int
) -> None:
    resp = await app_client.post(
        "/api/v1/contacts", json={"resident_id": value}, headers=family.headers
    )
    assert resp.status == 422
    assert "resident_id" in (await resp.json())["error"]["fields"]


async def test_largest_64_bit_id_in_a_body_is_an_ordinary_not_found(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    resp = await app_client.post(
        "/api/v1/contacts", json={"resident_id": MAX_ID}, headers=family.headers
    )
    assert resp.status == 404
    assert_error(await resp.json())


@pytest.mark.parametrize("since", [str(MAX_ID + 1), "1" * 30])
async def test_event_seq_beyond_64_bits_is_422(
    app_client: TestClient[Any, Any], family: Actor, since: str
) -> None:
    resp = await app_client.get(f"/api/v1/events?since={since}", headers=family.headers)
    assert resp.status == 422
    assert "since" in (await resp.json())["error"]["fields"]


# --- stored text can always be exported ---------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_audit_csv_exports_entry_with_lone_surrogate(
    app_client: TestClient[Any, Any], facility_admin: Actor, world: World, services: Services
) -> None:
    # Saved before such text was refused: SQLite's JSON keeps the escape, and reading it back
    # gives a string that UTF-8 cannot encode. (PostgreSQL's jsonb never accepted it.)
    async with services.db.transaction() as tx:
        tx.add(
            AuditEntry(
                at=services.clock.now(),
                facility_id=world.facility_id,
                staff_id=facility_admin.id,
                action="policy.update",
                target_type="facility",
                target_id=world.facility_id,
                reason="Rules",
                details={"note": "knife \ud800"},
            )
        )
    resp = await app_client.get(f"{AUDIT}?format=csv", headers=facility_admin.headers)
    assert resp.status == 200, await resp.text()
    text = (await resp.read()).decode("utf-8")  # strict: what was sent is UTF-8
    assert "knife \\\\ud800" in text or "knife \\ud800" in text, text
    lines = list(io.StringIO(text))
    assert len(lines) >= 2
    resp = await app_client.get(AUDIT, headers=facility_admin.headers)
    assert resp.status == 200


# --- every status a route answers is documented -------------------------------------------


async def test_contact_request_retry_answers_a_documented_200(
    app_client: TestClient[Any, Any], family: Actor, world: World
) -> None:
    body = {"resident_id": world.residents["A1001"]}
    first = await app_client.post("/api/v1/contacts", json=body, headers=family.headers)
    again = await app_client.post("/api/v1/contacts", json=body, headers=family.headers)
    assert (first.status, again.status) == (201, 200)
    doc = await (await app_client.get("/api/openapi.json")).json()
    assert {"200", "201"} <= set(doc["paths"]["/api/v1/contacts"]["post"]["responses"])


async def test_openapi_documents_the_retry_statuses_of_creating_routes(
    app_client: TestClient[Any, Any],
) -> None:
    doc = await (await app_client.get("/api/openapi.json")).json()
    documented = {
        (path, method): set(op["responses"])
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }
    assert {"200", "201"} <= documented[("/api/v1/messages", "post")]
    assert {"200", "201"} <= documented[("/api/v1/deposits", "post")]
    assert {"200", "201"} <= documented[("/api/v1/staff/deposits", "post")]
    assert {"201", "202"} <= documented[("/api/v1/staff/refunds", "post")]
    assert {"200", "503"} <= documented[("/readyz", "get")]


async def test_openapi_path_ids_are_bounded_integers(app_client: TestClient[Any, Any]) -> None:
    doc = await (await app_client.get("/api/openapi.json")).json()
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert param["schema"] == {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_ID,
                    }, path


# --- API errors are JSON ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nothing-here", 404),
        ("GET", "/api/v1/contacts/1/nothing", 404),
        ("POST", "/api/v1/facilities", 405),
        ("PUT", "/api/v1/contacts", 405),
        ("HEAD", "/api/v1/facilities", 405),
        ("OPTIONS", "/api/openapi.json", 405),
    ],
)
async def test_api_errors_for_unknown_paths_and_methods_are_json(
    app_client: TestClient[Any, Any], method: str, path: str, status: int
) -> None:
    resp = await app_client.request(method, path)
    assert resp.status == status
    if method != "HEAD":
        assert resp.content_type == "application/json"
        assert_error(await resp.json())


async def test_body_over_the_servers_size_limit_is_json_413(
    app_client: TestClient[Any, Any], family: Actor
) -> None:
    raw = b'{"resident_id": 1, "relationship": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    resp = await app_client.post("/api/v1/contacts", data=raw, headers=with_json(family))
    assert resp.status == 413
    assert resp.content_type == "application/json"
    assert_error(await resp.json(), "too_large")
