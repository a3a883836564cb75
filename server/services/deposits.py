"""Deposits: money arriving from outside, shown with its fee before anyone pays.

Families pay through the payment gateway (channels online, kiosk, phone); support staff record
live-operator and mail deposits with the money-order or call reference. Either way the money
is available at once.

A gateway deposit, in order: check the request and quote it; return the first receipt if the
caller's idempotency key was already used (409 if for a different request); authorise and
capture the total at the processor, outside any database transaction (the processor is slow
and may time out); post the deposit to the ledger with the processor's reference. The
processor sees the same idempotency key on every retry, so a time-out followed by a retry finds
the first authorisation and the card is charged once; the ledger's key makes the posting
happen once.

Which account, and which facility's tariff prices it: see `deposit_accounts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from server.domain.ledger import TransactionKind
from server.domain.permissions import Action
from server.domain.tariff import (
    DEFAULT_TARIFF,
    GATEWAY_CHANNELS,
    STAFF_CHANNELS,
    Channel,
    quote_deposit,
)
from server.errors import Conflict, FieldErrors, Forbidden
from server.services import ledger
from server.services.audit import record_staff_action
from server.services.context import Principal, Services
from server.services.deposit_accounts import AccountSpec, Target, access_target_in, canonical
from server.services.tariffs import tariff_in
from server.storage.models import AuditEntry, LedgerTransaction

STAFF_DEPOSIT_ACTION = "deposit.record"


@dataclass(frozen=True)
class DepositQuote:
    target: Target
    channel: Channel
    amount_cents: int
    fee_cents: int
    total_cents: int


@dataclass(frozen=True)
class DepositReceipt:
    id: int
    created_at: datetime
    account: dict[str, Any]
    channel: Channel
    amount_cents: int
    fee_cents: int
    total_cents: int
    reference: str | None
    replayed: bool = False
    recorded_by: int | None = None  # the staff member, for recorded deposits


# --- quoting ------------------------------------------------------------------------------


async def check_deposit(
    svc: Services,
    actor: Principal,
    *,
    account: AccountSpec,
    amount_cents: int,
    channel: Channel,
    family_account_id: int | None = None,
) -> DepositQuote:
    """Find the account (404 if the actor may not fund it) and price the deposit. Moves
    nothing: this is also the fee preview."""
    ledger.check_amount(amount_cents)
    if not (actor.may(Action.DEPOSIT_PAY) or actor.may(Action.DEPOSIT_RECORD)):
        raise Forbidden("Deposits are made by family members or staff.", code="wrong_account_kind")
    async with svc.db.read() as tx:
        target = await access_target_in(
            tx, actor, account=account, family_account_id=family_account_id
        )
        tariff = (
            await tariff_in(tx, facility_id=target.facility_id)
            if target.facility_id is not None
            else DEFAULT_TARIFF
        )
    quote = quote_deposit(
        tariff, account_kind=target.ref.kind, channel=channel, amount_cents=amount_cents
    )
    return DepositQuote(target, channel, quote.amount_cents, quote.fee_cents, quote.total_cents)


# --- paying -------------------------------------------------------------------------------


def _details(quote: DepositQuote, idem: ledger.Idempotency, **extra: Any) -> dict[str, Any]:
    return {
        "channel": quote.channel.value,
        "account": quote.target.shown,
        "amount_cents": quote.amount_cents,
        "fee_cents": quote.fee_cents,
        "total_cents": quote.total_cents,
        # What the depositor asked, to tell a retry from another request with the same key.
        "request_digest": idem.request_hash,
        **extra,
    }


def _receipt(
    *,
    id: int,
    created_at: datetime,
    reference: str | None,
    details: dict[str, Any],
    replayed: bool,
) -> DepositReceipt:
    return DepositReceipt(
        id=id,
        created_at=created_at,
        account=dict(details["account"]),
        channel=Channel(details["channel"]),
        amount_cents=int(details["amount_cents"]),
        fee_cents=int(details["fee_cents"]),
        total_cents=int(details["total_cents"]),
        reference=reference,
        replayed=replayed,
        recorded_by=details.get("recorded_by"),
    )


def _posted(r: ledger.Receipt) -> DepositReceipt:
    return _receipt(
        id=r.transaction_id,
        created_at=r.created_at,
        reference=r.reference,
        details=r.details,
        replayed=r.replayed,
    )


async def _earlier(svc: Services, idem: ledger.Idempotency) -> DepositReceipt | None:
    """The first receipt for this key, or 409 if the key was used for another request.
    Checked before the processor is asked again: a processor forgets keys after a while (a
    day, often), the ledger never does."""
    async with svc.db.read() as tx:
        txn = await tx.scalar(
            select(LedgerTransaction).where(
                LedgerTransaction.idem_scope == idem.scope,
                LedgerTransaction.idem_key == idem.key,
            )
        )
    if txn is None:
        return None
    if (
        txn.kind != TransactionKind.DEPOSIT.value
        or txn.details.get("request_digest") != idem.request_hash
    ):
        raise Conflict(ledger.KEY_REUSED, code="idempotency_key_reused")
    return _receipt(
        id=txn.id,
        created_at=txn.created_at,
        reference=txn.reference,
        details=txn.details,
        replayed=True,
    )


async def do_gateway_deposit(
    svc: Services,
    actor: Principal,
    *,
    account: AccountSpec,
    amount_cents: int,
    channel: Channel,
    payment_token: str,
    idempotency_key: str,
) -> DepositReceipt:
    """A family member pays through the gateway; the receipt (the first one, on a retry)."""
    if not actor.may(Action.DEPOSIT_PAY):
        raise Forbidden("Only family accounts pay deposits by card.", code="wrong_account_kind")
    if channel not in GATEWAY_CHANNELS:
        raise FieldErrors({"channel": "Operator and mail deposits are recorded by support staff."})
    ledger.check_amount(amount_cents)
    idem = ledger.Idempotency(
        scope=str(actor.party),
        key=idempotency_key,
        request={
            "op": "deposit",
            "account": canonical(account),
            "amount_cents": amount_cents,
            "channel": channel.value,
        },
    )
    earlier = await _earlier(svc, idem)
    if earlier is not None:
        return earlier
    quote = await check_deposit(
        svc, actor, account=account, amount_cents=amount_cents, channel=channel
    )
    gateway = svc.gateway
    authorisation = await gateway.authorise(
        amount_cents=quote.total_cents,
        token=payment_token,
        idempotency_key=f"{idem.scope}:{idem.key}",
    )
    if authorisation.amount_cents != quote.total_cents:
        # The processor remembers this key for another amount (a timed-out first attempt
        # with different figures): never capture it for this request.
        raise Conflict(ledger.KEY_REUSED, code="idempotency_key_reused")
    await gateway.capture(authorisation)
    receipt = await ledger.do_deposit(
        svc,
        target=quote.target.ref,
        amount_cents=quote.amount_cents,
        fee_cents=quote.fee_cents,
        idem=idem,
        facility_id=quote.target.facility_id,
        reference=authorisation.reference,
        details=_details(quote, idem, gateway=gateway.name),
    )
    return _posted(receipt)


async def do_record_deposit(
    svc: Services,
    actor: Principal,
    *,
    account: AccountSpec,
    family_account_id: int | None,
    amount_cents: int,
    channel: Channel,
    reference: str,
    idempotency_key: str,
) -> DepositReceipt:
    """Support staff (or the facility's admin) record a live-operator or mail deposit: no
    gateway, the tariff's fee for that channel, the money order / call reference kept, and
    an audit entry."""
    if not actor.may(Action.DEPOSIT_RECORD):
        raise Forbidden("Only support staff or a facility admin can record deposits.")
    if channel not in STAFF_CHANNELS:
        raise FieldErrors({"channel": "Staff record operator and mail deposits only."})
    ledger.check_amount(amount_cents)
    reference = reference.strip()
    if not reference:
        raise FieldErrors({"reference": "Give the money order or call reference number."})
    idem = ledger.Idempotency(
        scope=str(actor.party),
        key=idempotency_key,
        request={
            "op": "staff_deposit",
            "account": canonical(account),
            "family_account_id": family_account_id,
            "amount_cents": amount_cents,
            "channel": channel.value,
            "reference": reference,
        },
    )
    receipt = await _earlier(svc, idem)
    if receipt is None:
        quote = await check_deposit(
            svc,
            actor,
            account=account,
            amount_cents=amount_cents,
            channel=channel,
            family_account_id=family_account_id,
        )
        await _refuse_recorded_twice(svc, reference=reference)
        posted = await ledger.do_deposit(
            svc,
            target=quote.target.ref,
            amount_cents=quote.amount_cents,
            fee_cents=quote.fee_cents,
            idem=idem,
            facility_id=quote.target.facility_id,
            reference=reference,
            details=_details(quote, idem, recorded_by=actor.id),
        )
        receipt = _posted(posted)
    await _audit_once(svc, actor, receipt)
    return receipt


async def _refuse_recorded_twice(svc: Services, *, reference: str) -> None:
    """A money order or call reference is credited once, whoever records it (two staff
    members keying in the same money order have different idempotency keys)."""
    async with svc.db.read() as tx:
        found = await tx.scalar(
            select(LedgerTransaction.id).where(
                LedgerTransaction.kind == TransactionKind.DEPOSIT.value,
                LedgerTransaction.idem_scope.like("staff:%"),
                LedgerTransaction.reference == reference,
            )
        )
    if found is not None:
        raise Conflict(
            f"Reference {reference} was already recorded (transaction {found}).",
            code="reference_already_recorded",
        )


async def _audit_once(svc: Services, actor: Principal, receipt: DepositReceipt) -> None:
    """The audit entry for a recorded deposit. The ledger posts in a transaction of its own,
    so this follows in a second one; a retry with the same key writes it if it is missing."""
    async with svc.db.transaction() as tx:
        exists = await tx.scalar(
            select(AuditEntry.id).where(
                AuditEntry.action == STAFF_DEPOSIT_ACTION,
                AuditEntry.target_type == "ledger_transaction",
                AuditEntry.target_id == receipt.id,
            )
        )
        if exists is not None:
            return
        txn = await tx.get(LedgerTransaction, receipt.id)
        await record_staff_action(
            tx,
            staff=actor,
            at=svc.clock.now(),
            action=STAFF_DEPOSIT_ACTION,
            facility_id=txn.facility_id if txn is not None else None,
            target_type="ledger_transaction",
            target_id=receipt.id,
            reason=f"{receipt.channel} deposit, reference {receipt.reference}",
            details={
                "account": receipt.account,
                "channel": receipt.channel.value,
                "amount_cents": receipt.amount_cents,
                "fee_cents": receipt.fee_cents,
                "reference": receipt.reference,
            },
        )
