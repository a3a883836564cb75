"""The demo facility seeded by `make run` on first start, so there is someone to talk to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from server.services.context import Services, StaffRole
from server.services.roster import RosterRow, do_add_staff, do_create_facility, do_import_roster
from server.storage.models import Facility

DEMO_FACILITY = "Riverside Correctional Facility (demo)"
DEMO_RESIDENTS = (
    RosterRow("A1001", "Marcus", "Reed", date(1988, 3, 14), "B-12", "2468"),
    RosterRow("A1002", "Dana", "Whitfield", date(1992, 11, 2), "C-04", "1357"),
    RosterRow("A1003", "Luis", "Ortega", date(1979, 6, 30), "B-07", "8642"),
    RosterRow("A1004", "Tamika", "Reed", date(1995, 1, 21), "D-01", "9753"),
)
DEMO_STAFF = (
    ("reviewer", "demo-reviewer-pass", "Riley Reviewer", StaffRole.REVIEWER),
    ("admin", "demo-admin-pass", "Alex Admin", StaffRole.FACILITY_ADMIN),
    ("support", "demo-support-pass", "Sam Support", StaffRole.SUPPORT),
)


@dataclass(frozen=True)
class DemoSeed:
    facility_id: int
    created: bool


async def do_seed_demo(svc: Services, *, only_if_empty: bool) -> DemoSeed:
    async with svc.db.read() as tx:
        count = await tx.scalar(select(func.count()).select_from(Facility))
        existing = await tx.scalar(select(Facility.id).where(Facility.name == DEMO_FACILITY))
    if existing is not None or (only_if_empty and count):
        return DemoSeed(facility_id=existing or 0, created=False)
    facility_id = await do_create_facility(
        svc, name=DEMO_FACILITY, city="Riverside", state="NY", timezone="America/New_York"
    )
    await do_import_roster(svc, facility_id=facility_id, rows=list(DEMO_RESIDENTS))
    for username, password, name, role in DEMO_STAFF:
        await do_add_staff(
            svc,
            username=username,
            password=password,
            display_name=name,
            role=role,
            facility_id=None if role is StaffRole.SUPPORT else facility_id,
        )
    return DemoSeed(facility_id=facility_id, created=True)


def demo_banner(public_url: str, facility_id: int) -> str:
    lines = [
        "",
        "Homeline demo facility (for trying things out; never use these in production)",
        f"  Families:  {public_url}/            (sign up; mail lands in var/outbox/)",
        f"  Tablet:    {public_url}/tablet      facility {facility_id}, resident / PIN:",
        *(
            f"             {r.resident_number} / {r.pin}   {r.first_name} {r.last_name}"
            for r in DEMO_RESIDENTS
        ),
        f"  Console:   {public_url}/console     staff / password:",
        *(f"             {u} / {p}   ({role.value})" for u, p, _, role in DEMO_STAFF),
        f"  API:       {public_url}/api/openapi.json",
        "",
    ]
    return "\n".join(lines)
