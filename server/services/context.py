"""What every service needs, built once by the composition root."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from moderation.domain.policy import Policy
from server.clock import Clock
from server.config import Config
from server.domain.party import Party, PartyKind
from server.domain.permissions import Action, Role, allowed, serves, staff_role
from server.errors import Conflict
from server.services.mail import MailQueue
from server.services.notify import Notifier, RecordingNotifier
from server.services.passwords import Hasher
from server.services.payments import PaymentGateway
from server.services.ratelimit import RateLimiter
from server.storage.db import Database


class PolicySource(Protocol):
    """The message policy in force at a facility. The policy is the moderation wing's (its
    table, its console); the core only reads it while sending, through this port, which
    server/app.py fills with `moderation.services.policies.policy_in`."""

    async def __call__(self, tx: AsyncSession, *, facility_id: int) -> Policy: ...


class PhotoAttacher(Protocol):
    """Attaches a sender's unsent photos to the message being sent, in the send's transaction:
    locks and checks them (theirs, on this contact, unsent, not expired; else NotFound or
    Conflict, and the send rolls back with its charge) and answers what the message shows of
    each, in order. The photos are the media wing's (its table, its blobs); server/app.py fills
    this port with `media.services.photos.attach_in`."""

    async def __call__(
        self,
        tx: AsyncSession,
        *,
        sender: Party,
        contact_id: int,
        photo_ids: Sequence[int],
        message_id: int,
        now: datetime,
    ) -> list[dict[str, int]]: ...


async def no_photos(
    tx: AsyncSession,
    *,
    sender: Party,
    contact_id: int,
    photo_ids: Sequence[int],
    message_id: int,
    now: datetime,
) -> list[dict[str, int]]:
    """For one-off commands that send no photos."""
    raise Conflict("Photos cannot be sent from here.", code="photos_unavailable")


@dataclass(frozen=True)
class Services:
    config: Config
    db: Database
    clock: Clock
    hasher: Hasher
    limiter: RateLimiter
    mail: MailQueue
    gateway: PaymentGateway
    policies: PolicySource
    photos: PhotoAttacher = no_photos
    # Replaced by the socket.io notifier in create_app; a recording one for one-off commands.
    notifier: Notifier = field(default_factory=RecordingNotifier)


class PrincipalKind(StrEnum):
    FAMILY = "family"
    RESIDENT = "resident"
    STAFF = "staff"


class StaffRole(StrEnum):
    REVIEWER = "reviewer"
    FACILITY_ADMIN = "facility_admin"
    SUPPORT = "support"


@dataclass(frozen=True)
class Principal:
    """Who is acting. `facility_id` is the resident's or staff member's facility
    (None for family members and for global support staff)."""

    kind: PrincipalKind
    id: int
    display_name: str
    facility_id: int | None = None
    role: StaffRole | None = None

    @property
    def party(self) -> Party:
        """This person as a party: their event stream, room and (family, resident) wallet."""
        return Party(PartyKind(self.kind.value), self.id)

    @property
    def acting_role(self) -> Role | None:
        """This person's row of the permission table (server/domain/permissions.py)."""
        if self.kind is PrincipalKind.FAMILY:
            return Role.FAMILY
        if self.kind is PrincipalKind.RESIDENT:
            return Role.RESIDENT
        return staff_role(self.role, facility_id=self.facility_id)

    def may(self, action: Action) -> bool:
        """Whether this person's role may take `action` at all (the permission table)."""
        return allowed(self.acting_role, action)

    def may_staff(self, facility_id: int) -> bool:
        """Staff of this facility, or global support staff (the table's scope rule)."""
        return serves(self.acting_role, own_facility_id=self.facility_id, facility_id=facility_id)
