"""Money for families and residents: balances, statements (JSON or CSV), deposit quotes and
deposits; staff-recorded operator and mail deposits."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from server.appkeys import SERVICES
from server.domain.ledger import AccountKind
from server.domain.tariff import Channel
from server.http.api import Endpoint
from server.http.auth import route_actor
from server.http.parsing import idempotency_key, parse_json, parse_query
from server.http.schemas_wallet import (
    DepositBody,
    PpcAccount,
    QuoteBody,
    ResidentAccount,
    StaffDepositBody,
    StatementQuery,
    TrustAccount,
    WalletAccount,
)
from server.services import deposits, wallet
from server.services.context import PrincipalKind
from server.services.deposit_accounts import AccountSpec, AccountType
from server.services.ledger import StatementLine

F = PrincipalKind.FAMILY
CSV_MAX_LINES = 10_000


def _spec(account: WalletAccount | ResidentAccount | PpcAccount | TrustAccount) -> AccountSpec:
    kind = AccountType(account.type)
    if isinstance(account, ResidentAccount):
        return AccountSpec(kind, resident_id=account.resident_id)
    if isinstance(account, PpcAccount):
        return AccountSpec(kind, phone=account.phone)
    if isinstance(account, TrustAccount):
        return AccountSpec(
            kind,
            facility_id=account.facility_id,
            resident_number=account.resident_number,
            first_name=account.first_name,
            last_name=account.last_name,
        )
    return AccountSpec(kind)


# --- answers ------------------------------------------------------------------------------


def balance_json(b: wallet.AccountBalance) -> dict[str, Any]:
    out: dict[str, Any] = {
        "account_id": b.account_id,
        "balance_cents": b.balance_cents,
        "held_cents": b.held_cents,
    }
    if b.kind is AccountKind.PPC:
        out["phone"] = b.phone
    return out


def wallet_json(view: wallet.WalletView) -> dict[str, Any]:
    out: dict[str, Any] = {"owner": view.owner.value, "wallet": balance_json(view.wallet)}
    if view.owner is F:
        out["ppc"] = [balance_json(p) for p in view.ppc]
    if view.pin_debit is not None:
        out["pin_debit"] = balance_json(view.pin_debit)
    if view.trust is not None:
        out["trust"] = balance_json(view.trust)
    return out


def quote_json(q: deposits.DepositQuote) -> dict[str, Any]:
    return {
        "account": q.target.shown,
        "channel": q.channel.value,
        "amount_cents": q.amount_cents,
        "fee_cents": q.fee_cents,
        "total_cents": q.total_cents,
    }


def receipt_json(r: deposits.DepositReceipt) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "created_at": r.created_at.isoformat(),
        "account": r.account,
        "channel": r.channel.value,
        "amount_cents": r.amount_cents,
        "fee_cents": r.fee_cents,
        "total_cents": r.total_cents,
        "reference": r.reference,
    }
    if r.recorded_by is not None:
        out["recorded_by"] = r.recorded_by
    return out


def line_json(line: StatementLine) -> dict[str, Any]:
    return {
        "id": line.posting_id,
        "transaction_id": line.transaction_id,
        "at": line.at.isoformat(),
        "kind": line.kind.value,
        "description": line.memo,
        "amount_cents": line.amount_cents,
        "balance_after_cents": line.balance_after_cents,
        "reference": line.reference,
    }


def dollars(cents: int) -> str:
    """Decimal dollars for spreadsheets: -0.50, 1234.00 (no separators, never a float)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def _cell(text: str) -> str:
    # A spreadsheet runs a cell that starts like a formula; a memo may hold staff-written text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def statement_csv(page: wallet.StatementPage) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["date", "transaction", "kind", "description", "amount", "balance"])
    for line in page.lines:
        writer.writerow(
            [
                line.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                line.transaction_id,
                line.kind.value,
                _cell(line.memo),
                dollars(line.amount_cents),
                dollars(line.balance_after_cents),
            ]
        )
    return out.getvalue()


# --- handlers -----------------------------------------------------------------------------


async def get_wallet(request: web.Request) -> web.Response:
    actor = await route_actor(request)
    view = await wallet.access_wallet(request.app[SERVICES], actor)
    return web.json_response(wallet_json(view))


async def get_statement(request: web.Request) -> web.Response:
    query = parse_query(request, StatementQuery)
    actor = await route_actor(request)
    as_csv = query.format == "csv"
    page = await wallet.access_statement(
        request.app[SERVICES],
        actor,
        account_id=query.account_id,
        before=query.before,
        since=query.from_,
        until=query.to,
        limit=query.limit or (CSV_MAX_LINES if as_csv else 50),
    )
    if as_csv:
        name = f"homeline-statement-{page.account.account_id or 'wallet'}.csv"
        response = web.Response(
            text=statement_csv(page),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
        if page.next_before is not None:
            response.headers["X-Next-Before"] = str(page.next_before)
        return response
    return web.json_response(
        {
            "account": {"kind": page.account.kind.value, **balance_json(page.account)},
            "lines": [line_json(line) for line in page.lines],
            "next_before": page.next_before,
        }
    )


async def quote_deposit(request: web.Request) -> web.Response:
    body = await parse_json(request, QuoteBody)
    actor = await route_actor(request)
    quote = await deposits.check_deposit(
        request.app[SERVICES],
        actor,
        account=_spec(body.account),
        amount_cents=body.amount_cents,
        channel=Channel(body.channel),
    )
    return web.json_response(quote_json(quote))


async def make_deposit(request: web.Request) -> web.Response:
    body = await parse_json(request, DepositBody)
    key = idempotency_key(request, body.client_id)
    actor = await route_actor(request)
    receipt = await deposits.do_gateway_deposit(
        request.app[SERVICES],
        actor,
        account=_spec(body.account),
        amount_cents=body.amount_cents,
        channel=Channel(body.channel),
        payment_token=body.payment_token,
        idempotency_key=key,
    )
    return web.json_response(receipt_json(receipt), status=200 if receipt.replayed else 201)


async def record_deposit(request: web.Request) -> web.Response:
    body = await parse_json(request, StaffDepositBody)
    key = idempotency_key(request, body.client_id)
    actor = await route_actor(request)
    receipt = await deposits.do_record_deposit(
        request.app[SERVICES],
        actor,
        account=_spec(body.account),
        family_account_id=body.family_account_id,
        amount_cents=body.amount_cents,
        channel=Channel(body.channel),
        reference=body.reference,
        idempotency_key=key,
    )
    return web.json_response(receipt_json(receipt), status=200 if receipt.replayed else 201)


def endpoints() -> list[Endpoint]:
    t = "wallet"
    return [
        Endpoint(
            "GET",
            "/api/v1/wallet",
            get_wallet,
            "The caller's balances (family: wallet and PPC; resident: wallet, PIN Debit, trust)",
            t,
            auth="family|resident",
            errors=(403,),
        ),
        Endpoint(
            "GET",
            "/api/v1/wallet/statement",
            get_statement,
            "One of the caller's accounts, newest first, paged by next_before; ?format=csv",
            t,
            query=StatementQuery,
            auth="family|resident",
            errors=(403, 404),
            also_produces=("text/csv",),
        ),
        Endpoint(
            "POST",
            "/api/v1/deposits/quote",
            quote_deposit,
            "The fee and total of a deposit, before paying (moves nothing)",
            t,
            body=QuoteBody,
            auth="family",
            errors=(403, 404),
        ),
        Endpoint(
            "POST",
            "/api/v1/deposits",
            make_deposit,
            "Pay a deposit through the payment gateway (Idempotency-Key or client_id required)",
            t,
            body=DepositBody,
            auth="family",
            ok=201,
            also_ok=(200,),
            errors=(402, 403, 404, 409, 502),
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/deposits",
            record_deposit,
            "Support staff record a live-operator or mail deposit (audited)",
            t,
            body=StaffDepositBody,
            auth="staff",
            ok=201,
            also_ok=(200,),
            errors=(403, 404, 409),
        ),
    ]
