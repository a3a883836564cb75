"""Photos: upload (an unsent photo, rebuilt from its pixels), attach to a message (the core's
send calls `attach_in` through its `PhotoAttacher` port), view (who may see which), hide for
oneself, the gallery, and the expiry of photos never sent.

Who may see a photo (anyone else gets 404, as if it did not exist):
- its uploader, at any time, until they hide it (or delete its message for themselves);
- the resident it was sent to, once its message is delivered, until they hide it;
- staff of its facility who review or read conversations, once sent, never on a privileged
  contact's message; each of their views is audited.

Blobs: two uploads of the same picture share its blobs. A photo row is committed before its
blobs are put; a blob is deleted only after the rows naming it are gone, by a transaction that
holds the blob's lock (`_lock_blobs`, which an upload's insert takes too) while it finds that no
row names it and deletes it. So a blob is never deleted under a photo that names it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from media.domain.photo_rules import MAX_PHOTO_BYTES, UNSENT_PHOTO_LIFETIME
from media.services.photo_pipeline import PhotoPipeline
from media.storage.blobs import BlobStore, BlobStoreUnavailable
from media.storage.models import Photo
from server.domain.contacts import ContactStatus
from server.domain.messages import MessageStatus
from server.domain.party import Party, PartyKind
from server.domain.permissions import Action
from server.errors import Conflict, DomainError, Forbidden, NotFound
from server.services.audit import record_staff_action
from server.services.blocks_in_force import block_in_force
from server.services.context import Principal, PrincipalKind, Services
from server.services.ratelimit import PHOTO_UPLOADS_PER_FAMILY, enforce
from server.services.sessions import session_lookup, session_of_row
from server.services.tokens import digest
from server.storage.case_models import sent_while_privileged
from server.storage.db import serialise_writers
from server.storage.message_models import Message
from server.storage.models import Contact

log = logging.getLogger("homeline.photos")

NOT_FOUND = "No such photo."
NO_CONTACT = "No such contact."
PHOTOS_ONE_WAY = "Photos are sent by family members to residents only."
EXPIRY_BATCH = 200
SEEN_BY_RECIPIENT = (MessageStatus.DELIVERED.value, MessageStatus.READ.value)


class Rendition(StrEnum):
    DISPLAY = "display"
    THUMBNAIL = "thumbnail"


class PhotoStoreUnavailable(DomainError):
    status = 503
    code = "storage_unavailable"


@dataclass
class Media:
    """What the photo services need beyond `Services`: the blob store and the pipeline.
    The pipeline's workers start with the first upload, not with the server."""

    blobs: BlobStore
    pipeline: PhotoPipeline
    max_bytes: int = MAX_PHOTO_BYTES
    _starting: asyncio.Lock = field(default_factory=asyncio.Lock)
    _started: bool = False

    async def ready_pipeline(self) -> PhotoPipeline:
        if not self._started:
            async with self._starting:
                if not self._started:
                    await self.pipeline.start()
                    self._started = True
        return self.pipeline

    async def close(self) -> None:
        await self.pipeline.close()
        await self.blobs.close()


@dataclass(frozen=True)
class PhotoView:
    """A photo as its uploader and recipient see it."""

    id: int
    contact_id: int
    message_id: int | None
    width: int
    height: int
    thumbnail_width: int
    thumbnail_height: int
    bytes: int
    created_at: datetime
    expires_at: datetime | None
    sent_at: datetime | None

    def json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "contact_id": self.contact_id,
            "message_id": self.message_id,
            "status": "unsent" if self.message_id is None else "sent",
            "width": self.width,
            "height": self.height,
            "thumbnail_width": self.thumbnail_width,
            "thumbnail_height": self.thumbnail_height,
            "bytes": self.bytes,
            "url": f"/api/v1/photos/{self.id}",
            "thumbnail_url": f"/api/v1/photos/{self.id}/thumbnail",
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }


def view_of(p: Photo) -> PhotoView:
    return PhotoView(
        id=p.id,
        contact_id=p.contact_id,
        message_id=p.message_id,
        width=p.width,
        height=p.height,
        thumbnail_width=p.thumbnail_width,
        thumbnail_height=p.thumbnail_height,
        bytes=p.display_bytes,
        created_at=p.created_at,
        expires_at=p.expires_at,
        sent_at=p.sent_at,
    )


def summary_of(p: Photo) -> dict[str, int]:
    """What a message shows of a photo it carries (stored on the message by the core)."""
    return {
        "id": p.id,
        "width": p.width,
        "height": p.height,
        "thumbnail_width": p.thumbnail_width,
        "thumbnail_height": p.thumbnail_height,
    }


# --- upload --------------------------------------------------------------------------------


def _uploader(actor: Principal) -> int:
    if not actor.may(Action.PHOTO_SEND):
        raise Forbidden(PHOTOS_ONE_WAY, code="photos_family_only")
    return actor.id


async def access_upload_target(svc: Services, actor: Principal, *, contact_id: int) -> None:
    """Whether the actor may upload a photo for this contact now (before its bytes are read
    and decoded): 404 for a contact that is not theirs, 403 blocked, 409 not approved."""
    family_id = _uploader(actor)
    now = svc.clock.now()
    async with svc.db.read() as tx:
        contact = await tx.get(Contact, contact_id)
        if contact is None or contact.family_account_id != family_id:
            raise NotFound(NO_CONTACT)
        if await block_in_force(tx, contact=contact, now=now) is not None:
            raise Forbidden(
                "Facility staff have blocked this contact; photos cannot be sent.", code="blocked"
            )
        if contact.status != ContactStatus.APPROVED.value:
            raise Conflict(
                "Photos can be sent once the resident approves this contact.",
                code="contact_not_approved",
            )


async def do_upload(
    svc: Services,
    media: Media,
    actor: Principal,
    *,
    contact_id: int,
    data: bytes,
    client_id: str | None,
) -> tuple[PhotoView, bool]:
    """Store an unsent photo for the actor's contact: rebuilt from its pixels in a worker,
    kept `UNSENT_PHOTO_LIFETIME` unless sent. The flag says whether it is new (False: a retry
    with the same Idempotency-Key, answered with the first upload)."""
    family_id = _uploader(actor)
    if client_id is not None:
        first = await _uploaded_with(svc, family_id, client_id)
        if first is not None:
            return _replayed(first, contact_id), False
    await access_upload_target(svc, actor, contact_id=contact_id)
    await enforce(svc.limiter, (PHOTO_UPLOADS_PER_FAMILY, f"family:{family_id}"))
    photo = await (await media.ready_pipeline()).normalise(data)
    now = svc.clock.now()
    try:
        async with svc.db.transaction() as tx:
            contact = await tx.get(Contact, contact_id)
            assert contact is not None
            await _lock_blobs(tx, [_key(photo.display.sha256), _key(photo.thumbnail.sha256)])
            row = Photo(
                facility_id=contact.facility_id,
                contact_id=contact_id,
                uploader_family_id=family_id,
                client_id=client_id,
                uploaded_bytes=len(data),
                source_format=photo.source_format.value,
                display_key=_key(photo.display.sha256),
                display_bytes=len(photo.display.data),
                width=photo.display.width,
                height=photo.display.height,
                thumbnail_key=_key(photo.thumbnail.sha256),
                thumbnail_bytes=len(photo.thumbnail.data),
                thumbnail_width=photo.thumbnail.width,
                thumbnail_height=photo.thumbnail.height,
                created_at=now,
                expires_at=now + UNSENT_PHOTO_LIFETIME,
                hidden_by_sender=False,
                hidden_by_recipient=False,
            )
            tx.add(row)
            await tx.flush()
            view = view_of(row)
    except IntegrityError:
        # A concurrent retry with the same key stored it first.
        assert client_id is not None
        first = await _uploaded_with(svc, family_id, client_id)
        if first is None:
            raise
        return _replayed(first, contact_id), False
    # After the row is committed (see the module's note on blobs).
    try:
        await media.blobs.put(row.display_key, photo.display.data)
        await media.blobs.put(row.thumbnail_key, photo.thumbnail.data)
    except BlobStoreUnavailable:
        await _forget([view.id], svc, media)
        raise PhotoStoreUnavailable(
            "Photos cannot be stored right now; try again in a few minutes."
        ) from None
    return view, True


async def _uploaded_with(svc: Services, family_id: int, client_id: str) -> Photo | None:
    async with svc.db.read() as tx:
        return await tx.scalar(
            select(Photo).where(Photo.uploader_family_id == family_id, Photo.client_id == client_id)
        )


def _replayed(first: Photo, contact_id: int) -> PhotoView:
    if first.contact_id != contact_id:
        raise Conflict(
            "This Idempotency-Key was already used for another upload; use a new one.",
            code="idempotency_key_reused",
        )
    return view_of(first)


def _key(sha256: str) -> str:
    return f"photos/{sha256}.jpg"


def etag_of(key: str) -> str:
    """A rendition's strong ETag: the SHA-256 its blob is named by."""
    return '"' + key.rsplit("/", 1)[-1].removesuffix(".jpg") + '"'


# --- send (through the core's port) --------------------------------------------------------


async def attach_in(
    tx: AsyncSession,
    *,
    sender: Party,
    contact_id: int,
    photo_ids: Sequence[int],
    message_id: int,
    now: datetime,
) -> list[dict[str, int]]:
    """The core's `PhotoAttacher`: see server/services/context.py."""
    if sender.kind is not PartyKind.FAMILY:
        raise Forbidden(PHOTOS_ONE_WAY, code="photos_family_only")
    rows = {
        p.id: p
        for p in await tx.scalars(select(Photo).where(Photo.id.in_(photo_ids)).with_for_update())
    }
    for photo_id in photo_ids:
        p = rows.get(photo_id)
        if p is None or p.uploader_family_id != sender.id:
            raise NotFound(
                f"No such photo ({photo_id}): photos not sent within 24 hours are deleted; "
                "attach it again.",
                code="photo_not_found",
            )
        if p.message_id is not None:
            raise Conflict("This photo has been sent already.", code="photo_already_sent")
        if p.contact_id != contact_id:
            raise Conflict(
                "This photo was uploaded for another contact; attach it again here.",
                code="photo_for_another_contact",
            )
        if p.expires_at is not None and p.expires_at <= now:
            raise Conflict(
                "This photo was uploaded more than 24 hours ago and has expired; attach it again.",
                code="photo_expired",
            )
    # The claim itself: only photos still unsent (a concurrent send of one of them wins alone).
    claimed = 0
    for position, photo_id in enumerate(photo_ids):
        result = await tx.execute(
            update(Photo)
            .where(Photo.id == photo_id, Photo.message_id.is_(None))
            .values(message_id=message_id, position=position, sent_at=now, expires_at=None)
            .execution_options(synchronize_session=False)
        )
        claimed += result.rowcount  # type: ignore[attr-defined]
    if claimed != len(photo_ids):
        raise Conflict("This photo has been sent already.", code="photo_already_sent")
    return [summary_of(rows[i]) for i in photo_ids]


# --- views ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """What a view answers: the blob to send and its validators."""

    key: str
    etag: str
    filename: str


class _PhotoFacts(Protocol):
    """What a view decides on and answers with, of a photo (a `Photo`, or a row of
    `_SESSION_AND_VIEW`)."""

    @property
    def id(self) -> int: ...
    @property
    def uploader_family_id(self) -> int: ...
    @property
    def hidden_by_sender(self) -> bool: ...
    @property
    def hidden_by_recipient(self) -> bool: ...
    @property
    def display_key(self) -> str: ...
    @property
    def thumbnail_key(self) -> str: ...


class _MessageFacts(Protocol):
    """What a view decides on, of the photo's message (a `Message`, or a row of
    `_SESSION_AND_VIEW`)."""

    @property
    def recipient_kind(self) -> str: ...
    @property
    def recipient_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def deleted_by_sender(self) -> bool: ...
    @property
    def deleted_by_recipient(self) -> bool: ...


# A view's columns: what it decides on, not ORM objects (a loaded `Message` would also load
# its appeal, a second query); views are the busiest path there is.
_VIEW_COLUMNS = (
    Photo.id,
    Photo.message_id,
    Photo.uploader_family_id,
    Photo.hidden_by_sender,
    Photo.hidden_by_recipient,
    Photo.display_key,
    Photo.thumbnail_key,
    Message.recipient_kind,
    Message.recipient_id,
    Message.status,
    Message.deleted_by_sender,
    Message.deleted_by_recipient,
)


# The statement is built once: a view only binds its token and photo id.
_SESSION_AND_VIEW = (
    session_lookup(bindparam("token_hash"))
    .add_columns(*_VIEW_COLUMNS)
    .outerjoin(Photo, Photo.id == bindparam("photo_id"))
    .outerjoin(Message, Message.id == Photo.message_id)
)


async def access_view(svc: Services, *, token: str, photo_id: int, rendition: Rendition) -> Served:
    """The whole decision of a view in one round trip to the database: the caller's session
    (judged as every request's is, `session_of_row`) and the photo with its message, in one
    query. A staff member's view then takes the audited path."""
    token_hash = digest(token)
    row = await svc.db.fetch_one(
        _SESSION_AND_VIEW, {"token_hash": token_hash, "photo_id": photo_id}
    )
    actor = (await session_of_row(svc, row, token_hash=token_hash)).principal
    if actor.kind is PrincipalKind.STAFF:
        return await _staff_view(svc, actor, photo_id=photo_id, rendition=rendition)
    assert row is not None  # session_of_row answered
    if row.id is None or not _visible(
        row, row if row.message_id is not None else None, actor.party
    ):
        raise NotFound(NOT_FOUND)
    return _served(row, rendition)


def _visible(p: _PhotoFacts, m: _MessageFacts | None, party: Party) -> bool:
    if party.kind is PartyKind.FAMILY:
        return (
            p.uploader_family_id == party.id
            and not p.hidden_by_sender
            and (m is None or not m.deleted_by_sender)
        )
    return (
        m is not None
        and m.recipient_kind == party.kind
        and m.recipient_id == party.id
        and m.status in SEEN_BY_RECIPIENT
        and not m.deleted_by_recipient
        and not p.hidden_by_recipient
    )


async def _staff_view(
    svc: Services, actor: Principal, *, photo_id: int, rendition: Rendition
) -> Served:
    async with svc.db.transaction() as tx:
        row = (
            await tx.execute(
                select(Photo, Message)
                .join(Message, Message.id == Photo.message_id)
                .join(Contact, Contact.id == Photo.contact_id)
                .where(
                    Photo.id == photo_id,
                    Contact.privileged.is_(False),
                    ~sent_while_privileged(),
                )
            )
        ).one_or_none()
        if (
            row is None
            or not actor.may_staff(row[0].facility_id)
            or not (actor.may(Action.REVIEW) or actor.may(Action.CONVERSATION_READ))
        ):
            raise NotFound(NOT_FOUND)
        p, m = row
        await record_staff_action(
            tx,
            staff=actor,
            at=svc.clock.now(),
            action="photo.view",
            facility_id=p.facility_id,
            target_type="photo",
            target_id=p.id,
            details={"message_id": m.id, "contact_id": p.contact_id, "rendition": rendition},
        )
    return _served(p, rendition)


def _served(p: _PhotoFacts, rendition: Rendition) -> Served:
    if rendition is Rendition.THUMBNAIL:
        return Served(p.thumbnail_key, etag_of(p.thumbnail_key), f"photo-{p.id}-thumbnail.jpg")
    return Served(p.display_key, etag_of(p.display_key), f"photo-{p.id}.jpg")


async def access_gallery(
    svc: Services, actor: Principal, *, contact_id: int | None, limit: int = 200
) -> list[PhotoView]:
    """Sent photos the actor may see, newest first: a resident's received photos (the
    tablet's gallery), a family member's sent ones; on one contact or all of theirs."""
    party = actor.party
    if actor.kind is PrincipalKind.STAFF:
        raise Forbidden("The gallery is for residents and their families.")
    stmt = select(Photo, Message).join(Message, Message.id == Photo.message_id)
    if contact_id is not None:
        stmt = stmt.where(Photo.contact_id == contact_id)
    if party.kind is PartyKind.FAMILY:
        stmt = stmt.where(
            Photo.uploader_family_id == party.id,
            Photo.hidden_by_sender.is_(False),
            Message.deleted_by_sender.is_(False),
        )
    else:
        stmt = stmt.where(
            Message.recipient_kind == party.kind,
            Message.recipient_id == party.id,
            Message.status.in_(SEEN_BY_RECIPIENT),
            Message.deleted_by_recipient.is_(False),
            Photo.hidden_by_recipient.is_(False),
        )
    stmt = stmt.order_by(Message.delivered_at.desc(), Photo.id.desc()).limit(limit)
    async with svc.db.read() as tx:
        if contact_id is not None:
            contact = await tx.get(Contact, contact_id)
            if contact is None or not _party_of(contact, party):
                raise NotFound(NO_CONTACT)
        return [view_of(p) for p, _ in (await tx.execute(stmt)).all()]


def _party_of(contact: Contact, party: Party) -> bool:
    if party.kind is PartyKind.FAMILY:
        return contact.family_account_id == party.id
    return contact.resident_id == party.id


# --- remove, hide, expire ------------------------------------------------------------------


async def do_remove(svc: Services, media: Media, actor: Principal, *, photo_id: int) -> None:
    """An unsent photo is deleted (removed before sending); a sent one is hidden for the
    actor only (the other party still sees it)."""
    if actor.kind is PrincipalKind.STAFF:
        raise NotFound(NOT_FOUND)
    party = actor.party
    unsent = False
    async with svc.db.transaction() as tx:
        row = (
            await tx.execute(
                select(Photo, Message)
                .outerjoin(Message, Message.id == Photo.message_id)
                .where(Photo.id == photo_id)
                .with_for_update(of=Photo)
            )
        ).one_or_none()
        if row is None or not _visible(row[0], row[1], party):
            raise NotFound(NOT_FOUND)
        p, m = row
        if m is None:
            unsent = True
            await tx.delete(p)
        elif party.kind is PartyKind.FAMILY:
            p.hidden_by_sender = True
        else:
            p.hidden_by_recipient = True
    if unsent:
        await _release_blobs(svc, media, [p.display_key, p.thumbnail_key])


async def next_unsent_expiry(svc: Services) -> datetime | None:
    """When the next unsent photo runs out (the scheduler's `next_due`)."""
    async with svc.db.read() as tx:
        return await tx.scalar(select(func.min(Photo.expires_at)).where(Photo.message_id.is_(None)))


async def do_expire_unsent(svc: Services, media: Media, *, limit: int = EXPIRY_BATCH) -> int:
    """Delete unsent photos past their time, then the blobs nothing names any more; how many
    photos were deleted."""
    now = svc.clock.now()
    due = (
        select(Photo.id, Photo.display_key, Photo.thumbnail_key)
        .where(Photo.message_id.is_(None), Photo.expires_at <= now)
        .order_by(Photo.expires_at)
        .limit(limit)
    )
    async with svc.db.read() as tx:
        if not (await tx.execute(due.limit(1))).first():
            return 0
    async with svc.db.transaction(serialised=True) as tx:
        rows = (await tx.execute(due)).all()
        ids = [r.id for r in rows]
        if not ids:
            return 0
        # Only those still unsent: a send that claimed one meanwhile keeps it.
        await tx.execute(
            delete(Photo)
            .where(Photo.id.in_(ids), Photo.message_id.is_(None))
            .execution_options(synchronize_session=False)
        )
    await _release_blobs(svc, media, [k for r in rows for k in (r.display_key, r.thumbnail_key)])
    return len(ids)


async def _forget(ids: list[int], svc: Services, media: Media) -> None:
    """Undo an upload whose blobs could not be stored."""
    async with svc.db.transaction() as tx:
        rows = (
            await tx.execute(
                select(Photo.display_key, Photo.thumbnail_key).where(Photo.id.in_(ids))
            )
        ).all()
        await tx.execute(delete(Photo).where(Photo.id.in_(ids)))
    await _release_blobs(svc, media, [k for r in rows for k in r])


async def _release_blobs(svc: Services, media: Media, keys: Sequence[str]) -> None:
    """Delete the blobs of `keys` that no photo names any more (after the rows that named
    them are gone). A store that cannot be reached leaves them: they are only space."""
    wanted = sorted(set(keys))
    async with svc.db.transaction(serialised=True) as tx:
        await _lock_blobs(tx, wanted)
        named = set(
            await tx.scalars(select(Photo.display_key).where(Photo.display_key.in_(wanted)))
        ) | set(
            await tx.scalars(select(Photo.thumbnail_key).where(Photo.thumbnail_key.in_(wanted)))
        )
        for key in wanted:
            if key in named:
                continue
            try:
                await media.blobs.delete(key)
            except BlobStoreUnavailable:
                log.warning("blob %s could not be deleted: the store did not answer", key)


async def _lock_blobs(tx: AsyncSession, keys: Sequence[str]) -> None:
    """Until the transaction ends, no other transaction deciding about these blobs runs: a
    PostgreSQL advisory lock per key; on SQLite, the one write lock."""
    if tx.get_bind().dialect.name != "postgresql":
        await serialise_writers(tx)
        return
    for key in sorted(set(keys)):
        await tx.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )
