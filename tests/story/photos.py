"""Photos through the API: pictures made here, uploads, sends with photos, and what is stored
(photo rows, blob files)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy import func, select

from media.storage.models import Photo
from server.services.context import Services
from tests.story.stage import Actor

BLUE = (0, 0, 255)
RED = (255, 0, 0)


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
