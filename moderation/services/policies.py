"""A facility's message policy, as staff read and change it: the current version for every
send (read at each send, so a change applies to the next message on every server process),
and its history of versions, each one audited.

The time zone belongs to the facility row (prices, free Saturdays and reports read it there);
the policy shows it and changes it, in the same transaction as the rest of the document."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from moderation.domain.policy import DEFAULT_POLICY, Policy
from moderation.domain.policy_checks import policy_from_json
from moderation.domain.screening import check_rules_are_quick
from moderation.storage.models import FacilityPolicy, FacilityPolicyChange
from server.domain.permissions import Action
from server.errors import FieldErrors, Forbidden, NotFound
from server.services.audit import record_staff_action
from server.services.context import Principal, Services
from server.storage.models import Facility, Resident, Staff

NOT_FOUND = "No such facility."
HISTORY_SHOWN = 20


@dataclass(frozen=True)
class PolicyChange:
    version: int
    policy: Policy
    changed_at: datetime
    changed_by_staff_id: int
    changed_by: str  # the staff member's name
    reason: str | None


@dataclass(frozen=True)
class PolicyView:
    facility_id: int
    policy: Policy
    version: int  # 0: the default, never changed
    updated_at: datetime | None
    history: list[PolicyChange]  # newest first
    residents: dict[int, dict[str, str]]  # the restricted residents' names and numbers


async def policy_in(tx: AsyncSession, *, facility_id: int) -> Policy:
    """The policy in force, with the facility's time zone."""
    facility = await tx.get(Facility, facility_id)
    if facility is None:
        raise NotFound(NOT_FOUND)
    return await _current(tx, facility)


async def _current(tx: AsyncSession, facility: Facility) -> Policy:
    row = await tx.get(FacilityPolicy, facility.id)
    policy = policy_from_json(row.policy) if row is not None else DEFAULT_POLICY
    return replace(policy, timezone=facility.timezone)


async def access_policy(svc: Services, actor: Principal, *, facility_id: int) -> PolicyView:
    """The policy and its recent history, for staff of the facility (or global support)."""
    if not actor.may_staff(facility_id):
        raise NotFound(NOT_FOUND)
    if not actor.may(Action.POLICY_READ):
        raise Forbidden("Only the facility's staff read its message policy.")
    async with svc.db.read() as tx:
        return await _view(tx, facility_id)


async def do_update_policy(
    svc: Services, actor: Principal, *, facility_id: int, policy: Policy, reason: str | None
) -> PolicyView:
    """Replace the policy (checked already by `policy_from_json`), keep the version in the
    history and audit it with before and after. The same policy again changes nothing.

    Checked here, once the actor may change it: every regular expression is quick on the
    probe texts (in a worker thread: a slow one takes its whole time limit), and every
    restricted resident is one of the facility's. A policy without a time zone keeps the
    facility's; a new one is written to the facility row."""
    if not actor.may_staff(facility_id):
        raise NotFound(NOT_FOUND)
    if not actor.may(Action.POLICY_CHANGE):
        raise Forbidden("Only the facility's administrators can change its message policy.")
    await asyncio.to_thread(check_rules_are_quick, policy)
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        # The facility row's lock serialises concurrent changes, so versions never collide.
        facility = await tx.scalar(
            select(Facility).where(Facility.id == facility_id).with_for_update()
        )
        if facility is None:
            raise NotFound(NOT_FOUND)
        await _check_residents(tx, policy, facility_id=facility_id)
        timezone = policy.timezone or facility.timezone
        policy = replace(policy, timezone=timezone)
        before = await _current(tx, facility)
        if before == policy:
            return await _view(tx, facility_id)
        facility.timezone = timezone
        row = await tx.get(FacilityPolicy, facility_id)
        version = (row.version if row is not None else 0) + 1
        if row is None:
            row = FacilityPolicy(facility_id=facility_id)
            tx.add(row)
        row.version = version
        row.policy = policy.to_json()
        row.updated_at = now
        row.updated_by_staff_id = actor.id
        tx.add(
            FacilityPolicyChange(
                facility_id=facility_id,
                version=version,
                policy=policy.to_json(),
                changed_at=now,
                changed_by_staff_id=actor.id,
                reason=reason,
            )
        )
        await record_staff_action(
            tx,
            staff=actor,
            at=now,
            action="policy.update",
            facility_id=facility_id,
            target_type="facility",
            target_id=facility_id,
            reason=reason,
            details={"version": version, "before": before.to_json(), "after": policy.to_json()},
        )
        await tx.flush()
        return await _view(tx, facility_id)


async def _check_residents(tx: AsyncSession, policy: Policy, *, facility_id: int) -> None:
    wanted = {r.resident_id for r in policy.restrictions}
    if not wanted:
        return
    known = set(
        await tx.scalars(
            select(Resident.id).where(Resident.facility_id == facility_id, Resident.id.in_(wanted))
        )
    )
    errors = {
        f"restrictions.{n}.resident_id": "No such resident in this facility."
        for n, r in enumerate(policy.restrictions)
        if r.resident_id not in known
    }
    if errors:
        raise FieldErrors(errors)


async def _view(tx: AsyncSession, facility_id: int) -> PolicyView:
    facility = await tx.get(Facility, facility_id)
    if facility is None:
        raise NotFound(NOT_FOUND)
    row = await tx.get(FacilityPolicy, facility_id)
    changes = await tx.execute(
        select(FacilityPolicyChange, Staff.display_name)
        .join(Staff, Staff.id == FacilityPolicyChange.changed_by_staff_id)
        .where(FacilityPolicyChange.facility_id == facility_id)
        .order_by(FacilityPolicyChange.version.desc())
        .limit(HISTORY_SHOWN)
    )
    policy = await _current(tx, facility)
    wanted = {r.resident_id for r in policy.restrictions}
    residents = (
        list(await tx.scalars(select(Resident).where(Resident.id.in_(wanted)))) if wanted else []
    )
    return PolicyView(
        facility_id=facility_id,
        policy=policy,
        version=row.version if row is not None else 0,
        updated_at=row.updated_at if row is not None else None,
        history=[
            PolicyChange(
                version=c.version,
                policy=policy_from_json(c.policy),
                changed_at=c.changed_at,
                changed_by_staff_id=c.changed_by_staff_id,
                changed_by=name,
                reason=c.reason,
            )
            for c, name in changes.all()
        ],
        residents={
            r.id: {"name": f"{r.first_name} {r.last_name}", "number": r.resident_number}
            for r in residents
        },
    )
