"""Reading the ledger: a person's balances (money on hold shown separately), an account's
statement, account ids by owner key. Imported through `server.services.ledger`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.ledger import AccountKind, AccountRef, TransactionKind
from server.services.context import Services
from server.storage.models import Hold, LedgerAccount, LedgerPosting, LedgerTransaction


@dataclass(frozen=True)
class Balance:
    account_id: int
    owner_key: str
    kind: AccountKind
    balance_cents: int  # available: money on hold has already left it
    held_cents: int  # set aside for booked visits, not yet captured or released
    phone: str | None
    resident_id: int | None


async def balances(
    svc: Services, *, family_account_id: int | None = None, resident_id: int | None = None
) -> list[Balance]:
    """Every account one person owns: a family member's (wallet, Prepaid Collect accounts) or a
    resident's (wallet, PIN Debit, trust). Exactly one of the two ids must be given."""
    if (family_account_id is None) == (resident_id is None):
        # Without an owner the filter would be "IS NULL" and list everybody else's accounts.
        raise ValueError("balances() takes exactly one of family_account_id and resident_id")
    stmt = select(LedgerAccount)
    if family_account_id is not None:
        stmt = stmt.where(LedgerAccount.family_account_id == family_account_id)
    else:
        stmt = stmt.where(LedgerAccount.resident_id == resident_id)
    async with svc.db.read() as tx:
        accounts = (await tx.scalars(stmt.order_by(LedgerAccount.id))).all()
        held = dict(
            (
                await tx.execute(
                    select(Hold.account_id, func.sum(Hold.amount_cents))
                    .where(Hold.status == "open", Hold.account_id.in_([a.id for a in accounts]))
                    .group_by(Hold.account_id)
                )
            ).all()
        )
    return [
        Balance(
            account_id=a.id,
            owner_key=a.owner_key,
            kind=AccountKind(a.kind),
            balance_cents=a.balance_cents,
            held_cents=int(held.get(a.id, 0)),
            phone=a.phone,
            resident_id=a.resident_id,
        )
        for a in accounts
    ]


async def available_in(tx: AsyncSession, accounts: Sequence[AccountRef]) -> list[int]:
    """The available balance of each account, in order (0 for one never used)."""
    keys = [a.owner_key for a in accounts]
    found = dict(
        (
            await tx.execute(
                select(LedgerAccount.owner_key, LedgerAccount.balance_cents).where(
                    LedgerAccount.owner_key.in_(keys)
                )
            )
        ).all()
    )
    return [int(found.get(key, 0)) for key in keys]


@dataclass(frozen=True)
class StatementLine:
    posting_id: int
    transaction_id: int
    at: datetime
    kind: TransactionKind
    memo: str
    amount_cents: int
    balance_after_cents: int
    reference: str | None


async def statement(
    svc: Services,
    *,
    account_id: int,
    before: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[StatementLine]:
    """Newest first, paged by posting id (`before`), optionally between two instants
    (`since` included, `until` excluded). The caller has checked that the account is the
    actor's."""
    stmt = (
        select(LedgerPosting, LedgerTransaction)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(LedgerPosting.account_id == account_id)
        .order_by(LedgerPosting.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(LedgerPosting.id < before)
    if since is not None:
        stmt = stmt.where(LedgerTransaction.created_at >= since)
    if until is not None:
        stmt = stmt.where(LedgerTransaction.created_at < until)
    async with svc.db.read() as tx:
        rows = (await tx.execute(stmt)).all()
    return [
        StatementLine(
            posting_id=p.id,
            transaction_id=t.id,
            at=t.created_at,
            kind=TransactionKind(t.kind),
            memo=t.memo,
            amount_cents=p.amount_cents,
            balance_after_cents=p.balance_after_cents,
            reference=t.reference,
        )
        for p, t in rows
    ]


async def account_ids_of(svc: Services, *, owner_keys: Sequence[str]) -> dict[str, int]:
    """The ids of those accounts that exist (an account is created by its first posting)."""
    async with svc.db.read() as tx:
        rows = (
            await tx.execute(
                select(LedgerAccount.owner_key, LedgerAccount.id).where(
                    LedgerAccount.owner_key.in_(list(owner_keys))
                )
            )
        ).all()
    return dict((k, i) for k, i in rows)
