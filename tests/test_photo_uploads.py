"""Bad uploads through the real app (issue 11's list): each refused with its own status, code
and a message a person understands, or rebuilt correctly; and in every case nothing charged
and, when refused, nothing stored (no photo row, no blob file). What the pipeline does on its
own is in test_photo_pipeline.py; sends, views and who may see what in test_photos.py."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image

from media.domain.photo_rules import MAX_PHOTO_BYTES
from server.domain.ledger import family_wallet
from server.services.context import Services
from tests.story import (
    Actor,
    World,
    assert_error,
    balance,
    blob_files,
    fund,
    funded_contact,
    image_of,
    picture,
    staff_sign_in,
    stored_photos,
    upload,
    uploaded,
)
from tests.story.photos import (
    BLUE,
    EXIF_GPS_IFD,
    RED,
    SECRETS,
    WHITE,
    encoded,
    near,
    rotated_jpeg,
    tagged_jpeg,
)

WALLET = 500  # funded_contact's $5.00

# --- files made here ---------------------------------------------------------------------------


def bomb() -> bytes:
    """81 megapixels (twice our cap) in a PNG of a few kilobytes."""
    data = encoded(Image.new("1", (9000, 9000)), "PNG", optimize=True)
    assert len(data) < 100_000
    return data


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_48_bit(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    """An RGB PNG with 16 bits a channel (Pillow writes none, so it is put together here)."""
    width, height = size
    row = b"\0" + struct.pack(">HHH", *colour) * width  # filter type 0, then the pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(row * height))
        + png_chunk(b"IEND", b"")
    )


# --- the story's steps -------------------------------------------------------------------------


async def stored_view(
    client: TestClient[Any, Any], who: Actor, photo: dict[str, Any], *, thumbnail: bool = False
) -> bytes:
    """The stored rendition, as its uploader reads it back."""
    url = photo["thumbnail_url"] if thumbnail else photo["url"]
    resp = await client.get(url, headers=who.headers)
    assert resp.status == 200
    return await resp.read()


async def assert_nothing_kept(services: Services, family: Actor) -> None:
    assert await stored_photos(services) == 0
    assert blob_files(services) == []
    assert await balance(services, family_wallet(family.id)) == WALLET


def assert_refused(status: int, body: dict[str, Any], *, wanted: int, code: str, says: str) -> None:
    """A clear error: the status, the code, and a message in words (`says` in it)."""
    assert status == wanted, body
    assert_error(body, code)
    assert says in body["error"]["message"], body["error"]["message"]


@pytest.fixture
async def contact_id(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    world: World,
) -> int:
    return await funded_contact(app_client, services, family, resident, world)


# --- size --------------------------------------------------------------------------------------


async def test_a_file_of_zero_bytes_is_refused_as_empty(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    status, body = await upload(app_client, family, contact_id, b"")
    assert_refused(status, body, wanted=422, code="empty_file", says="empty")
    await assert_nothing_kept(services, family)


async def test_15_mib_plus_1_byte_is_refused_with_413(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    jpeg = picture()
    too_big = jpeg + b"\0" * (MAX_PHOTO_BYTES + 1 - len(jpeg))
    assert len(too_big) == 15 * 1024 * 1024 + 1
    status, body = await upload(app_client, family, contact_id, too_big)
    assert_refused(status, body, wanted=413, code="too_large", says="at most 15 MiB")
    await assert_nothing_kept(services, family)


# --- pixels and decoding -----------------------------------------------------------------------


async def test_a_decompression_bomb_is_refused_before_decoding(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    status, body = await upload(
        app_client, family, contact_id, bomb(), content_type="image/png", filename="bomb.png"
    )
    assert_refused(status, body, wanted=422, code="too_many_pixels", says="at most 40 megapixels")
    assert "9,000 x 9,000" in body["error"]["message"]
    await assert_nothing_kept(services, family)


async def test_a_truncated_jpeg_is_refused_as_undecodable(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    whole = encoded(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG")
    status, body = await upload(app_client, family, contact_id, whole[: len(whole) // 2])
    assert_refused(status, body, wanted=422, code="undecodable", says="not a readable JPEG")
    await assert_nothing_kept(services, family)


async def test_a_polyglot_jpeg_with_a_zip_appended_is_stored_without_the_zip(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.html", "<script>alert(1)</script>")
    polyglot = picture((64, 48)) + archive.getvalue()
    assert zipfile.is_zipfile(io.BytesIO(polyglot))
    photo = await uploaded(app_client, family, contact_id, polyglot)
    for thumbnail in (False, True):
        stored = await stored_view(app_client, family, photo, thumbnail=thumbnail)
        # Nothing after the JPEG's end marker: its first FFD9 is its last two bytes.
        assert stored.startswith(b"\xff\xd8\xff") and stored.endswith(b"\xff\xd9")
        assert b"PK\x03\x04" not in stored and b"<script>" not in stored
        assert not zipfile.is_zipfile(io.BytesIO(stored))
        assert image_of(stored).size == (64, 48)
    for blob in blob_files(services):
        assert b"PK\x03\x04" not in blob.read_bytes()
    assert await balance(services, family_wallet(family.id)) == WALLET


# --- content decides, not the name or the declared type ----------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(encoded(Image.new("P", (8, 8)), "GIF"), id="gif"),
        pytest.param(encoded(Image.new("RGB", (8, 8)), "TIFF"), id="tiff"),
        pytest.param(
            b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"></svg>', id="svg"
        ),
    ],
)
async def test_a_gif_tiff_or_svg_renamed_jpg_and_declared_jpeg_is_refused_with_415(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    contact_id: int,
    data: bytes,
) -> None:
    status, body = await upload(
        app_client, family, contact_id, data, filename="holiday.jpg", content_type="image/jpeg"
    )
    assert_refused(status, body, wanted=415, code="unsupported_type", says="JPEG, PNG or WebP")
    await assert_nothing_kept(services, family)


async def test_a_png_declared_as_image_jpeg_is_accepted(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    png = encoded(Image.new("RGB", (30, 20), RED), "PNG")
    status, photo = await upload(
        app_client, family, contact_id, png, filename="a.jpg", content_type="image/jpeg"
    )
    assert status == 201, photo
    assert (photo["width"], photo["height"]) == (30, 20)
    shown = image_of(await stored_view(app_client, family, photo))
    assert shown.format == "JPEG" and near(shown.getpixel((15, 10)), RED)


@pytest.mark.parametrize("declared", ["text/plain", "application/zip", "text/html"])
async def test_a_declared_type_that_is_not_an_image_is_refused_with_415(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    contact_id: int,
    declared: str,
) -> None:
    status, body = await upload(app_client, family, contact_id, picture(), content_type=declared)
    assert_refused(status, body, wanted=415, code="unsupported_type", says=declared)
    await assert_nothing_kept(services, family)


# --- colours: converted, not refused -----------------------------------------------------------


async def test_a_cmyk_jpeg_is_stored_as_rgb_with_its_colours(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    cmyk = encoded(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(io.BytesIO(cmyk)).mode == "CMYK"
    photo = await uploaded(app_client, family, contact_id, cmyk)
    shown = image_of(await stored_view(app_client, family, photo))
    assert shown.mode == "RGB"
    assert near(shown.getpixel((32, 32)), RED)


async def test_a_16_bit_rgb_png_is_stored_as_8_bit_rgb_with_its_colours(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    png = png_48_bit((40, 30), (0xFFFF, 0x8080, 0x0000))
    photo = await uploaded(app_client, family, contact_id, png)
    shown = image_of(await stored_view(app_client, family, photo))
    assert shown.size == (40, 30) and shown.mode == "RGB"
    assert near(shown.getpixel((20, 15)), (255, 128, 0))


async def test_a_16_bit_grey_png_is_scaled_to_8_bits_not_clipped(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    sixteen = encoded(Image.new("I;16", (64, 64), 40_000), "PNG")
    photo = await uploaded(app_client, family, contact_id, sixteen)
    shown = image_of(await stored_view(app_client, family, photo))
    assert shown.mode == "L"  # grey stays grey (a JPEG's one channel)
    assert near(shown.getpixel((32, 32)), (40_000 // 257,), tolerance=3)


async def test_a_png_with_alpha_is_stored_as_rgb_composited_on_white(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # transparent black
    image.paste(Image.new("RGBA", (32, 64), (*RED, 255)), (0, 0))
    photo = await uploaded(app_client, family, contact_id, encoded(image, "PNG"))
    for thumbnail in (False, True):
        shown = image_of(await stored_view(app_client, family, photo, thumbnail=thumbnail))
        assert shown.mode == "RGB"
        assert near(shown.getpixel((8, 32)), RED)
        assert near(shown.getpixel((56, 32)), WHITE)  # transparent became white, not black


# --- orientation and metadata ------------------------------------------------------------------


async def test_an_exif_rotated_photo_is_stored_upright(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    photo = await uploaded(app_client, family, contact_id, rotated_jpeg())
    assert (photo["width"], photo["height"]) == (100, 200)
    shown = image_of(await stored_view(app_client, family, photo))
    assert shown.size == (100, 200)
    assert not shown.getexif()  # no orientation left to apply twice
    assert near(shown.getpixel((90, 10)), RED)
    assert near(shown.getpixel((10, 10)), BLUE)
    assert near(shown.getpixel((50, 190)), BLUE)


async def test_gps_in_exif_is_gone_when_read_back_with_icc_comment_and_xmp(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    tagged = tagged_jpeg()
    assert Image.open(io.BytesIO(tagged)).getexif().get_ifd(EXIF_GPS_IFD)
    photo = await uploaded(app_client, family, contact_id, tagged)
    for thumbnail in (False, True):
        stored = await stored_view(app_client, family, photo, thumbnail=thumbnail)
        shown = image_of(stored)
        assert not shown.getexif()
        assert not {"exif", "icc_profile", "comment", "xmp"} & shown.info.keys()
        for secret in SECRETS:
            assert secret not in stored


# --- who may upload, where ---------------------------------------------------------------------


async def upload_file_first(
    client: TestClient[Any, Any], who: Actor, contact_id: int, data: bytes
) -> tuple[int, dict[str, Any]]:
    """An upload whose file comes before its contact_id (the form's order is the client's)."""
    form = FormData()
    form.add_field("file", data, filename="photo.png", content_type="image/png")
    form.add_field("contact_id", str(contact_id))
    resp = await client.post("/api/v1/photos", data=form, headers=who.headers)
    return resp.status, await resp.json()


async def test_an_upload_to_a_contact_not_yours_is_404_and_never_decoded(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    world: World,
    contact_id: int,
) -> None:
    theirs = await funded_contact(app_client, services, other_family, resident, world)
    # The bomb is refused 422 on one's own contact: a 404 here shows it was never decoded.
    status, body = await upload(app_client, family, contact_id, bomb(), content_type="image/png")
    assert (status, body["error"]["code"]) == (422, "too_many_pixels")
    for send in (upload, upload_file_first):
        status, body = await send(app_client, family, theirs, bomb())
        assert_refused(status, body, wanted=404, code="not_found", says="No such contact")
    status, body = await upload(app_client, family, 999_999, bomb(), content_type="image/png")
    assert_refused(status, body, wanted=404, code="not_found", says="No such contact")
    await assert_nothing_kept(services, family)
    assert await balance(services, family_wallet(other_family.id)) == WALLET


async def test_an_upload_to_a_pending_contact_is_refused_until_approved(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    world: World,
) -> None:
    resp = await app_client.post(
        "/api/v1/contacts", json={"resident_id": world.residents["A1001"]}, headers=family.headers
    )
    assert resp.status == 201, await resp.text()
    pending = int((await resp.json())["id"])
    await fund(services, family_wallet(family.id), WALLET)
    status, body = await upload(app_client, family, pending, picture())
    assert_refused(
        status, body, wanted=409, code="contact_not_approved", says="once the resident approves"
    )
    await assert_nothing_kept(services, family)


async def test_an_upload_without_signing_in_is_401(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    nobody = Actor(token="not-a-session", principal={})
    for headers in ({}, nobody.headers):
        form = FormData()
        form.add_field("contact_id", str(contact_id))
        form.add_field("file", picture(), filename="photo.jpg", content_type="image/jpeg")
        resp = await app_client.post("/api/v1/photos", data=form, headers=headers)
        body = await resp.json()
        assert resp.status == 401, body
        assert_error(body, "unauthenticated")
    await assert_nothing_kept(services, family)


@pytest.mark.parametrize("username", ["reviewer", "admin", "support"])
async def test_staff_cannot_upload_photos(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    contact_id: int,
    username: str,
) -> None:
    staff = await staff_sign_in(app_client, username)
    status, body = await upload(app_client, staff, contact_id, picture())
    # The route is for family accounts: refused before the body is read.
    assert_refused(
        status, body, wanted=403, code="wrong_account_kind", says="different kind of account"
    )
    await assert_nothing_kept(services, family)


async def test_a_resident_cannot_upload_photos(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    contact_id: int,
) -> None:
    status, body = await upload(app_client, resident, contact_id, picture())
    # The route is for family accounts: refused before the body is read.
    assert_refused(
        status, body, wanted=403, code="wrong_account_kind", says="different kind of account"
    )
    await assert_nothing_kept(services, family)


# --- the request itself ------------------------------------------------------------------------


async def test_a_body_that_is_not_multipart_is_refused_with_415(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    resp = await app_client.post(
        "/api/v1/photos", json={"contact_id": contact_id}, headers=family.headers
    )
    body = await resp.json()
    assert_refused(
        resp.status, body, wanted=415, code="unsupported_media_type", says="multipart/form-data"
    )
    resp = await app_client.post(
        "/api/v1/photos",
        data=picture(),
        headers={**family.headers, "Content-Type": "image/jpeg"},
    )
    assert resp.status == 415
    await assert_nothing_kept(services, family)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"this is not a multipart body at all", id="no-boundary-line"),
        pytest.param(
            b'--XyZ\r\nContent-Disposition: form-data; name="contact_id"\r\n\r\n1', id="cut-short"
        ),
        pytest.param(b"--OtherBoundary\r\n\r\nx\r\n--OtherBoundary--\r\n", id="wrong-boundary"),
    ],
)
async def test_a_malformed_multipart_body_is_refused_with_400(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    contact_id: int,
    raw: bytes,
) -> None:
    resp = await app_client.post(
        "/api/v1/photos",
        data=raw,
        headers={**family.headers, "Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    body = await resp.json()
    assert_refused(resp.status, body, wanted=400, code="malformed_upload", says="could not be read")
    await assert_nothing_kept(services, family)


async def test_a_multipart_body_without_a_boundary_is_refused_with_400(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    resp = await app_client.post(
        "/api/v1/photos",
        data=b"x",
        headers={**family.headers, "Content-Type": "multipart/form-data"},
    )
    body = await resp.json()
    assert resp.status == 400, body
    assert_error(body, "malformed_upload")
    await assert_nothing_kept(services, family)


async def test_an_upload_without_a_file_field_names_the_missing_field(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    form = FormData()
    form.add_field("contact_id", str(contact_id))
    form.add_field("photo", picture(), filename="photo.jpg", content_type="image/jpeg")
    resp = await app_client.post("/api/v1/photos", data=form, headers=family.headers)
    body = await resp.json()
    assert resp.status == 422, body
    assert_error(body, "invalid_fields")
    assert body["error"]["fields"] == {"file": "Required."}
    await assert_nothing_kept(services, family)


async def test_an_upload_without_a_contact_id_names_the_missing_field(
    app_client: TestClient[Any, Any], services: Services, family: Actor, contact_id: int
) -> None:
    form = FormData()
    form.add_field("file", picture(), filename="photo.jpg", content_type="image/jpeg")
    resp = await app_client.post("/api/v1/photos", data=form, headers=family.headers)
    body = await resp.json()
    assert resp.status == 422, body
    assert_error(body, "invalid_fields")
    assert body["error"]["fields"] == {"contact_id": "Required."}
    await assert_nothing_kept(services, family)


@pytest.mark.parametrize("value", ["abc", "-1", "0", "1.5", "9" * 40, ""])
async def test_a_contact_id_that_is_not_a_whole_number_is_refused(
    app_client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    contact_id: int,
    value: str,
) -> None:
    status, body = await upload(app_client, family, value, picture())
    assert status == 422, body
    assert_error(body, "invalid_fields")
    assert "whole number" in body["error"]["fields"]["contact_id"]
    await assert_nothing_kept(services, family)
