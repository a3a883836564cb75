"""Customer care, the staff side of a family's money: find a family account, see its balances,
contacts and wallet statement. Refunds and credits are in `server/services/refund_requests.py`.

Who may: support staff and facility admins (`check_care_staff`, the permission table's
`care.read` and `refund`). Reviewers moderate content and have no business with families'
money: 403. Global support staff (role support, no facility)
see every family account; everyone else only the families that have a contact (of any status)
in their own facility, and anything else is 404 (`access_family_in`), so existence never leaks.

Looking is a staff action too: every search and every view of an account is in the audit log
("account.search", "account.view"), written in the transaction that checks the access.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.ledger import TransactionKind, family_wallet
from server.domain.permissions import Action, Role
from server.errors import Forbidden, NotFound
from server.services import ledger
from server.services.audit import record_staff_action
from server.services.context import Principal, Services
from server.storage.models import (
    Contact,
    Facility,
    FamilyAccount,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Resident,
)

NO_FAMILY = "No such family account."
# What a facility's staff see of a wallet line that belongs to another facility: the amount
# and balance (the wallet is one account and must add up) but not what it was for.
ELSEWHERE = "Activity at another facility"


def check_care_staff(actor: Principal, action: Action = Action.CARE_READ) -> None:
    """Support staff and facility admins only (`action`: care.read, or refund)."""
    if not actor.may(action):
        raise Forbidden(
            "Customer care is for support staff and facility admins.", code="not_customer_care"
        )


def is_global(actor: Principal) -> bool:
    """Support staff who serve every facility."""
    return actor.acting_role is Role.GLOBAL_SUPPORT


def may_see_facility(actor: Principal, facility_id: int | None) -> bool:
    """Global support see everything; other staff only their own facility's (not the
    house's own, facility-less records)."""
    return is_global(actor) or (facility_id is not None and facility_id == actor.facility_id)


def _family_visible(actor: Principal) -> ColumnElement[bool]:
    if is_global(actor):
        return true()
    if actor.facility_id is None:
        return false()
    return FamilyAccount.id.in_(
        select(Contact.family_account_id).where(Contact.facility_id == actor.facility_id)
    )


async def access_family_in(
    tx: AsyncSession, actor: Principal, *, family_account_id: int
) -> FamilyAccount:
    """The family account, if this staff member may see it; else not found."""
    family = await tx.scalar(
        select(FamilyAccount).where(FamilyAccount.id == family_account_id, _family_visible(actor))
    )
    if family is None:
        raise NotFound(NO_FAMILY)
    return family


# --- views -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyView:
    id: int
    username: str
    first_name: str
    last_name: str
    email: str
    status: str
    created_at: datetime

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class FamilyContact:
    id: int
    status: str
    relationship: str
    facility_id: int
    facility_name: str
    resident_id: int
    resident_number: str
    resident_name: str


@dataclass(frozen=True)
class FamilyDetail:
    family: FamilyView
    balances: list[ledger.Balance]
    contacts: list[FamilyContact]


@dataclass(frozen=True)
class CareLine:
    """A wallet statement line as staff see it; `refundable_cents` on charges only."""

    posting_id: int
    transaction_id: int
    at: datetime
    kind: TransactionKind
    memo: str
    amount_cents: int
    balance_after_cents: int
    reference: str | None
    facility_id: int | None
    refundable_cents: int | None
    redacted: bool = False  # another facility's line: memo and reference withheld


def _family_view(f: FamilyAccount) -> FamilyView:
    return FamilyView(
        id=f.id,
        username=f.username,
        first_name=f.first_name,
        last_name=f.last_name,
        email=f.email,
        status=f.status,
        created_at=f.created_at,
    )


def _like(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- use cases ---------------------------------------------------------------------------


async def search_families(
    svc: Services, actor: Principal, *, q: str, limit: int = 20
) -> list[FamilyView]:
    """Family accounts whose username, e-mail or name contains `q` (or whose id is `q`)."""
    check_care_staff(actor)
    pattern = _like(q)
    name = func.lower(FamilyAccount.first_name + " " + FamilyAccount.last_name)
    matches: list[ColumnElement[bool]] = [
        FamilyAccount.username_key.like(pattern, escape="\\"),
        FamilyAccount.email_key.like(pattern, escape="\\"),
        name.like(pattern, escape="\\"),
    ]
    if q.isdigit() and len(q) <= 18:
        matches.append(FamilyAccount.id == int(q))
    stmt = (
        select(FamilyAccount)
        .where(or_(*matches), _family_visible(actor))
        .order_by(FamilyAccount.last_name, FamilyAccount.first_name, FamilyAccount.id)
        .limit(limit)
    )
    async with svc.db.transaction() as tx:
        found = [_family_view(f) for f in (await tx.scalars(stmt)).all()]
        await record_staff_action(
            tx,
            staff=actor,
            at=svc.clock.now(),
            action="account.search",
            facility_id=actor.facility_id,
            details={"q": q, "found": len(found)},
        )
    return found


async def view_family(svc: Services, actor: Principal, *, family_account_id: int) -> FamilyDetail:
    """The account, its balances (holds apart) and its contacts (facility staff: only
    their facility's contacts)."""
    check_care_staff(actor)
    async with svc.db.transaction() as tx:
        family = await access_family_in(tx, actor, family_account_id=family_account_id)
        stmt = (
            select(Contact, Resident, Facility)
            .join(Resident, Resident.id == Contact.resident_id)
            .join(Facility, Facility.id == Contact.facility_id)
            .where(Contact.family_account_id == family.id)
            .order_by(Contact.updated_at.desc(), Contact.id.desc())
        )
        if not is_global(actor):
            stmt = stmt.where(Contact.facility_id == actor.facility_id)
        contacts = [
            FamilyContact(
                id=c.id,
                status=c.status,
                relationship=c.relationship,
                facility_id=fac.id,
                facility_name=fac.name,
                resident_id=r.id,
                resident_number=r.resident_number,
                resident_name=f"{r.first_name} {r.last_name}",
            )
            for c, r, fac in (await tx.execute(stmt)).all()
        ]
        await record_staff_action(
            tx,
            staff=actor,
            at=svc.clock.now(),
            action="account.view",
            facility_id=actor.facility_id,
            target_type="family_account",
            target_id=family.id,
            details={"part": "summary"},
        )
    balances = await ledger.balances(svc, family_account_id=family.id)
    return FamilyDetail(family=_family_view(family), balances=balances, contacts=contacts)


async def family_statement(
    svc: Services,
    actor: Principal,
    *,
    family_account_id: int,
    account_id: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[CareLine]:
    """One of the family's ledger accounts (by default the wallet), newest first, paged by
    posting id. Facility staff see lines of other facilities' transactions without memo or
    reference (`ELSEWHERE`)."""
    check_care_staff(actor)
    async with svc.db.transaction() as tx:
        family = await access_family_in(tx, actor, family_account_id=family_account_id)
        if account_id is None:
            wallet_key = family_wallet(family.id).owner_key
            account_id = await tx.scalar(
                select(LedgerAccount.id).where(LedgerAccount.owner_key == wallet_key)
            )
        elif not await tx.scalar(
            select(LedgerAccount.id).where(
                LedgerAccount.id == account_id, LedgerAccount.family_account_id == family.id
            )
        ):
            raise NotFound("This family has no such account.")
        await record_staff_action(
            tx,
            staff=actor,
            at=svc.clock.now(),
            action="account.view",
            facility_id=actor.facility_id,
            target_type="family_account",
            target_id=family.id,
            details={"part": "statement", "account_id": account_id, "before": before},
        )
    if account_id is None:
        return []  # no money has moved for this family yet
    lines = await ledger.statement(svc, account_id=account_id, before=before, limit=limit)
    facilities, refunded = await _line_facts(svc, account_id=account_id, lines=lines)
    out: list[CareLine] = []
    for line in lines:
        facility_id = facilities.get(line.transaction_id)
        visible = may_see_facility(actor, facility_id) or facility_id is None
        refundable = None
        if line.kind is TransactionKind.CHARGE and line.amount_cents < 0 and visible:
            refundable = -line.amount_cents - refunded.get(line.transaction_id, 0)
        out.append(
            CareLine(
                posting_id=line.posting_id,
                transaction_id=line.transaction_id,
                at=line.at,
                kind=line.kind,
                memo=line.memo if visible else ELSEWHERE,
                amount_cents=line.amount_cents,
                balance_after_cents=line.balance_after_cents,
                reference=line.reference if visible else None,
                facility_id=facility_id,
                refundable_cents=refundable,
                redacted=not visible,
            )
        )
    return out


async def _line_facts(
    svc: Services, *, account_id: int, lines: list[ledger.StatementLine]
) -> tuple[dict[int, int | None], dict[int, int]]:
    """Each line's facility, and how much of each charge was already refunded to this
    account."""
    ids = [line.transaction_id for line in lines]
    if not ids:
        return {}, {}
    async with svc.db.read() as tx:
        facilities = dict(
            (
                await tx.execute(
                    select(LedgerTransaction.id, LedgerTransaction.facility_id).where(
                        LedgerTransaction.id.in_(ids)
                    )
                )
            ).all()
        )
        refunded = dict(
            (
                await tx.execute(
                    select(LedgerTransaction.corrects_id, func.sum(LedgerPosting.amount_cents))
                    .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
                    .where(
                        LedgerTransaction.kind == TransactionKind.REFUND.value,
                        LedgerTransaction.corrects_id.in_(ids),
                        LedgerPosting.account_id == account_id,
                    )
                    .group_by(LedgerTransaction.corrects_id)
                )
            ).all()
        )
    return facilities, {int(k): int(v or 0) for k, v in refunded.items() if k is not None}
