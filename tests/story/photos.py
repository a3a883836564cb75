"""Photos through the API: pictures made here, uploads, sends with photos, and what is stored
(photo rows, blob files)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image, ImageCms
from sqlalchemy import func, select

from media.storage.models import Photo
from server.services.context import Services
from tests.story.stage import Actor

BLUE = (0, 0, 255)
RED = (255, 0, 0)
WHITE = (255, 255, 255)
EXIF_ORIENTATION = 0x0112
EXIF_GPS_IFD = 0x8825
# What no stored photo may still carry (its bytes are searched for these).
SECRETS = (b"Exif", b"ICC_PROFILE", b"Secret", b"http://ns.adobe.com/xap")


def encoded(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def near(found: object, wanted: tuple[int, ...], tolerance: int = 24) -> bool:
    """A pixel within `tolerance` of `wanted` in every channel (JPEG is lossy)."""
    values = found if isinstance(found, tuple) else (found,)
    return len(values) == len(wanted) and all(
        abs(int(a) - b) <= tolerance for a, b in zip(values, wanted, strict=True)
    )


def rotated_jpeg() -> bytes:
    """Stored 200 x 100 with a red mark top left; EXIF orientation 6 says "turn 90 degrees
    clockwise to view": upright it is 100 x 200 and the mark is top right."""
    image = Image.new("RGB", (200, 100), BLUE)
    image.paste(Image.new("RGB", (30, 30), RED), (0, 0))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    return encoded(image, "JPEG", quality=95, exif=exif)


def tagged_jpeg() -> bytes:
    """A JPEG carrying everything that must not survive: EXIF with GPS, an ICC profile, a
    comment and XMP."""
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[EXIF_GPS_IFD] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)}
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>SecretXMP</rdf:RDF></x:xmpmeta>'
    return encoded(
        Image.new("RGB", (64, 48), BLUE),
        "JPEG",
        exif=exif,
        icc_profile=srgb,
        comment=b"SecretComment",
        xmp=xmp,
    )


def picture(
    size: tuple[int, int] = (64, 48),
    colour: tuple[int, int, int] = BLUE,
    fmt: str = "JPEG",
    mode: str = "RGB",
    **params: Any,
) -> bytes:
    """A real image file, made with Pillow."""
    out = io.BytesIO()
    Image.new(mode, size, colour if mode == "RGB" else 0).save(out, fmt, **params)
    return out.getvalue()


def photo_form(
    contact_id: int | str,
    data: bytes,
    *,
    content_type: str = "image/jpeg",
    filename: str = "photo.jpg",
) -> FormData:
    form = FormData()
    form.add_field("contact_id", str(contact_id))
    form.add_field("file", data, filename=filename, content_type=content_type)
    return form


async def upload(
    client: TestClient[Any, Any],
    who: Actor,
    contact_id: int | str,
    data: bytes,
    *,
    content_type: str = "image/jpeg",
    filename: str = "photo.jpg",
    key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    form = photo_form(contact_id, data, content_type=content_type, filename=filename)
    headers = dict(who.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    resp = await client.post("/api/v1/photos", data=form, headers=headers)
    return resp.status, await resp.json()


async def uploaded(
    client: TestClient[Any, Any], who: Actor, contact_id: int, data: bytes | None = None
) -> dict[str, Any]:
    status, photo = await upload(client, who, contact_id, data or picture())
    assert status == 201, photo
    return photo


async def send_photos(
    client: TestClient[Any, Any],
    who: Actor,
    contact_id: int,
    photo_ids: list[int],
    client_id: str,
    body: str = "",
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        "/api/v1/messages",
        json={
            "contact_id": contact_id,
            "body": body,
            "photo_ids": photo_ids,
            "client_id": client_id,
        },
        headers=who.headers,
    )
    return resp.status, await resp.json()


async def stored_photos(services: Services) -> int:
    async with services.db.read() as tx:
        return int(await tx.scalar(select(func.count(Photo.id))) or 0)


def blob_files(services: Services) -> list[Path]:
    """Every stored blob file (the embedded store under var/blobs), temporary files too."""
    root = Path(services.config.blob_dir)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data), formats=["JPEG"])
    image.load()
    return image
