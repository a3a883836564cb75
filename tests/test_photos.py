"""Photos: upload, send with a message (paid by the sender alone, screened like a message), view
without limit (who may see which), hide, expire; the blobs follow the rows."""

from __future__ import annotations

from typing import Any

import socketio
from aiohttp.test_utils import TestClient

from server.appkeys import SCHEDULER
from server.domain.ledger import family_wallet, resident_wallet
from server.services.context import Services
from server.services.ratelimit import PHOTO_UPLOADS_PER_FAMILY
from tests.fakes import FrozenClock
from tests.story import (
    A_SATURDAY_AFTERNOON,
    PASSWORD,
    REVIEW_ALL,
    WAIT,
    Actor,
    World,
    approved_contact,
    assert_error,
    audit,
    balance,
    blob_files,
    connect,
    fund,
    funded_contact,
    history,
    image_of,
    log_in,
    mark_privileged,
    picture,
    queue,
    send,
    send_photos,
    settled,
    stored_messages,
    stored_photos,
    upload,
    uploaded,
)
from tests.story.photos import RED, photo_form


async def view(
    client: TestClient[Any, Any],
    who: Actor,
    photo_id: int,
    *,
    thumbnail: bool = False,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> tuple[int, bytes, Any]:
    path = f"/api/v1/photos/{photo_id}" + ("/thumbnail" if thumbnail else "")
    resp = await client.request(method, path, headers={**who.headers, **(headers or {})})
    return resp.status, await resp.read(), resp.headers


async def set_photo_policy(
    client: TestClient[Any, Any],
    admin: Actor,
    world: World,
    *,
    photos: dict[str, Any],
    incoming: dict[str, Any] | None = None,
) -> None:
    resp = await client.put(
        f"/api/v1/staff/facilities/{world.facility_id}/policy",
        json={
            "incoming": incoming or {"mode": "instant", "delay_minutes": 0},
            "outgoing": {"mode": "instant", "delay_minutes": 0},
            "photos": photos,
            "reason": "test",
        },
        headers=admin.headers,
    )
    assert resp.status == 200, await resp.text()


async def held_photos(
    client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    admin: Actor,
    world: World,
    *,
    photos: int = 1,
    body: str = "",
) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    """Photos from Jane to Marcus, held for review by the photos rule: the contact, the
    uploaded photos and the message."""
    contact_id = await funded_contact(client, services, family, resident, world)
    await set_photo_policy(client, admin, world, photos=REVIEW_ALL)
    uploads = [await uploaded(client, family, contact_id) for _ in range(photos)]
    status, sent = await send_photos(
        client, family, contact_id, [p["id"] for p in uploads], "held-1", body
    )
    assert status == 201 and sent["status"] == "pending_review", sent
    return contact_id, uploads, sent


async def reject(client: TestClient[Any, Any], reviewer: Actor, message_id: int) -> None:
    resp = await client.post(
        f"/api/v1/staff/review/{message_id}/reject",
        json={"reason": REJECTION},
        headers=reviewer.headers,
    )
    assert resp.status == 200, await resp.text()


REJECTION = "Harassing, abusive or sexually explicit"


# --- upload, then send ---------------------------------------------------------------------


async def test_family_uploads_sends_two_photos_and_the_resident_views_them(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    status, first = await upload(app_client, family, contact_id, picture((800, 600)))
    assert status == 201, first
    assert first["status"] == "unsent" and first["contact_id"] == contact_id
    assert (first["width"], first["height"]) == (800, 600)
    assert (first["thumbnail_width"], first["thumbnail_height"]) == (320, 240)
    assert first["thumbnail_url"] == f"/api/v1/photos/{first['id']}/thumbnail"
    assert first["expires_at"] is not None and first["bytes"] > 0
    second = await uploaded(app_client, family, contact_id, picture((30, 40), RED))

    # Unsent: the uploader sees it, the resident does not.
    assert (await view(app_client, family, first["id"], thumbnail=True))[0] == 200
    assert (await view(app_client, resident, first["id"]))[0] == 404

    status, sent = await send_photos(
        app_client, family, contact_id, [second["id"], first["id"]], "p-1", body="Look!"
    )
    assert status == 201, sent
    assert sent["status"] == "delivered"
    assert sent["price_cents"] == 50 + 2 * 100
    assert [p["id"] for p in sent["photos"]] == [second["id"], first["id"]]
    assert sent["photos"][1]["url"] == f"/api/v1/photos/{first['id']}"
    assert await balance(services, family_wallet(family.id)) == 500 - 250

    status, page = await history(app_client, resident, contact_id)
    assert [p["id"] for p in page["messages"][0]["photos"]] == [second["id"], first["id"]]
    status, data, headers = await view(app_client, resident, first["id"])
    assert status == 200
    assert headers["Content-Type"] == "image/jpeg"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"] == f'inline; filename="photo-{first["id"]}.jpg"'
    assert headers["Cache-Control"].startswith("private")
    assert image_of(data).size == (800, 600)
    # Without limit: the tenth view is the same as the first, and costs nothing.
    for _ in range(10):
        assert (await view(app_client, resident, first["id"], thumbnail=True))[0] == 200
    assert await balance(services, family_wallet(family.id)) == 250


async def test_a_view_revalidates_with_its_etag_serves_ranges_and_head(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    photo = await uploaded(app_client, family, contact_id, picture((200, 100)))
    assert (await send_photos(app_client, family, contact_id, [photo["id"]], "p-1"))[0] == 201
    status, whole, headers = await view(app_client, resident, photo["id"])
    etag = headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert headers["Accept-Ranges"] == "bytes"

    status, body, _ = await view(app_client, resident, photo["id"], headers={"If-None-Match": etag})
    assert status == 304 and body == b""
    status, body, _ = await view(
        app_client, resident, photo["id"], headers={"If-None-Match": '"something-else"'}
    )
    assert status == 200 and body == whole

    status, body, headers = await view(
        app_client, resident, photo["id"], headers={"Range": "bytes=0-99"}
    )
    assert status == 206 and body == whole[:100]
    assert headers["Content-Range"] == f"bytes 0-99/{len(whole)}"
    status, body, _ = await view(app_client, resident, photo["id"], headers={"Range": "bytes=-10"})
    assert status == 206 and body == whole[-10:]
    status, body, headers = await view(
        app_client, resident, photo["id"], headers={"Range": f"bytes={len(whole)}-"}
    )
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(whole)}"
    # An If-Range that no longer holds: the whole photo.
    status, body, _ = await view(
        app_client, resident, photo["id"], headers={"Range": "bytes=0-9", "If-Range": '"old"'}
    )
    assert status == 200 and body == whole

    status, body, headers = await view(app_client, resident, photo["id"], method="HEAD")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == len(whole) and headers["ETag"] == etag
    # The other rendition has its own tag.
    _, _, thumb_headers = await view(app_client, resident, photo["id"], thumbnail=True)
    assert thumb_headers["ETag"] != etag


async def test_a_message_of_photos_alone_costs_only_its_photos(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    photo = await uploaded(app_client, family, contact_id)
    resp = await app_client.get(
        f"/api/v1/messages/quote?contact_id={contact_id}&photos=1", headers=family.headers
    )
    quote = await resp.json()
    assert quote["photos"] == 1 and quote["photo_price_cents"] == 100
    assert quote["photos_cents"] == 100 and quote["text_cents"] == 50
    assert quote["price_cents"] == 150 and quote["payer"] == "you"
    status, sent = await send_photos(app_client, family, contact_id, [photo["id"]], "p-1")
    assert status == 201, sent
    assert sent["body"] == "" and sent["price_cents"] == 100
    assert await balance(services, family_wallet(family.id)) == 400


async def test_saturdays_free_messages_are_for_the_text_only(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    clock.advance(seconds=(A_SATURDAY_AFTERNOON - clock.now()).total_seconds())
    family = await log_in(
        app_client, "/api/v1/sessions", {"username": "jane", "password": PASSWORD}
    )
    photos = [await uploaded(app_client, family, contact_id) for _ in range(3)]
    # A photo alone does not use up a free message.
    status, sent = await send_photos(app_client, family, contact_id, [photos[0]["id"]], "p-1")
    assert status == 201 and sent["price_cents"] == 100
    # Text with a photo: the text is free (first of two), the photo is not.
    status, sent = await send_photos(
        app_client, family, contact_id, [photos[1]["id"]], "p-2", body="Saturday!"
    )
    assert status == 201 and sent["price_cents"] == 100
    status, sent = await send_photos(
        app_client, family, contact_id, [photos[2]["id"]], "p-3", body="Again"
    )
    assert status == 201 and sent["price_cents"] == 100
    status, sent = await send(app_client, family, contact_id, "third text", "t-3")
    assert status == 201 and sent["price_cents"] == 50
    assert await balance(services, family_wallet(family.id)) == 500 - 300 - 50


async def test_photos_are_paid_by_the_sender_alone(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    await fund(services, family_wallet(family.id), 120)
    await fund(services, resident_wallet(resident.id), 5000)
    one, two = [await uploaded(app_client, family, contact_id) for _ in range(2)]
    resp = await app_client.get(
        f"/api/v1/messages/quote?contact_id={contact_id}&photos=2", headers=family.headers
    )
    quote = await resp.json()
    assert quote["payer"] is None and quote["can_send"] is False
    assert "photos are paid by their sender" in quote["why_not"]
    status, body = await send_photos(
        app_client, family, contact_id, [one["id"], two["id"]], "p-1", body="hi"
    )
    assert status == 402, body
    assert_error(body, "insufficient_funds")
    assert "photos are paid by their sender" in body["error"]["message"]
    # Nothing charged, nothing stored; the photos wait, unsent, for another try.
    assert await balance(services, family_wallet(family.id)) == 120
    assert await balance(services, resident_wallet(resident.id)) == 5000
    assert await stored_messages(services) == 0
    status, _ = await send_photos(app_client, family, contact_id, [one["id"]], "p-2")
    assert status == 201
    assert await balance(services, family_wallet(family.id)) == 20


async def test_a_retry_with_the_same_client_id_is_charged_once(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    photo = await uploaded(app_client, family, contact_id)
    status, first = await send_photos(app_client, family, contact_id, [photo["id"]], "same", "x")
    assert status == 201
    status, again = await send_photos(app_client, family, contact_id, [photo["id"]], "same", "x")
    assert status == 200 and again["id"] == first["id"]
    assert await balance(services, family_wallet(family.id)) == 500 - 150
    other = await uploaded(app_client, family, contact_id)
    status, body = await send_photos(app_client, family, contact_id, [other["id"]], "same", "x")
    assert status == 409
    assert_error(body, "idempotency_key_reused")


async def test_an_upload_retry_with_the_same_key_answers_the_first_photo(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    status, first = await upload(app_client, family, contact_id, picture(), key="up-1")
    assert status == 201
    status, again = await upload(app_client, family, contact_id, picture(), key="up-1")
    assert status == 200 and again["id"] == first["id"]
    assert await stored_photos(services) == 1


# --- refused sends: a clear error, nothing charged -----------------------------------------


async def test_a_resident_cannot_send_photos(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await fund(services, resident_wallet(resident.id), 500)
    photo = await uploaded(app_client, family, contact_id)
    status, body = await send_photos(app_client, resident, contact_id, [photo["id"]], "r-1", "hi")
    assert status == 403
    assert_error(body, "photos_family_only")
    status, body = await upload(app_client, resident, contact_id, picture())
    assert status == 403
    assert await balance(services, resident_wallet(resident.id)) == 500
    assert await stored_messages(services) == 0


async def test_another_familys_photo_id_is_not_found(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    theirs = await funded_contact(app_client, services, other_family, resident, world)
    their_photo = await uploaded(app_client, other_family, theirs)
    status, body = await send_photos(app_client, family, contact_id, [their_photo["id"]], "p-1")
    assert status == 404
    assert_error(body, "photo_not_found")
    assert (await view(app_client, family, their_photo["id"]))[0] == 404
    assert await balance(services, family_wallet(family.id)) == 500
    assert await stored_messages(services) == 0
    # Their photo is untouched: they can still send it.
    status, _ = await send_photos(app_client, other_family, theirs, [their_photo["id"]], "o-1")
    assert status == 201


async def test_a_photo_already_sent_is_refused(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    photo = await uploaded(app_client, family, contact_id)
    assert (await send_photos(app_client, family, contact_id, [photo["id"]], "p-1"))[0] == 201
    status, body = await send_photos(app_client, family, contact_id, [photo["id"]], "p-2")
    assert status == 409
    assert_error(body, "photo_already_sent")
    assert await balance(services, family_wallet(family.id)) == 400


async def test_six_photos_in_one_message_are_refused(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world, cents=1000)
    ids = [(await uploaded(app_client, family, contact_id))["id"] for _ in range(6)]
    status, body = await send_photos(app_client, family, contact_id, ids, "p-1")
    assert status == 422
    assert "at most 5 photos" in body["error"]["fields"]["photo_ids"]
    status, body = await send_photos(app_client, family, contact_id, [ids[0], ids[0]], "p-2")
    assert status == 422
    assert await balance(services, family_wallet(family.id)) == 1000
    assert await stored_messages(services) == 0
    status, sent = await send_photos(app_client, family, contact_id, ids[:5], "p-3")
    assert status == 201 and len(sent["photos"]) == 5


async def test_an_unsent_photo_expires_after_24_hours_and_its_blobs_go(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    kept = await uploaded(app_client, family, contact_id, picture(colour=RED))
    photo = await uploaded(app_client, family, contact_id)
    assert len(blob_files(services)) == 4
    assert (await send_photos(app_client, family, contact_id, [kept["id"]], "k-1"))[0] == 201
    clock.advance(hours=23, minutes=59)
    await settled(app_client)
    assert await stored_photos(services) == 2
    clock.advance(minutes=1)
    await settled(app_client)
    assert await stored_photos(services) == 1
    family = await log_in(
        app_client, "/api/v1/sessions", {"username": "jane", "password": PASSWORD}
    )
    assert (await view(app_client, family, photo["id"]))[0] == 404
    status, body = await send_photos(app_client, family, contact_id, [photo["id"]], "p-2")
    assert status == 404
    assert_error(body, "photo_not_found")
    assert len(blob_files(services)) == 2  # the sent photo's two renditions stay
    assert (await view(app_client, family, kept["id"]))[0] == 200
    assert await balance(services, family_wallet(family.id)) == 400


async def test_an_expired_photo_is_refused_before_the_job_deletes_it(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    photo = await uploaded(app_client, family, contact_id)
    await app_client.app[SCHEDULER].stop(grace=1)  # the job must not get there first
    clock.advance(hours=24)
    family = await log_in(
        app_client, "/api/v1/sessions", {"username": "jane", "password": PASSWORD}
    )
    status, body = await send_photos(app_client, family, contact_id, [photo["id"]], "p-1")
    assert status == 409
    assert_error(body, "photo_expired")
    assert await balance(services, family_wallet(family.id)) == 500
    assert await stored_messages(services) == 0


# --- screened like a message ---------------------------------------------------------------


async def test_the_photos_rule_holds_the_message_and_the_reviewer_sees_the_photos(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    reviewer: Actor,
    world: World,
) -> None:
    contact_id, (photo,), sent = await held_photos(
        app_client, services, family, resident, facility_admin, world, body="hi"
    )
    # Text alone is not held by the photos rule.
    status, plain = await send(app_client, family, contact_id, "plain text", "t-1")
    assert status == 201 and plain["status"] == "delivered"
    assert (await view(app_client, resident, photo["id"]))[0] == 404

    (item,) = await queue(app_client, reviewer)
    assert item["id"] == sent["id"] and "photos: review all" in item["matched"]
    assert [p["id"] for p in item["photos"]] == [photo["id"]]
    status, _, _ = await view(app_client, reviewer, photo["id"], thumbnail=True)
    assert status == 200
    views = await audit(app_client, facility_admin, "photo.view")
    assert [v["target_id"] for v in views] == [photo["id"]]

    resp = await app_client.post(
        f"/api/v1/staff/review/{sent['id']}/approve", headers=reviewer.headers
    )
    assert resp.status == 200, await resp.text()
    assert (await view(app_client, resident, photo["id"]))[0] == 200


async def test_the_stricter_of_the_text_and_photo_rules_applies(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_photo_policy(
        app_client,
        facility_admin,
        world,
        incoming=REVIEW_ALL,
        photos={"mode": "delay", "delay_minutes": 10},
    )
    photo = await uploaded(app_client, family, contact_id)
    status, sent = await send_photos(app_client, family, contact_id, [photo["id"]], "p-1")
    assert status == 201 and sent["status"] == "pending_review"


async def test_a_rejected_photo_message_is_refunded_in_full_and_never_shown(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    reviewer: Actor,
    world: World,
) -> None:
    contact_id, photos, sent = await held_photos(
        app_client, services, family, resident, facility_admin, world, photos=2, body="text"
    )
    assert sent["price_cents"] == 250
    assert await balance(services, family_wallet(family.id)) == 250
    await reject(app_client, reviewer, sent["id"])
    assert await balance(services, family_wallet(family.id)) == 500
    _, page = await history(app_client, family, contact_id)
    (mine,) = page["messages"]
    assert mine["status"] == "rejected" and mine["refunded"] is True
    assert mine["rejection_reason"] == REJECTION
    assert (await view(app_client, resident, photos[0]["id"]))[0] == 404
    # The sender still sees what they sent (to appeal it).
    assert (await view(app_client, family, photos[0]["id"]))[0] == 200


async def test_a_privileged_contacts_photos_are_free_and_staff_never_see_them(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    reviewer: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await mark_privileged(services, contact_id)
    photo = await uploaded(app_client, family, contact_id)
    status, sent = await send_photos(app_client, family, contact_id, [photo["id"]], "p-1")
    assert status == 201 and sent["price_cents"] == 0
    assert (await view(app_client, reviewer, photo["id"]))[0] == 404


# --- who may see: anything not yours is 404 ------------------------------------------------


async def test_staff_of_another_facility_and_other_people_get_404(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    other_resident: Actor,
    other_facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    photo = await uploaded(app_client, family, contact_id)
    assert (await send_photos(app_client, family, contact_id, [photo["id"]], "p-1"))[0] == 201
    for who in (other_family, other_resident, other_facility_admin):
        for thumbnail in (False, True):
            status, _, _ = await view(app_client, who, photo["id"], thumbnail=thumbnail)
            assert status == 404
    assert (await view(app_client, resident, 999_999))[0] == 404
    resp = await app_client.get(f"/api/v1/photos/{photo['id']}")
    assert resp.status == 401


async def test_delete_for_me_hides_a_photo_for_that_party_only(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    photo = await uploaded(app_client, family, contact_id)
    assert (await send_photos(app_client, family, contact_id, [photo["id"]], "p-1"))[0] == 201
    resp = await app_client.get("/api/v1/photos", headers=resident.headers)
    assert [p["id"] for p in (await resp.json())["photos"]] == [photo["id"]]
    resp = await app_client.delete(f"/api/v1/photos/{photo['id']}", headers=resident.headers)
    assert resp.status == 204
    assert (await view(app_client, resident, photo["id"]))[0] == 404
    assert (await view(app_client, family, photo["id"]))[0] == 200
    resp = await app_client.get("/api/v1/photos", headers=resident.headers)
    assert (await resp.json())["photos"] == []
    assert len(blob_files(services)) == 2  # hidden, not deleted


async def test_removing_an_unsent_photo_deletes_it_but_keeps_a_blob_another_photo_uses(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    same = picture((120, 90))
    one = await uploaded(app_client, family, contact_id, same)
    two = await uploaded(app_client, family, contact_id, same)
    assert len(blob_files(services)) == 2  # the same picture twice: its blobs are shared
    resp = await app_client.delete(f"/api/v1/photos/{one['id']}", headers=family.headers)
    assert resp.status == 204
    assert await stored_photos(services) == 1
    assert len(blob_files(services)) == 2
    assert (await view(app_client, family, two["id"]))[0] == 200
    resp = await app_client.delete(f"/api/v1/photos/{two['id']}", headers=family.headers)
    assert resp.status == 204
    assert blob_files(services) == []


async def test_a_multipart_part_with_a_broken_header_is_a_clear_400(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    """Found by the fuzzer: a NUL in a part's header was a 500."""
    contact_id = await funded_contact(app_client, services, family, resident, world)
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="s\x00"\r\n\r\nx\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="contact_id"\r\n\r\n{contact_id}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    resp = await app_client.post(
        "/api/v1/photos",
        data=body,
        headers={**family.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert resp.status == 400
    assert_error(await resp.json(), "malformed_upload")
    assert await stored_photos(services) == 0


async def test_a_rejected_photo_message_can_be_appealed_and_delivered_free(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    reviewer: Actor,
    world: World,
) -> None:
    contact_id, (photo,), sent = await held_photos(
        app_client, services, family, resident, facility_admin, world
    )
    await reject(app_client, reviewer, sent["id"])
    resp = await app_client.post(
        f"/api/v1/messages/{sent['id']}/appeal",
        json={"text": "It is a photo of my daughter's graduation"},
        headers=family.headers,
    )
    appeal = (await resp.json())["appeal"]
    assert resp.status == 201
    resp = await app_client.post(
        f"/api/v1/staff/appeals/{appeal['id']}/decide",
        json={"decision": "overturn", "reason": "A family photo"},
        headers=facility_admin.headers,
    )
    assert resp.status == 200, await resp.text()
    await settled(app_client)
    _, page = await history(app_client, resident, contact_id)
    assert [p["id"] for p in page["messages"][0]["photos"]] == [photo["id"]]
    assert (await view(app_client, resident, photo["id"]))[0] == 200
    assert await balance(services, family_wallet(family.id)) == 500, "refunded, and still free"


async def test_photos_can_be_sent_over_the_socket_too(
    app_client: TestClient[Any, Any],
    services: Services,
    sio: socketio.AsyncClient,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    photo = await uploaded(app_client, family, contact_id)
    await connect(sio, app_client, token=family.token)
    sent = await sio.call(
        "message:send",
        {"contact_id": contact_id, "body": "", "photo_ids": [photo["id"]], "client_id": "s-1"},
        timeout=WAIT,
    )
    assert sent["status"] == "delivered" and sent["price_cents"] == 100, sent
    assert [p["id"] for p in sent["photos"]] == [photo["id"]]


async def test_a_family_uploading_past_the_hourly_ceiling_waits(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    for _ in range(PHOTO_UPLOADS_PER_FAMILY.limit):  # as if it had uploaded that many
        await services.limiter.count(PHOTO_UPLOADS_PER_FAMILY, f"family:{family.id}")
    resp = await app_client.post(
        "/api/v1/photos", data=photo_form(contact_id, picture()), headers=family.headers
    )
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert await stored_photos(services) == 0


async def test_a_view_judges_the_session_like_every_request(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    world: World,
) -> None:
    """A view decides the session and the photo in one query: an ended or expired session
    gets 401 there too, never the photo."""
    contact_id = await funded_contact(app_client, services, family, resident, world)
    photo = await uploaded(app_client, family, contact_id)
    assert (await send_photos(app_client, family, contact_id, [photo["id"]], "p-1"))[0] == 201
    assert (await view(app_client, resident, photo["id"]))[0] == 200
    resp = await app_client.delete("/api/v1/sessions/current", headers=resident.headers)
    assert resp.status in (200, 204)
    status, body, _ = await view(app_client, resident, photo["id"])
    assert status == 401 and b"photo" not in body.lower()
    resp = await app_client.get(
        f"/api/v1/photos/{photo['id']}", headers={"Authorization": "Bearer not-a-token"}
    )
    assert resp.status == 401
    clock.advance(days=31)  # past any session's absolute end
    assert (await view(app_client, family, photo["id"], method="HEAD"))[0] == 401
