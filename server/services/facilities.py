"""Facilities and residents as families see them: a public list and a minimal search."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from server.errors import NotFound
from server.services.context import Services
from server.storage.models import Facility, Resident

SEARCH_LIMIT = 20


@dataclass(frozen=True)
class FacilityView:
    id: int
    name: str
    city: str
    state: str
    timezone: str


@dataclass(frozen=True)
class ResidentMatch:
    """Only what a family needs to pick the right person: no birth date, no housing unit."""

    id: int
    facility_id: int
    resident_number: str
    first_name: str
    last_name: str


async def list_facilities(svc: Services) -> list[FacilityView]:
    async with svc.db.read() as tx:
        rows = (await tx.scalars(select(Facility).order_by(Facility.name))).all()
    return [FacilityView(f.id, f.name, f.city, f.state, f.timezone) for f in rows]


async def access_facility(svc: Services, *, facility_id: int) -> FacilityView:
    async with svc.db.read() as tx:
        f = await tx.get(Facility, facility_id)
    if f is None:
        raise NotFound("No such facility.")
    return FacilityView(f.id, f.name, f.city, f.state, f.timezone)


async def search_residents(svc: Services, *, facility_id: int, query: str) -> list[ResidentMatch]:
    """Exact resident number, or every word of `query` found in the name (case-insensitive)."""
    await access_facility(svc, facility_id=facility_id)
    words = query.lower().split()
    if not words:
        return []
    by_name = [Resident.search_name.contains(w, autoescape=True) for w in words]
    stmt = (
        select(Resident)
        .where(
            Resident.facility_id == facility_id,
            Resident.active.is_(True),
            or_(Resident.resident_number == query.strip(), and_(*by_name)),
        )
        .order_by(Resident.last_name, Resident.first_name, Resident.id)
        .limit(SEARCH_LIMIT)
    )
    async with svc.db.read() as tx:
        rows = (await tx.scalars(stmt)).all()
    return [
        ResidentMatch(r.id, r.facility_id, r.resident_number, r.first_name, r.last_name)
        for r in rows
    ]
