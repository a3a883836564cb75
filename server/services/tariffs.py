"""Reading (and, later, editing) a facility's tariff."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.tariff import DEFAULT_TARIFF, Tariff
from server.services.context import Services
from server.storage.models import FacilitySettings


async def tariff_in(tx: AsyncSession, *, facility_id: int) -> Tariff:
    row = await tx.get(FacilitySettings, facility_id)
    return Tariff.from_json(row.tariff) if row is not None else DEFAULT_TARIFF


async def tariff_of(svc: Services, *, facility_id: int) -> Tariff:
    """The facility's tariff; the default one until an admin has changed it."""
    async with svc.db.read() as tx:
        return await tariff_in(tx, facility_id=facility_id)
