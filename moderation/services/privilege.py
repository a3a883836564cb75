"""Privileged contacts: a facility admin marks a contact as legal counsel or an abuse reporting
line after checking credentials (a bar number and state; the organisation), or revokes it with
a reason. Its messages are then free, never held, and never shown to staff (see
server/services/messages.py and conversations.py); staff see only that it is privileged, and
the credentials recorded. Each marking and revocation is audited with the credentials and who,
never anything said on the contact.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.permissions import Action
from server.errors import Conflict, FieldErrors, Forbidden
from server.services.audit import record_staff_action
from server.services.contact_views import ContactView, announce_in, contact_view_in
from server.services.contacts import locked_contact
from server.services.context import Principal, PrincipalKind, Services
from server.storage.case_models import ContactPrivilege

MAX_BAR_NUMBER = 40
MAX_ORGANISATION = 200
MAX_NOTE = 500
BAR_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .\-/]*")
STATE = re.compile(r"[A-Za-z]{2}")


class PrivilegeKind(StrEnum):
    LEGAL_COUNSEL = "legal_counsel"
    ABUSE_LINE = "abuse_line"


@dataclass(frozen=True)
class Credentials:
    """What staff verified: legal counsel by bar number and state, an abuse line by the
    organisation that runs it."""

    kind: PrivilegeKind
    bar_number: str | None = None
    bar_state: str | None = None  # two letters, upper case
    organisation: str | None = None
    note: str | None = None


def check_credentials(
    *,
    kind: str,
    bar_number: str | None,
    bar_state: str | None,
    organisation: str | None,
    note: str | None,
) -> Credentials:
    """Credentials from untrusted input, or FieldErrors naming each field that is wrong."""
    problems: dict[str, str] = {}
    bar_number = (bar_number or "").strip() or None
    bar_state = (bar_state or "").strip() or None
    organisation = (organisation or "").strip() or None
    note = (note or "").strip() or None
    try:
        what = PrivilegeKind(kind)
    except ValueError:
        raise FieldErrors({"kind": "Must be legal_counsel or abuse_line."}) from None
    if what is PrivilegeKind.LEGAL_COUNSEL:
        if bar_number is None:
            problems["bar_number"] = "Legal counsel needs the bar number you checked."
        elif len(bar_number) > MAX_BAR_NUMBER or not BAR_NUMBER.fullmatch(bar_number):
            problems["bar_number"] = (
                f"Use at most {MAX_BAR_NUMBER} letters and digits (spaces, '.', '-', '/' allowed)."
            )
        if bar_state is None:
            problems["bar_state"] = "Legal counsel needs the state of the bar admission."
        elif not STATE.fullmatch(bar_state):
            problems["bar_state"] = "Use the state's two-letter code, such as NY."
        if organisation is not None:
            problems["organisation"] = "Only for an abuse reporting line."
    else:
        if organisation is None:
            problems["organisation"] = "An abuse reporting line needs the organisation behind it."
        elif len(organisation) > MAX_ORGANISATION:
            problems["organisation"] = f"Use at most {MAX_ORGANISATION} characters."
        for name, value in (("bar_number", bar_number), ("bar_state", bar_state)):
            if value is not None:
                problems[name] = "Only for legal counsel."
    if note is not None and len(note) > MAX_NOTE:
        problems["note"] = f"Use at most {MAX_NOTE} characters."
    if problems:
        raise FieldErrors(problems, message="The credentials need attention.")
    return Credentials(
        kind=what,
        bar_number=bar_number,
        bar_state=bar_state.upper() if bar_state else None,
        organisation=organisation,
        note=note,
    )


def _admin(actor: Principal) -> None:
    if not actor.may(Action.PRIVILEGE_MANAGE):
        raise Forbidden(
            "Only the facility's administrators can mark a contact privileged or revoke it."
        )


async def do_mark_privileged(
    svc: Services, actor: Principal, *, contact_id: int, credentials: Credentials
) -> ContactView:
    """Mark the contact privileged with these credentials (a second marking replaces the
    credentials, the first staying in the history). 404 for another facility's contact."""
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        contact = await locked_contact(tx, _staff(actor), contact_id)
        _admin(actor)
        current = await _current(tx, contact.id)
        if current is not None and _credentials_of(current) == credentials:
            return await contact_view_in(tx, contact)  # the same marking again: nothing to do
        if current is not None:
            current.revoked_at = now
            current.revoked_by_staff_id = actor.id
            current.revoke_reason = "replaced by new credentials"
        tx.add(
            ContactPrivilege(
                contact_id=contact.id,
                facility_id=contact.facility_id,
                kind=credentials.kind.value,
                bar_number=credentials.bar_number,
                bar_state=credentials.bar_state,
                organisation=credentials.organisation,
                note=credentials.note,
                granted_at=now,
                granted_by_staff_id=actor.id,
            )
        )
        contact.privileged = True
        contact.updated_at = now
        await tx.flush()
        await record_staff_action(
            tx,
            staff=actor,
            at=now,
            action="contact.privilege",
            facility_id=contact.facility_id,
            target_type="contact",
            target_id=contact.id,
            reason=credentials.note,
            details={
                **_audit_json(credentials),
                "replaced": _audit_json(_credentials_of(current)) if current else None,
            },
        )
        return await announce_in(tx, contact, now=now)


async def do_revoke_privilege(
    svc: Services, actor: Principal, *, contact_id: int, reason: str
) -> ContactView:
    """The contact is no longer privileged: its next messages are priced, screened and seen
    like any other (never those sent while it was privileged: `sent_while_privileged`)."""
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        contact = await locked_contact(tx, _staff(actor), contact_id)
        _admin(actor)
        current = await _current(tx, contact.id)
        if not contact.privileged:
            raise Conflict("This contact is not privileged.", code="not_privileged")
        if current is not None:
            current.revoked_at = now
            current.revoked_by_staff_id = actor.id
            current.revoke_reason = reason
        contact.privileged = False
        contact.updated_at = now
        await tx.flush()
        await record_staff_action(
            tx,
            staff=actor,
            at=now,
            action="contact.privilege_revoke",
            facility_id=contact.facility_id,
            target_type="contact",
            target_id=contact.id,
            reason=reason,
            details={"revoked": _audit_json(_credentials_of(current)) if current else None},
        )
        return await announce_in(tx, contact, now=now)


def _staff(actor: Principal) -> Principal:
    if actor.kind is not PrincipalKind.STAFF:
        raise Forbidden("Only facility staff manage privileged contacts.")
    return actor


async def _current(tx: AsyncSession, contact_id: int) -> ContactPrivilege | None:
    return await tx.scalar(
        select(ContactPrivilege)
        .where(ContactPrivilege.contact_id == contact_id, ContactPrivilege.revoked_at.is_(None))
        .order_by(ContactPrivilege.id.desc())
        .limit(1)
    )


def _credentials_of(row: ContactPrivilege) -> Credentials:
    return Credentials(
        kind=PrivilegeKind(row.kind),
        bar_number=row.bar_number,
        bar_state=row.bar_state,
        organisation=row.organisation,
        note=row.note,
    )


def _audit_json(c: Credentials) -> dict[str, object]:
    return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in asdict(c).items()}
