"""What a family member or resident sees of their own money: balances and statements.

Accounts are created on first use, so one that has never received money is shown with a
zero balance and no id. `balance_cents` is what can be spent now; `held_cents` is money set
aside for booked visits, already taken out of the balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from server.domain.ledger import AccountKind
from server.domain.permissions import Action
from server.errors import FieldErrors, Forbidden, NotFound
from server.services import ledger
from server.services.context import Principal, PrincipalKind, Services

NO_ACCOUNT = "No such account."
MAX_PAGE = 200


@dataclass(frozen=True)
class AccountBalance:
    kind: AccountKind
    account_id: int | None  # None until the account first receives money
    balance_cents: int = 0
    held_cents: int = 0
    phone: str | None = None


@dataclass(frozen=True)
class WalletView:
    owner: PrincipalKind
    wallet: AccountBalance
    ppc: tuple[AccountBalance, ...] = ()  # a family member's, one per phone number
    pin_debit: AccountBalance | None = None  # a resident's
    trust: AccountBalance | None = None  # a resident's


@dataclass(frozen=True)
class StatementPage:
    account: AccountBalance
    lines: tuple[ledger.StatementLine, ...]
    next_before: int | None  # pass as `before` for the next (older) page


def _owner(actor: Principal) -> tuple[AccountKind, dict[str, int]]:
    if not actor.may(Action.WALLET_READ):
        raise Forbidden("Staff have no wallet.", code="wrong_account_kind")
    if actor.kind is PrincipalKind.FAMILY:
        return AccountKind.FAMILY_WALLET, {"family_account_id": actor.id}
    if actor.kind is PrincipalKind.RESIDENT:
        return AccountKind.RESIDENT_WALLET, {"resident_id": actor.id}
    raise Forbidden("Staff have no wallet.", code="wrong_account_kind")


async def _accounts(svc: Services, actor: Principal) -> list[AccountBalance]:
    _, owner = _owner(actor)
    return [
        AccountBalance(b.kind, b.account_id, b.balance_cents, b.held_cents, b.phone)
        for b in await ledger.balances(svc, **owner)
    ]


async def access_wallet(svc: Services, actor: Principal) -> WalletView:
    """All of the caller's balances."""
    wallet_kind, _ = _owner(actor)
    owned = await _accounts(svc, actor)

    def one(kind: AccountKind) -> AccountBalance:
        return next((a for a in owned if a.kind is kind), AccountBalance(kind, None))

    if actor.kind is PrincipalKind.FAMILY:
        ppc = tuple(sorted((a for a in owned if a.kind is AccountKind.PPC), key=_by_phone))
        return WalletView(actor.kind, one(wallet_kind), ppc=ppc)
    return WalletView(
        actor.kind,
        one(wallet_kind),
        pin_debit=one(AccountKind.PIN_DEBIT),
        trust=one(AccountKind.TRUST),
    )


def _by_phone(a: AccountBalance) -> str:
    return a.phone or ""


async def access_statement(
    svc: Services,
    actor: Principal,
    *,
    account_id: int | None = None,
    before: int | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 50,
) -> StatementPage:
    """One page of one of the caller's own accounts (default: their wallet), newest first.
    `since` and `until` are UTC dates, both included. Anyone else's account is not found."""
    if limit < 1:
        raise FieldErrors({"limit": "Must be at least 1."})
    if since is not None and until is not None and since > until:
        raise FieldErrors({"from": "The start date must not be after the end date."})
    wallet_kind, _ = _owner(actor)
    owned = await _accounts(svc, actor)
    if account_id is None:
        account = next((a for a in owned if a.kind is wallet_kind), None)
        if account is None:
            return StatementPage(AccountBalance(wallet_kind, None), (), None)
    else:
        found = next((a for a in owned if a.account_id == account_id), None)
        if found is None:
            raise NotFound(NO_ACCOUNT)
        account = found
    assert account.account_id is not None
    lines = await ledger.statement(
        svc,
        account_id=account.account_id,
        before=before,
        since=_midnight(since) if since else None,
        until=_midnight(until + timedelta(days=1)) if until else None,
        limit=limit + 1,  # one more tells whether an older page exists
    )
    page = tuple(lines[:limit])
    more = len(lines) > limit
    return StatementPage(account, page, page[-1].posting_id if more else None)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)
