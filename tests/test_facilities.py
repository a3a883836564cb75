"""The public facility list and the resident search families use to find someone."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.story import World, assert_error

MATCH_FIELDS = {"id", "facility_id", "resident_number", "first_name", "last_name"}


async def search(client: TestClient[Any, Any], **params: str | int) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/api/v1/residents", params={k: str(v) for k, v in params.items()})
    data: dict[str, Any] = await resp.json()
    return resp.status, data


def names(data: dict[str, Any]) -> list[str]:
    return [f"{r['first_name']} {r['last_name']}" for r in data["residents"]]


async def test_facility_list_shows_both_facilities(
    app_client: TestClient[Any, Any], world: World
) -> None:
    resp = await app_client.get("/api/v1/facilities")
    assert resp.status == 200
    facilities = (await resp.json())["facilities"]
    assert {(f["id"], f["name"]) for f in facilities} == {
        (world.facility_id, "Riverside"),
        (world.other_facility_id, "Lakeside"),
    }
    by_name = {f["name"]: f for f in facilities}
    assert by_name["Lakeside"]["timezone"] == "America/Los_Angeles"


async def test_resident_search_by_name_words_ignores_case(
    app_client: TestClient[Any, Any], world: World
) -> None:
    for q in ("reed", "REED", "Reed", "marcus reed", "Reed  Marcus", "arcu"):
        status, data = await search(app_client, facility_id=world.facility_id, q=q)
        assert status == 200, q
        assert names(data) == ["Marcus Reed"], q


async def test_resident_search_needs_every_word(
    app_client: TestClient[Any, Any], world: World
) -> None:
    status, data = await search(app_client, facility_id=world.facility_id, q="marcus whitfield")
    assert status == 200
    assert data["residents"] == []


async def test_resident_search_by_exact_number(
    app_client: TestClient[Any, Any], world: World
) -> None:
    status, data = await search(app_client, facility_id=world.facility_id, q="A1002")
    assert status == 200
    assert [r["resident_number"] for r in data["residents"]] == ["A1002"]
    assert data["residents"][0]["id"] == world.residents["A1002"]
    status, data = await search(app_client, facility_id=world.facility_id, q="A100")
    assert data["residents"] == []


async def test_resident_search_never_shows_birth_date_or_housing_unit(
    app_client: TestClient[Any, Any], world: World
) -> None:
    status, data = await search(app_client, facility_id=world.facility_id, q="reed")
    assert status == 200
    assert set(data) == {"residents"}
    assert [set(r) for r in data["residents"]] == [MATCH_FIELDS]
    text = str(data)
    assert "1988" not in text and "B-12" not in text


async def test_resident_search_in_unknown_facility_is_404(
    app_client: TestClient[Any, Any], world: World
) -> None:
    status, data = await search(app_client, facility_id=987654, q="reed")
    assert status == 404
    assert_error(data, "not_found")


async def test_resident_search_shorter_than_2_chars_is_refused(
    app_client: TestClient[Any, Any], world: World
) -> None:
    status, data = await search(app_client, facility_id=world.facility_id, q="r")
    assert status == 422
    assert_error(data, "invalid_fields")
    assert "q" in data["error"]["fields"]


async def test_resident_search_of_blanks_is_refused(
    app_client: TestClient[Any, Any], world: World
) -> None:
    for q in ("  ", " r", "r ", "\t\t"):
        status, data = await search(app_client, facility_id=world.facility_id, q=q)
        assert status == 422, (q, data)
        assert "q" in data["error"]["fields"]


async def test_resident_search_without_facility_is_refused(
    app_client: TestClient[Any, Any], world: World
) -> None:
    status, data = await search(app_client, q="reed")
    assert status == 422
    assert "facility_id" in data["error"]["fields"]


async def test_resident_search_with_non_numeric_facility_is_refused(
    app_client: TestClient[Any, Any], world: World
) -> None:
    status, data = await search(app_client, facility_id="x", q="reed")
    assert status == 422
    assert "facility_id" in data["error"]["fields"]


async def test_resident_search_does_not_show_other_facilitys_residents(
    app_client: TestClient[Any, Any], world: World
) -> None:
    status, data = await search(app_client, facility_id=world.facility_id, q="olive stone")
    assert status == 200 and data["residents"] == []
    status, data = await search(app_client, facility_id=world.facility_id, q="Z9001")
    assert status == 200 and data["residents"] == []
    status, data = await search(app_client, facility_id=world.other_facility_id, q="olive")
    assert names(data) == ["Olive Stone"]


async def test_resident_search_wildcards_are_literal(
    app_client: TestClient[Any, Any], world: World
) -> None:
    for q in ("%%", "_%", "__", "%e", "e%", "m%d"):
        status, data = await search(app_client, facility_id=world.facility_id, q=q)
        assert status == 200, q
        assert data["residents"] == [], q


async def test_resident_search_with_nul_character_is_refused(
    app_client: TestClient[Any, Any], world: World
) -> None:
    """PostgreSQL cannot compare U+0000: refused with a field error, never a 500."""
    status, data = await search(app_client, facility_id=world.facility_id, q="re\x00ed")
    assert status == 422
    assert "q" in data["error"]["fields"]
