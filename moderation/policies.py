"""A facility's message policy, as staff read and change it: the current version for every
send (read at each send, so a change applies to the next message on every server process),
and its history of versions, each one audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from moderation.audit import record_staff_action
from moderation.policy import DEFAULT_POLICY, Policy, policy_from_json
from server.errors import Forbidden, NotFound
from server.services.context import Principal, Services, StaffRole
from server.storage.message_models import FacilityPolicy, FacilityPolicyChange
from server.storage.models import Facility

NOT_FOUND = "No such facility."
HISTORY_SHOWN = 20


@dataclass(frozen=True)
class PolicyChange:
    version: int
    policy: Policy
    changed_at: datetime
    changed_by_staff_id: int
    reason: str | None


@dataclass(frozen=True)
class PolicyView:
    facility_id: int
    policy: Policy
    version: int  # 0: the default, never changed
    updated_at: datetime | None
    history: list[PolicyChange]  # newest first


async def policy_in(tx: AsyncSession, *, facility_id: int) -> Policy:
    row = await tx.get(FacilityPolicy, facility_id)
    return policy_from_json(row.policy) if row is not None else DEFAULT_POLICY


async def access_policy(svc: Services, actor: Principal, *, facility_id: int) -> PolicyView:
    """The policy and its recent history, for staff of the facility (or global support)."""
    if not actor.may_staff(facility_id):
        raise NotFound(NOT_FOUND)
    async with svc.db.read() as tx:
        return await _view(tx, facility_id)


async def do_update_policy(
    svc: Services, actor: Principal, *, facility_id: int, policy: Policy, reason: str | None
) -> PolicyView:
    """Replace the policy (checked already by `policy_from_json`), keep the version in the
    history and audit it with before and after. The same policy again changes nothing."""
    if not actor.may_staff(facility_id):
        raise NotFound(NOT_FOUND)
    if actor.role is not StaffRole.FACILITY_ADMIN:
        raise Forbidden("Only the facility's administrators can change its message policy.")
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        # The facility row's lock serialises concurrent changes, so versions never collide.
        facility = await tx.scalar(
            select(Facility).where(Facility.id == facility_id).with_for_update()
        )
        if facility is None:
            raise NotFound(NOT_FOUND)
        row = await tx.get(FacilityPolicy, facility_id)
        before = policy_from_json(row.policy) if row is not None else DEFAULT_POLICY
        if before == policy:
            return await _view(tx, facility_id)
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


async def _view(tx: AsyncSession, facility_id: int) -> PolicyView:
    if await tx.get(Facility, facility_id) is None:
        raise NotFound(NOT_FOUND)
    row = await tx.get(FacilityPolicy, facility_id)
    changes = await tx.scalars(
        select(FacilityPolicyChange)
        .where(FacilityPolicyChange.facility_id == facility_id)
        .order_by(FacilityPolicyChange.version.desc())
        .limit(HISTORY_SHOWN)
    )
    return PolicyView(
        facility_id=facility_id,
        policy=policy_from_json(row.policy) if row is not None else DEFAULT_POLICY,
        version=row.version if row is not None else 0,
        updated_at=row.updated_at if row is not None else None,
        history=[
            PolicyChange(
                version=c.version,
                policy=policy_from_json(c.policy),
                changed_at=c.changed_at,
                changed_by_staff_id=c.changed_by_staff_id,
                reason=c.reason,
            )
            for c in changes
        ],
    )
