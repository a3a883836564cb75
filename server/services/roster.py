"""Facility set-up from the command line: facilities, the resident roster, staff members."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from server.domain.signup import password_problem
from server.errors import BadRequest, Conflict, FieldErrors, NotFound
from server.services.context import Services, StaffRole
from server.storage.models import Facility, Resident, Staff

ROSTER_COLUMNS = (
    "resident_number",
    "first_name",
    "last_name",
    "date_of_birth",
    "housing_unit",
    "pin",
)
NUMBER_RE = re.compile(r"^[A-Za-z0-9-]{1,32}$")
PIN_RE = re.compile(r"^\d{4,12}$")
# date.fromisoformat also takes "19880314" and week dates ("1988-W11-1"): the roster's
# format is the one the help text promises.
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{2,31}$")


@dataclass(frozen=True)
class RosterRow:
    resident_number: str
    first_name: str
    last_name: str
    date_of_birth: date
    housing_unit: str
    pin: str


@dataclass(frozen=True)
class RosterResult:
    created: int
    updated: int


def check_roster_csv(text: str) -> list[RosterRow]:
    """Parse a roster; every bad line is reported (line number and problem), none imported."""
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(h.strip() for h in (reader.fieldnames or ()))
    missing = [c for c in ROSTER_COLUMNS if c not in header]
    if missing:
        raise BadRequest(f"The roster needs the columns: {', '.join(missing)} (missing).")
    rows: list[RosterRow] = []
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for line_no, raw in enumerate(reader, start=2):
        r = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        problem = _row_problem(r, seen)
        if problem:
            problems[f"line {line_no}"] = problem
            continue
        seen.add(r["resident_number"])
        rows.append(
            RosterRow(
                resident_number=r["resident_number"],
                first_name=r["first_name"],
                last_name=r["last_name"],
                date_of_birth=date.fromisoformat(r["date_of_birth"]),
                housing_unit=r["housing_unit"],
                pin=r["pin"],
            )
        )
    if problems:
        raise FieldErrors(problems, "The roster has errors; nothing was imported.")
    return rows


def _row_problem(r: dict[str, str], seen: set[str]) -> str | None:
    if not NUMBER_RE.match(r["resident_number"]):
        return "resident_number must be 1-32 letters, digits or '-'"
    if r["resident_number"] in seen:
        return f"resident_number {r['resident_number']} appears twice"
    for name in ("first_name", "last_name"):
        if not r[name] or len(r[name]) > 100:
            return f"{name} must be 1-100 characters"
    try:
        real_date = bool(date.fromisoformat(r["date_of_birth"]))
    except ValueError:
        real_date = False
    if not real_date or not DATE_RE.fullmatch(r["date_of_birth"]):
        return "date_of_birth must be a real date as YYYY-MM-DD"
    if not r["housing_unit"] or len(r["housing_unit"]) > 64:
        return "housing_unit must be 1-64 characters"
    if not PIN_RE.match(r["pin"]):
        return "pin must be 4-12 digits"
    return None


async def do_import_roster(
    svc: Services, *, facility_id: int, rows: list[RosterRow]
) -> RosterResult:
    """Create or update residents by number. PINs are hashed before the transaction opens."""
    pin_hashes = await asyncio.gather(*(svc.hasher.hash(r.pin) for r in rows))
    now = svc.clock.now()
    created = updated = 0
    async with svc.db.transaction() as tx:
        if await tx.get(Facility, facility_id) is None:
            raise NotFound(f"No facility with id {facility_id}.")
        existing = {
            r.resident_number: r
            for r in (
                await tx.scalars(select(Resident).where(Resident.facility_id == facility_id))
            ).all()
        }
        for row, pin_hash in zip(rows, pin_hashes, strict=True):
            resident = existing.get(row.resident_number)
            if resident is None:
                resident = Resident(
                    facility_id=facility_id, resident_number=row.resident_number, created_at=now
                )
                tx.add(resident)
                created += 1
            else:
                updated += 1
            resident.first_name = row.first_name
            resident.last_name = row.last_name
            resident.search_name = f"{row.first_name} {row.last_name}".lower()
            resident.date_of_birth = row.date_of_birth
            resident.housing_unit = row.housing_unit
            resident.pin_hash = pin_hash
            resident.active = True
    return RosterResult(created=created, updated=updated)


async def do_create_facility(
    svc: Services, *, name: str, city: str, state: str, timezone: str
) -> int:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldErrors({"timezone": f"Unknown time zone {timezone!r}."}) from None
    async with svc.db.transaction() as tx:
        facility = Facility(
            name=name, city=city, state=state, timezone=timezone, created_at=svc.clock.now()
        )
        tx.add(facility)
        await tx.flush()
        return facility.id


async def do_add_staff(
    svc: Services,
    *,
    username: str,
    password: str,
    display_name: str,
    role: StaffRole,
    facility_id: int | None,
) -> int:
    problems: dict[str, str] = {}
    if not USERNAME_RE.match(username):
        problems["username"] = "3-32 letters, digits, '.', '_' or '-', starting with a letter"
    if p := password_problem(password, username=username):
        problems["password"] = p
    if facility_id is None and role is not StaffRole.SUPPORT:
        problems["facility"] = "Reviewers and facility admins belong to one facility."
    if problems:
        raise FieldErrors(problems)
    password_hash = await svc.hasher.hash(password)
    async with svc.db.transaction() as tx:
        if facility_id is not None and await tx.get(Facility, facility_id) is None:
            raise NotFound(f"No facility with id {facility_id}.")
        if await tx.scalar(select(Staff.id).where(Staff.username_key == username.lower())):
            raise Conflict(f"A staff member called {username!r} already exists.")
        staff = Staff(
            username=username,
            username_key=username.lower(),
            display_name=display_name,
            password_hash=password_hash,
            role=role.value,
            facility_id=facility_id,
            active=True,
            created_at=svc.clock.now(),
        )
        tx.add(staff)
        await tx.flush()
        return staff.id
