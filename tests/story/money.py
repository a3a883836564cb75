"""Money through the API and the ledger: funding and balances, deposits with idempotency
keys, wallets, trust accounts, and a tariff within the caps."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.domain.ledger import AccountRef
from server.domain.tariff import DEFAULT_TARIFF
from server.services import ledger
from server.services.context import Services
from server.storage.models import LedgerAccount
from tests.story.stage import Actor, World


async def fund(services: Services, target: AccountRef, cents: int) -> None:
    await ledger.do_deposit(
        services,
        target=target,
        amount_cents=cents,
        fee_cents=0,
        idem=ledger.Idempotency("test", f"fund:{target.owner_key}:{cents}", {}),
        facility_id=None,
        reference=None,
        details={"channel": "test"},
    )


async def balance(services: Services, target: AccountRef) -> int:
    async with services.db.read() as tx:
        cents = await tx.scalar(
            select(LedgerAccount.balance_cents).where(LedgerAccount.owner_key == target.owner_key)
        )
    return int(cents or 0)


OK = "tok_sandbox_ok"
WALLET = {"type": "wallet"}


def new_key() -> str:
    return f"key-{secrets.token_hex(8)}"


async def call(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    actor: Actor,
    body: dict[str, Any] | None = None,
    *,
    key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    headers = dict(actor.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    resp = await client.request(method, path, json=body, headers=headers)
    data: dict[str, Any] = await resp.json()
    return resp.status, data


async def deposit(
    client: TestClient[Any, Any],
    actor: Actor,
    account: dict[str, Any],
    amount_cents: Any,
    *,
    token: str = OK,
    channel: str = "online",
    key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    body = {
        "account": account,
        "amount_cents": amount_cents,
        "channel": channel,
        "payment_token": token,
    }
    return await call(
        client, "POST", "/api/v1/deposits", actor, body, key=key if key is not None else new_key()
    )


async def connect_family(
    client: TestClient[Any, Any], family: Actor, resident: Actor, *, approve: bool = True
) -> int:
    """The family member asks to connect with the resident, who approves; the contact id."""
    status, contact = await call(
        client, "POST", "/api/v1/contacts", family, {"resident_id": resident.id}
    )
    assert status == 201, contact
    if approve:
        status, _ = await call(
            client, "POST", f"/api/v1/contacts/{contact['id']}/approve", resident
        )
        assert status == 200
    return int(contact["id"])


async def wallet_of(client: TestClient[Any, Any], actor: Actor) -> dict[str, Any]:
    status, data = await call(client, "GET", "/api/v1/wallet", actor)
    assert status == 200, data
    return data


def trust(world: World, **changes: Any) -> dict[str, Any]:
    account = {
        "type": "trust",
        "facility_id": world.facility_id,
        "resident_number": "A1001",
        "first_name": "Marcus",
        "last_name": "Reed",
    }
    account.update(changes)
    return account


def compliant_body() -> dict[str, Any]:
    """The default tariff brought within the FCC 2024 caps for a prison."""
    body = copy.deepcopy(DEFAULT_TARIFF.to_json())
    body["remote_visit_cents_per_minute"] = 16
    body["wallet_deposit_fee_cents"] = 0
    body["calling_deposit_fee_cents"] = {ch: 0 for ch in body["calling_deposit_fee_cents"]}
    return body
