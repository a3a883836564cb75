"""The account a deposit is for: named by the depositor, found here, or not found.

Families fund their own wallet and Prepaid Collect accounts, the wallet and PIN Debit account
of a resident they have an approved contact with, and any resident's trust account, which is
identified by facility, number and name. Staff fund the accounts of their facility's people
(global support staff: anyone's). Whatever the actor may not fund is "not found".

Which facility's tariff applies: the resident's for a resident's account; for a family
member's own wallet and PPC accounts, which belong to no facility, the facility of their first
approved contact (the oldest), or none (the default tariff) while they have no contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.contacts import ContactStatus
from server.domain.ledger import AccountKind, AccountRef, family_wallet, resident_wallet
from server.domain.permissions import Role
from server.errors import FieldErrors, NotFound
from server.services.context import Principal, PrincipalKind
from server.storage.models import Contact, FamilyAccount, Resident

NO_RESIDENT = "No such resident."
# One answer for every way a trust deposit's identification can be wrong, so that it never
# tells which of facility, number, first or last name did not match.
NOT_IDENTIFIED = (
    "No resident matches this facility, resident number and name. Check them and try again."
)


class AccountType(StrEnum):
    """What a depositor names; see `AccountSpec`."""

    WALLET = "wallet"  # the family member's own wallet (staff: `family_account_id`'s)
    RESIDENT_WALLET = "resident_wallet"
    PIN_DEBIT = "pin_debit"
    PPC = "ppc"  # a family member's Prepaid Collect account for one phone number
    TRUST = "trust"


@dataclass(frozen=True)
class AccountSpec:
    """The account a deposit is for, as the depositor names it (untrusted)."""

    type: AccountType
    resident_id: int | None = None
    phone: str | None = None
    facility_id: int | None = None
    resident_number: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True)
class Target:
    ref: AccountRef
    facility_id: int | None  # whose tariff applies; None: the default tariff
    shown: dict[str, Any]  # how quotes and receipts name the account


# --- pure checks --------------------------------------------------------------------------


def check_phone(raw: str | None, *, field_name: str = "account.phone") -> str:
    """A phone number in E.164 ("+15185550142"); national numbers are read as US numbers."""
    number = None
    try:
        number = phonenumbers.parse(raw or "", "US")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise FieldErrors(
            {field_name: "Enter a valid phone number, such as (518) 555-0142 or +15185550142."}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def canonical(spec: AccountSpec) -> dict[str, Any]:
    """The account as the request names it, normalised: what the idempotency digest covers."""
    if spec.type is AccountType.PPC:
        return {"type": spec.type.value, "phone": check_phone(spec.phone)}
    if spec.type is AccountType.TRUST:
        return {
            "type": spec.type.value,
            "facility_id": spec.facility_id,
            "resident_number": _fold(spec.resident_number),
            "first_name": _fold(spec.first_name),
            "last_name": _fold(spec.last_name),
        }
    if spec.type is AccountType.WALLET:
        return {"type": spec.type.value}
    return {"type": spec.type.value, "resident_id": spec.resident_id}


def _fold(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


_ACCOUNT_KIND = {
    AccountType.WALLET: AccountKind.FAMILY_WALLET,
    AccountType.RESIDENT_WALLET: AccountKind.RESIDENT_WALLET,
    AccountType.PIN_DEBIT: AccountKind.PIN_DEBIT,
    AccountType.PPC: AccountKind.PPC,
    AccountType.TRUST: AccountKind.TRUST,
}


# --- finding the account ------------------------------------------------------------------


async def _family_facility(tx: AsyncSession, family_account_id: int) -> int | None:
    """The facility whose tariff a family member's own accounts use (see the module doc)."""
    return await tx.scalar(
        select(Contact.facility_id)
        .where(
            Contact.family_account_id == family_account_id,
            Contact.status == ContactStatus.APPROVED.value,
        )
        .order_by(Contact.id)
        .limit(1)
    )


async def _identify(tx: AsyncSession, spec: AccountSpec) -> Resident:
    """A trust deposit's resident, by facility, number and name; one answer for any mismatch."""
    found = await tx.scalar(
        select(Resident).where(
            Resident.facility_id == spec.facility_id,
            # Numbers are read back over the phone and typed in any case.
            func.upper(Resident.resident_number) == (spec.resident_number or "").strip().upper(),
        )
    )
    if (
        found is None
        or not found.active
        or _fold(found.first_name) != _fold(spec.first_name)
        or _fold(found.last_name) != _fold(spec.last_name)
    ):
        raise NotFound(NOT_IDENTIFIED, code="resident_not_identified")
    return found


def _resident_shown(spec: AccountSpec, resident: Resident) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "type": spec.type.value,
        "resident_id": resident.id,
        "resident_name": f"{resident.first_name} {resident.last_name}",
    }
    if spec.type is AccountType.TRUST:
        shown["facility_id"] = resident.facility_id
        shown["resident_number"] = resident.resident_number
    return shown


async def _resident_target(tx: AsyncSession, actor: Principal, spec: AccountSpec) -> Target:
    if spec.type is AccountType.TRUST:
        resident = await _identify(tx, spec)
        if actor.kind is PrincipalKind.STAFF and not actor.may_staff(resident.facility_id):
            raise NotFound(NOT_IDENTIFIED, code="resident_not_identified")
    else:
        found = await tx.get(Resident, spec.resident_id) if spec.resident_id else None
        if found is None or not found.active or not await _may_fund(tx, actor, found):
            raise NotFound(NO_RESIDENT)
        resident = found
    kind = _ACCOUNT_KIND[spec.type]
    ref = (
        resident_wallet(resident.id)
        if kind is AccountKind.RESIDENT_WALLET
        else AccountRef(kind, resident_id=resident.id)
    )
    return Target(ref, resident.facility_id, _resident_shown(spec, resident))


async def _may_fund(tx: AsyncSession, actor: Principal, resident: Resident) -> bool:
    """Families fund a resident's wallet or PIN Debit only through an approved contact."""
    if actor.kind is PrincipalKind.STAFF:
        return actor.may_staff(resident.facility_id)
    contact = await tx.scalar(
        select(Contact.id).where(
            Contact.family_account_id == actor.id,
            Contact.resident_id == resident.id,
            Contact.status == ContactStatus.APPROVED.value,
        )
    )
    return contact is not None


async def _family_target(
    tx: AsyncSession, actor: Principal, spec: AccountSpec, *, family_account_id: int | None
) -> Target:
    if actor.kind is PrincipalKind.FAMILY:
        owner = actor.id
    else:
        account = await tx.get(FamilyAccount, family_account_id) if family_account_id else None
        if account is None or account.status != "active":
            raise NotFound("No such family account.")
        owner = account.id
    facility_id = await _family_facility(tx, owner)
    if actor.kind is PrincipalKind.STAFF and not _may_record_for(actor, facility_id):
        raise NotFound("No such family account.")
    shown: dict[str, Any] = {"type": spec.type.value}
    if actor.kind is PrincipalKind.STAFF:
        shown["family_account_id"] = owner
    if spec.type is AccountType.PPC:
        phone = check_phone(spec.phone)
        shown["phone"] = phone
        return Target(
            AccountRef(AccountKind.PPC, family_account_id=owner, phone=phone), facility_id, shown
        )
    return Target(family_wallet(owner), facility_id, shown)


def _may_record_for(actor: Principal, facility_id: int | None) -> bool:
    """Global support staff for anyone; a facility's staff for that facility's people."""
    if facility_id is None:
        return actor.acting_role is Role.GLOBAL_SUPPORT
    return actor.may_staff(facility_id)


async def access_target_in(
    tx: AsyncSession,
    actor: Principal,
    *,
    account: AccountSpec,
    family_account_id: int | None = None,
) -> Target:
    """The account `actor` may fund, inside the caller's transaction, or NotFound. Staff name
    whose wallet or PPC account with `family_account_id`."""
    if account.type in (AccountType.WALLET, AccountType.PPC):
        if actor.kind is PrincipalKind.STAFF and family_account_id is None:
            raise FieldErrors({"family_account_id": "Name the family account to credit."})
        return await _family_target(tx, actor, account, family_account_id=family_account_id)
    return await _resident_target(tx, actor, account)
