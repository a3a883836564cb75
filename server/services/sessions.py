"""Signing in and out for the three kinds of people, and resolving a session token."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.permissions import Action
from server.errors import Forbidden, Unauthenticated
from server.services.audit import record_staff_action
from server.services.context import Principal, PrincipalKind, Services, StaffRole
from server.services.notify import SessionEnded
from server.services.ratelimit import (
    LOGIN_PER_ACCOUNT,
    LOGIN_PER_ADDRESS,
    TABLET_PER_ADDRESS,
    TABLET_PER_RESIDENT,
    reserve,
)
from server.services.support import access_family_in, check_care_staff
from server.services.tokens import digest, new_token
from server.storage.db import AFTER_COMMIT
from server.storage.models import FamilyAccount, Resident, Session, Staff

# Only touch a session's last-seen time this often: a write per request would be waste.
TOUCH_INTERVAL = timedelta(seconds=60)
# A session's row outlives its absolute lifetime by this much, so that its owner is told the
# session ended (401 `expired`) rather than asked to sign in as if it never existed.
PURGE_AFTER = timedelta(minutes=10)
BAD_LOGIN = "The username or password is not right."


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime
    principal: Principal


async def _open(svc: Services, principal: Principal) -> NewSession:
    """A brand-new session id at every log in (no fixation)."""
    now = svc.clock.now()
    token, csrf = new_token(), new_token()
    expires = now + timedelta(seconds=svc.config.session_max_seconds)
    async with svc.db.transaction() as tx:
        tx.add(
            Session(
                token_hash=digest(token),
                principal_kind=principal.kind.value,
                principal_id=principal.id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=expires,
            )
        )
        if principal.kind is PrincipalKind.STAFF:
            await record_staff_action(
                tx, staff=principal, at=now, action="staff.login", facility_id=principal.facility_id
            )
    return NewSession(token=token, csrf_token=csrf, expires_at=expires, principal=principal)


async def do_login_family(
    svc: Services, *, username: str, password: str, address: str
) -> NewSession:
    # Only failures count: the place taken before the check is given back when it passes.
    place = await reserve(
        svc.limiter, (LOGIN_PER_ACCOUNT, f"family:{username}"), (LOGIN_PER_ADDRESS, address)
    )
    async with svc.db.read() as tx:
        account = await tx.scalar(
            select(FamilyAccount).where(FamilyAccount.username_key == username.lower())
        )
    ok = await svc.hasher.verify(account.password_hash if account else None, password)
    if not ok or account is None:
        raise Unauthenticated(BAD_LOGIN, code="bad_credentials")
    await place.give_back()
    if account.status == "pending_activation":
        # Said only after the password was right, so it reveals nothing to a stranger.
        raise Forbidden(
            "This account is not activated yet. Enter the code from the activation e-mail, "
            "or ask for a new one.",
            code="not_activated",
        )
    if account.status != "active":
        raise Forbidden("This account is disabled. Contact support.", code="account_disabled")
    principal = Principal(
        kind=PrincipalKind.FAMILY,
        id=account.id,
        display_name=f"{account.first_name} {account.last_name}",
    )
    return await _open(svc, principal)


async def do_login_resident(
    svc: Services, *, facility_id: int, resident_number: str, pin: str, address: str
) -> NewSession:
    place = await reserve(
        svc.limiter,
        (TABLET_PER_RESIDENT, f"{facility_id}:{resident_number}"),
        (TABLET_PER_ADDRESS, address),
    )
    async with svc.db.read() as tx:
        resident = await tx.scalar(
            select(Resident).where(
                Resident.facility_id == facility_id,
                Resident.resident_number == resident_number,
                Resident.active.is_(True),
            )
        )
    ok = await svc.hasher.verify(resident.pin_hash if resident else None, pin)
    if not ok or resident is None:
        raise Unauthenticated("The resident number or PIN is not right.", code="bad_credentials")
    await place.give_back()
    principal = Principal(
        kind=PrincipalKind.RESIDENT,
        id=resident.id,
        display_name=f"{resident.first_name} {resident.last_name}",
        facility_id=resident.facility_id,
    )
    return await _open(svc, principal)


async def do_login_staff(
    svc: Services, *, username: str, password: str, address: str
) -> NewSession:
    place = await reserve(
        svc.limiter, (LOGIN_PER_ACCOUNT, f"staff:{username}"), (LOGIN_PER_ADDRESS, address)
    )
    async with svc.db.read() as tx:
        staff = await tx.scalar(
            select(Staff).where(Staff.username_key == username.lower(), Staff.active.is_(True))
        )
    ok = await svc.hasher.verify(staff.password_hash if staff else None, password)
    if not ok or staff is None:
        raise Unauthenticated(BAD_LOGIN, code="bad_credentials")
    await place.give_back()
    return await _open(svc, staff_principal(staff))


def staff_principal(staff: Staff) -> Principal:
    return _staff_principal(staff.id, staff.display_name, staff.facility_id, staff.role)


def _staff_principal(
    staff_id: int, display_name: str, facility_id: int | None, role: str
) -> Principal:
    return Principal(
        kind=PrincipalKind.STAFF,
        id=staff_id,
        display_name=display_name,
        facility_id=facility_id,
        role=StaffRole(role),
    )


@dataclass(frozen=True)
class ActiveSession:
    principal: Principal
    csrf_token: str
    token_hash: str
    # When the session ends if nothing touches it again (the earlier of its absolute end and
    # its idle end): the socket sweep re-checks it then.
    ends_at: datetime


async def access_session(svc: Services, *, token: str, touch: bool = True) -> ActiveSession:
    """The live session for `token`, or Unauthenticated (expired, idle too long, ended)."""
    return await access_session_by_hash(svc, token_hash=digest(token), touch=touch)


# Resolving a token is the first thing nearly every request does: one query for the session
# and whoever it belongs to (the three kinds' tables joined on the kind), columns not objects.
_SESSION_AND_PRINCIPAL = (
    select(
        Session.principal_kind,
        Session.principal_id,
        Session.csrf_token,
        Session.last_seen_at,
        Session.expires_at,
        FamilyAccount.status.label("family_status"),
        FamilyAccount.first_name.label("family_first_name"),
        FamilyAccount.last_name.label("family_last_name"),
        Resident.active.label("resident_active"),
        Resident.first_name.label("resident_first_name"),
        Resident.last_name.label("resident_last_name"),
        Resident.facility_id.label("resident_facility_id"),
        Staff.active.label("staff_active"),
        Staff.display_name.label("staff_display_name"),
        Staff.facility_id.label("staff_facility_id"),
        Staff.role.label("staff_role"),
    )
    .outerjoin(
        FamilyAccount,
        and_(
            Session.principal_kind == PrincipalKind.FAMILY.value,
            FamilyAccount.id == Session.principal_id,
        ),
    )
    .outerjoin(
        Resident,
        and_(
            Session.principal_kind == PrincipalKind.RESIDENT.value,
            Resident.id == Session.principal_id,
        ),
    )
    .outerjoin(
        Staff,
        and_(Session.principal_kind == PrincipalKind.STAFF.value, Staff.id == Session.principal_id),
    )
)


async def access_session_by_hash(
    svc: Services, *, token_hash: str, touch: bool = True
) -> ActiveSession:
    """The live session whose token hashes to `token_hash`, or Unauthenticated. `touch` counts
    this as use (it keeps an idle session alive); a socket's passive traffic does not."""
    row = await svc.db.fetch_one(_SESSION_BY_HASH, {"token_hash": token_hash})
    return await session_of_row(svc, row, token_hash=token_hash, touch=touch)


def session_lookup(token_hash: str | BindParameter[str]) -> Select[*tuple[Any, ...]]:
    """The one query that resolves a token: its session and whoever it belongs to. A hot path
    may add its own columns and joins to it and still make a single round trip (a photo view
    does: media/services/photos.py); `session_of_row` then judges the row."""
    return _SESSION_AND_PRINCIPAL.where(Session.token_hash == token_hash)


# Built once: a request binds only its token's hash.
_SESSION_BY_HASH = session_lookup(bindparam("token_hash"))


async def session_of_row(
    svc: Services, row: Row[Any] | None, *, token_hash: str, touch: bool = True
) -> ActiveSession:
    """The live session of a `session_lookup` row (None: no such session), or Unauthenticated;
    `touch` as in `access_session_by_hash`."""
    now = svc.clock.now()
    if row is None:
        raise Unauthenticated("Please sign in.")
    if now >= session_end(svc, row.expires_at, row.last_seen_at):
        raise Unauthenticated("Your session has ended. Please sign in again.", code="expired")
    principal = _principal(row)
    if principal is None:
        raise Unauthenticated("Please sign in.")
    last_seen = row.last_seen_at
    if touch and now - last_seen >= TOUCH_INTERVAL:
        last_seen = now
        async with svc.db.transaction() as tx:
            await tx.execute(
                update(Session).where(Session.token_hash == token_hash).values(last_seen_at=now)
            )
    return ActiveSession(
        principal=principal,
        csrf_token=row.csrf_token,
        token_hash=token_hash,
        ends_at=session_end(svc, row.expires_at, last_seen),
    )


def session_end(svc: Services, expires_at: datetime, last_seen_at: datetime) -> datetime:
    """When a session ends unless it is used again: its absolute end or its idle end."""
    return min(expires_at, last_seen_at + timedelta(seconds=svc.config.session_idle_seconds))


def _principal(row: Row[*tuple[Any, ...]]) -> Principal | None:
    """Who a row of `_SESSION_AND_PRINCIPAL` belongs to, if they may still sign in."""
    kind = PrincipalKind(row.principal_kind)
    if kind is PrincipalKind.FAMILY:
        if row.family_status != "active":
            return None
        name = f"{row.family_first_name} {row.family_last_name}"
        return Principal(kind=kind, id=row.principal_id, display_name=name)
    if kind is PrincipalKind.RESIDENT:
        if not row.resident_active:
            return None
        return Principal(
            kind=kind,
            id=row.principal_id,
            display_name=f"{row.resident_first_name} {row.resident_last_name}",
            facility_id=row.resident_facility_id,
        )
    if not row.staff_active:
        return None
    return _staff_principal(
        row.principal_id, row.staff_display_name, row.staff_facility_id, row.staff_role
    )


async def access_session_ends(
    svc: Services, *, token_hashes: Collection[str]
) -> dict[str, datetime]:
    """When each of these sessions ends if untouched; sessions that have ended (or never
    were) are left out. For the socket sweep: one query per 500 sessions."""
    now = svc.clock.now()
    hashes = list(token_hashes)
    out: dict[str, datetime] = {}
    async with svc.db.read() as tx:
        for start in range(0, len(hashes), 500):
            rows = await tx.execute(
                select(Session.token_hash, Session.last_seen_at, Session.expires_at).where(
                    Session.token_hash.in_(hashes[start : start + 500])
                )
            )
            for token_hash, last_seen, expires in rows:
                ends_at = session_end(svc, expires, last_seen)
                if ends_at > now:
                    out[token_hash] = ends_at
    return out


async def do_logout(svc: Services, *, token: str) -> None:
    async with svc.db.transaction() as tx:
        await end_sessions_in(tx, Session.token_hash == digest(token), reason="signed_out")


async def end_sessions_in(tx: AsyncSession, *where: ColumnElement[bool], reason: str) -> int:
    """End the sessions that match, in the caller's transaction: their rows go, and once the
    transaction commits every socket opened with them is disconnected, on every process."""
    ended = (await tx.scalars(delete(Session).where(*where).returning(Session.token_hash))).all()
    tx.info.setdefault(AFTER_COMMIT, []).extend(SessionEnded(h, reason=reason) for h in ended)
    return len(ended)


async def do_end_family_sessions(
    svc: Services, actor: Principal, *, family_account_id: int, reason: str
) -> int:
    """Customer care signs a family account out everywhere (a lost phone, a shared
    computer, a suspected takeover). Audited with the reason; the count of ended sessions."""
    check_care_staff(actor, Action.ACCOUNT_SIGN_OUT)
    async with svc.db.transaction() as tx:
        family = await access_family_in(tx, actor, family_account_id=family_account_id)
        count = await end_sessions_in(
            tx,
            Session.principal_kind == PrincipalKind.FAMILY.value,
            Session.principal_id == family.id,
            reason="ended_by_staff",
        )
        await record_staff_action(
            tx,
            staff=actor,
            at=svc.clock.now(),
            action="account.sessions_ended",
            facility_id=actor.facility_id,
            target_type="family_account",
            target_id=family.id,
            reason=reason,
            details={"sessions": count},
        )
    return count


async def next_session_expiry(svc: Services) -> datetime | None:
    """When `do_purge_expired_sessions` next has a session to drop (None: no session)."""
    async with svc.db.read() as tx:
        first = await tx.scalar(select(func.min(Session.expires_at)))
    return None if first is None else first + PURGE_AFTER


async def do_purge_expired_sessions(svc: Services) -> int:
    """Housekeeping: drop sessions `PURGE_AFTER` past their absolute lifetime."""
    async with svc.db.transaction() as tx:
        result = await tx.execute(
            delete(Session).where(Session.expires_at <= svc.clock.now() - PURGE_AFTER)
        )
    return int(getattr(result, "rowcount", 0) or 0)
