"""Reading and changing a facility's tariff, and checking tariffs against rate caps.

Who may do what: anyone may read a facility's public prices (they are shown before paying);
staff of the facility (and global support staff) read the full tariff with its rate-cap
warnings; only a facility admin of that facility changes it. Support staff are read-only here:
prices are the facility's decision. Staff of another facility get *not found*.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain import ratecaps
from server.domain.permissions import Action
from server.domain.ratecaps import RateCapProfile, Violation
from server.domain.tariff import DEFAULT_TARIFF, Tariff
from server.errors import Forbidden, NotFound
from server.services.audit import record_staff_action
from server.services.context import Principal, Services
from server.storage.models import Facility, FacilitySettings

NOT_FOUND = "No such facility."


async def tariff_in(tx: AsyncSession, *, facility_id: int) -> Tariff:
    row = await tx.get(FacilitySettings, facility_id)
    return Tariff.from_json(row.tariff) if row is not None else DEFAULT_TARIFF


async def tariff_of(svc: Services, *, facility_id: int) -> Tariff:
    """The facility's tariff; the default one until an admin has changed it."""
    async with svc.db.read() as tx:
        return await tariff_in(tx, facility_id=facility_id)


@dataclass(frozen=True)
class FacilityTariff:
    facility_id: int
    facility_name: str
    timezone: str
    tariff: Tariff
    is_default: bool  # never changed by an admin
    updated_at: datetime | None
    updated_by_staff_id: int | None


@dataclass(frozen=True)
class CheckedTariff:
    """A facility's tariff with what the rate-cap profile says about it."""

    current: FacilityTariff
    profile: RateCapProfile
    violations: tuple[Violation, ...]


async def _facility_tariff(tx: AsyncSession, facility: Facility) -> FacilityTariff:
    row = await tx.get(FacilitySettings, facility.id)
    return FacilityTariff(
        facility_id=facility.id,
        facility_name=facility.name,
        timezone=facility.timezone,
        tariff=Tariff.from_json(row.tariff) if row is not None else DEFAULT_TARIFF,
        is_default=row is None,
        updated_at=row.updated_at if row is not None else None,
        updated_by_staff_id=row.updated_by_staff_id if row is not None else None,
    )


def _checked(current: FacilityTariff, profile: RateCapProfile | None) -> CheckedTariff:
    profile = profile or ratecaps.default_profile()
    return CheckedTariff(current, profile, tuple(ratecaps.check(current.tariff, profile)))


async def facility_tariff(svc: Services, *, facility_id: int) -> FacilityTariff:
    """Any facility's full tariff, for the public view and the operator's CLI (not staff)."""
    async with svc.db.read() as tx:
        facility = await tx.get(Facility, facility_id)
        if facility is None:
            raise NotFound(NOT_FOUND)
        return await _facility_tariff(tx, facility)


async def access_tariff(
    svc: Services, actor: Principal, *, facility_id: int, profile: RateCapProfile | None = None
) -> CheckedTariff:
    """The full tariff and its rate-cap warnings, for staff of the facility (or support)."""
    if not actor.may_staff(facility_id):
        raise NotFound(NOT_FOUND)
    if not actor.may(Action.TARIFF_READ):
        raise Forbidden("Only the facility's staff read its full tariff.")
    return _checked(await facility_tariff(svc, facility_id=facility_id), profile)


async def do_update_tariff(
    svc: Services,
    actor: Principal,
    *,
    facility_id: int,
    tariff: Tariff,
    reason: str | None,
    profile: RateCapProfile | None = None,
) -> CheckedTariff:
    """Replace the facility's tariff (already checked by `check_tariff`) and audit the change
    with the whole tariff before and after, in the same transaction. Submitting the current
    tariff again changes nothing and records nothing, so a retried PUT is harmless."""
    if not actor.may_staff(facility_id):
        raise NotFound(NOT_FOUND)
    if not actor.may(Action.TARIFF_CHANGE):
        raise Forbidden("Only the facility's administrators can change its tariff.")
    current = await _update(svc, actor, facility_id=facility_id, tariff=tariff, reason=reason)
    return _checked(current, profile)


async def _update(
    svc: Services, actor: Principal, *, facility_id: int, tariff: Tariff, reason: str | None
) -> FacilityTariff:
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        # Locking the facility row serialises concurrent changes (PostgreSQL; SQLite has one
        # writer at a time), so "before" is always the tariff this change replaced and two
        # first-ever changes cannot both insert the settings row.
        facility = await tx.scalar(
            select(Facility).where(Facility.id == facility_id).with_for_update()
        )
        if facility is None:
            raise NotFound(NOT_FOUND)
        row = await tx.get(FacilitySettings, facility_id)
        before = Tariff.from_json(row.tariff) if row is not None else DEFAULT_TARIFF
        if before == tariff:
            return await _facility_tariff(tx, facility)
        after_json = tariff.to_json()
        if row is None:
            row = FacilitySettings(facility_id=facility_id, tariff=after_json)
            tx.add(row)
        row.tariff = after_json
        row.updated_at = now
        row.updated_by_staff_id = actor.id
        before_json = before.to_json()
        await record_staff_action(
            tx,
            staff=actor,
            at=now,
            action="tariff.update",
            facility_id=facility_id,
            target_type="facility",
            target_id=facility_id,
            reason=reason,
            details={
                "changed": [k for k in after_json if after_json[k] != before_json[k]],
                "before": before_json,
                "after": after_json,
            },
        )
        await tx.flush()
        return await _facility_tariff(tx, facility)


async def rate_cap_report(svc: Services, *, profile: RateCapProfile) -> list[CheckedTariff]:
    """Every facility's tariff checked against `profile`, in facility id order."""
    async with svc.db.read() as tx:
        facilities = (await tx.scalars(select(Facility).order_by(Facility.id))).all()
        return [_checked(await _facility_tariff(tx, f), profile) for f in facilities]
