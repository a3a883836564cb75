"""The ledger's guarantees, checked straight from the tables (shared by the example tests and the
state-machine test)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select

from server.domain.ledger import AccountKind, SystemCode, system
from server.storage.db import Database
from server.storage.models import Hold, LedgerAccount, LedgerPosting, LedgerTransaction


@dataclass(frozen=True)
class LedgerState:
    balances: dict[str, int]  # owner_key -> balance_cents, every account row
    transactions: int
    postings: int
    holds: int


async def ledger_state(db: Database) -> LedgerState:
    """Assert every guarantee of DESIGN.md §4 that the tables can show, and return what is there.

    - each transaction has postings, and they sum to zero;
    - each account's balance equals the sum of its postings, and every posting's
      balance_after equals the running sum of that account's postings up to it (in id order);
    - no account that may not go negative is below zero;
    - each (idem_scope, idem_key) appears at most once;
    - the visit-holds account holds exactly what the open holds say.
    """
    async with db.read() as tx:
        accounts = (
            await tx.execute(
                select(
                    LedgerAccount.id,
                    LedgerAccount.owner_key,
                    LedgerAccount.kind,
                    LedgerAccount.balance_cents,
                    LedgerAccount.may_go_negative,
                )
            )
        ).all()
        postings = (
            await tx.execute(
                select(
                    LedgerPosting.transaction_id,
                    LedgerPosting.account_id,
                    LedgerPosting.amount_cents,
                    LedgerPosting.balance_after_cents,
                ).order_by(LedgerPosting.id)
            )
        ).all()
        transaction_ids = set((await tx.scalars(select(LedgerTransaction.id))).all())
        reused = (
            await tx.execute(
                select(LedgerTransaction.idem_scope, LedgerTransaction.idem_key)
                .group_by(LedgerTransaction.idem_scope, LedgerTransaction.idem_key)
                .having(func.count() > 1)
            )
        ).all()
        open_holds = await tx.scalar(
            select(func.coalesce(func.sum(Hold.amount_cents), 0)).where(Hold.status == "open")
        )
        holds = await tx.scalar(select(func.count()).select_from(Hold))

    assert not reused, f"idempotency keys used twice: {reused}"
    per_transaction: dict[int, list[int]] = defaultdict(list)
    running: dict[int, int] = defaultdict(int)
    for transaction_id, account_id, amount, after in postings:
        per_transaction[transaction_id].append(amount)
        running[account_id] += amount
        assert after == running[account_id], (
            f"posting of {amount} on account {account_id} says {after}, "
            f"its postings add up to {running[account_id]}"
        )
    assert set(per_transaction) == transaction_ids, "a transaction without postings"
    for transaction_id, amounts in per_transaction.items():
        assert len(amounts) >= 2 and sum(amounts) == 0, (transaction_id, amounts)

    balances: dict[str, int] = {}
    for account_id, owner_key, kind, balance, may_go_negative in accounts:
        assert balance == running.get(account_id, 0), (owner_key, balance, running[account_id])
        if not may_go_negative:
            assert balance >= 0, (owner_key, balance)
        if kind != AccountKind.SYSTEM.value:
            assert not may_go_negative, owner_key
        balances[owner_key] = balance
    assert balances.get(system(SystemCode.VISIT_HOLDS).owner_key, 0) == open_holds
    return LedgerState(
        balances=balances,
        transactions=len(transaction_ids),
        postings=len(postings),
        holds=int(holds or 0),
    )
