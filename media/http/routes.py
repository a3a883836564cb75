"""Photos over HTTP: upload (multipart, streamed and capped), the two views (display and
thumbnail, with ETag/304, Range and HEAD), the gallery, and remove/hide.

A view answers only to whoever may see the photo (media/services/photos.py); the bytes come
from the blob store. Views are never counted or charged.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import Field

from media.services import photos
from media.services.photo_pipeline import read_upload
from media.services.photos import Media, Rendition
from media.storage.blobs import BlobNotFound, BlobStoreUnavailable
from server.appkeys import SERVICES
from server.errors import DomainError, FieldErrors, NotFound, UnsupportedMedia
from server.http.api import Endpoint
from server.http.auth import read_token, route_actor
from server.http.parsing import IDEMPOTENCY_HEADER, Id, Query, idempotency_key, parse_query, path_id

MEDIA: web.AppKey[Media] = web.AppKey("media")
CONTACT_ID_BYTES = 32  # more than any id's digits
FIELD_CHUNK_BYTES = 8192  # the multipart reader's own default chunk
UPLOAD_FORM = {
    "type": "object",
    "required": ["contact_id", "file"],
    "properties": {
        "contact_id": {"type": "integer", "minimum": 1},
        "file": {
            "type": "string",
            "format": "binary",
            "description": "A JPEG, PNG or WebP photo of at most 15 MiB and 40 megapixels",
        },
    },
}
# Photos never change under an id (their blobs are named by their content), but who may see
# one can (hide, delete-for-me): a private cache keeps it and asks again each time (304).
CACHE_CONTROL = "private, no-cache"


class GalleryQuery(Query):
    contact_id: Id | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 200


class MalformedUpload(DomainError):
    status = 400
    code = "malformed_upload"


async def upload_photo(request: web.Request) -> web.Response:
    actor = await route_actor(request)
    key = idempotency_key(request, None) if IDEMPOTENCY_HEADER in request.headers else None
    if request.content_type != "multipart/form-data":
        raise UnsupportedMedia(
            "Send the photo as multipart/form-data with the fields contact_id and file."
        )
    svc, media = request.app[SERVICES], request.app[MEDIA]
    contact_id: int | None = None
    data: bytes | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise MalformedUpload("Nested multipart bodies are not accepted.")
            if part.name == "contact_id" and contact_id is None:
                contact_id = _contact_id(await _small_field(part))
                # Before the photo is read: a contact that is not theirs costs nothing.
                await photos.access_upload_target(svc, actor, contact_id=contact_id)
            elif part.name == "file" and data is None:
                data = await read_upload(part, cap=media.max_bytes)
            else:
                await part.release()
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        # aiohttp's reader refuses bad boundaries, headers and encodings in these ways.
        reason = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
        raise MalformedUpload(f"The multipart body could not be read: {reason}") from None
    missing = {
        name: "Required."
        for name, value in (("contact_id", contact_id), ("file", data))
        if value is None
    }
    if missing or contact_id is None or data is None:
        raise FieldErrors(missing)
    view, created = await photos.do_upload(
        svc, media, actor, contact_id=contact_id, data=data, client_id=key
    )
    return web.json_response(view.json(), status=201 if created else 200)


async def _small_field(part: BodyPartReader) -> bytes:
    """A short text field, read in whole chunks (the reader's smallest), but never more than
    a chunk: a field that long is no id."""
    raw = await part.read_chunk(FIELD_CHUNK_BYTES)
    if not part.at_eof() and await part.read_chunk(FIELD_CHUNK_BYTES):
        raise FieldErrors({"contact_id": "Must be a contact's id (a whole number)."})
    return raw[:CONTACT_ID_BYTES]


def _contact_id(raw: bytes) -> int:
    text = raw.decode("ascii", errors="replace").strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 2**63 - 1:
        raise FieldErrors({"contact_id": "Must be a contact's id (a whole number)."})
    return int(text)


async def view_photo(request: web.Request) -> web.Response:
    return await _serve(request, Rendition.DISPLAY)


async def view_thumbnail(request: web.Request) -> web.Response:
    return await _serve(request, Rendition.THUMBNAIL)


async def _serve(request: web.Request, rendition: Rendition) -> web.Response:
    photo_id = path_id(request)
    # Open to every kind of account (auth="any"): the session and the photo are decided
    # together, in one query (the busiest path there is).
    served = await photos.access_view(
        request.app[SERVICES], token=read_token(request), photo_id=photo_id, rendition=rendition
    )
    headers = {
        "ETag": served.etag,
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="{served.filename}"',
        "Accept-Ranges": "bytes",
    }
    if _matches(request.headers.get("If-None-Match"), served.etag):
        return web.Response(status=304, headers=headers)
    try:
        data = await request.app[MEDIA].blobs.get(served.key)
    except BlobNotFound:
        raise NotFound(photos.NOT_FOUND) from None
    except BlobStoreUnavailable:
        raise photos.PhotoStoreUnavailable(
            "Photos cannot be shown right now; try again in a few minutes."
        ) from None
    part = _range(request, served.etag, len(data))
    if part is None:
        return web.Response(body=data, content_type="image/jpeg", headers=headers)
    start, end = part
    if start >= len(data):
        headers["Content-Range"] = f"bytes */{len(data)}"
        return web.Response(status=416, headers=headers)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
    return web.Response(
        status=206, body=data[start:end], content_type="image/jpeg", headers=headers
    )


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _range(request: web.Request, etag: str, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, as [start, end), or None for the whole photo (no Range,
    one we do not serve, or an If-Range that no longer holds)."""
    if "Range" not in request.headers:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None
    try:
        wanted = request.http_range
    except ValueError:
        return None  # not a single byte range: the whole photo (RFC 9110 lets us)
    start, stop = wanted.start, wanted.stop
    if start is None:
        return None
    if start < 0:  # the last -start bytes
        return max(0, size + start), size
    return start, min(stop if stop is not None else size, size)


async def gallery(request: web.Request) -> web.Response:
    query = parse_query(request, GalleryQuery)
    actor = await route_actor(request)
    found = await photos.access_gallery(
        request.app[SERVICES], actor, contact_id=query.contact_id, limit=query.limit
    )
    return web.json_response({"photos": [p.json() for p in found]})


async def remove_photo(request: web.Request) -> web.Response:
    photo_id = path_id(request)
    actor = await route_actor(request)
    await photos.do_remove(request.app[SERVICES], request.app[MEDIA], actor, photo_id=photo_id)
    return web.Response(status=204)


def endpoints() -> list[Endpoint]:
    t = "photos"
    return [
        Endpoint(
            "POST",
            "/api/v1/photos",
            upload_photo,
            "Upload a photo for an approved contact (multipart: contact_id, then file); it is "
            "kept 24 hours unless sent with POST /api/v1/messages (photo_ids). An optional "
            "Idempotency-Key answers a retry with the first upload (200)",
            t,
            form=UPLOAD_FORM,
            auth="family",
            ok=201,
            also_ok=(200,),
            errors=(403, 404, 409, 429, 503),
        ),
        Endpoint(
            "GET",
            "/api/v1/photos",
            gallery,
            "Sent photos, newest first: a resident's received ones, a family member's sent ones",
            t,
            query=GalleryQuery,
            auth="family|resident",
            errors=(403, 404),
        ),
        Endpoint(
            "GET",
            "/api/v1/photos/{id}",
            view_photo,
            "A photo (JPEG, long side at most 2,048 px): its sender, its resident once "
            "delivered, staff of its facility (audited); ETag, Range and HEAD",
            t,
            auth="any",
            also_ok=(206, 304),
            errors=(416, 503),
            produces="image/jpeg",
            head=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/photos/{id}/thumbnail",
            view_thumbnail,
            "A photo's thumbnail (JPEG, long side at most 320 px); who may see it as above",
            t,
            auth="any",
            also_ok=(206, 304),
            errors=(416, 503),
            produces="image/jpeg",
            head=True,
        ),
        Endpoint(
            "DELETE",
            "/api/v1/photos/{id}",
            remove_photo,
            "Remove an unsent photo, or hide a sent one for yourself only",
            t,
            auth="family|resident",
            ok=204,
            errors=(403,),
        ),
    ]
