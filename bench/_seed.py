"""The people of the messaging benchmark: families and residents paired on approved contacts,
money in every sender's wallet, and a bearer session each, written straight through the
command line's services (no HTTP sign-up, no argon2 per account: a session row holds only the
SHA-256 of its token, so the benchmark mints tokens the way `sessions._open` does)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from server.cli import services as cli_services
from server.config import Config
from server.domain.ledger import AccountRef, family_wallet, resident_wallet
from server.services import ledger
from server.services.context import PrincipalKind
from server.services.ledger import Idempotency
from server.services.roster import do_create_facility
from server.services.tokens import digest, new_token
from server.storage.models import Contact, FamilyAccount, Resident, Session

FAMILY = PrincipalKind.FAMILY.value
RESIDENT = PrincipalKind.RESIDENT.value


@dataclass(frozen=True)
class Party:
    kind: str
    id: int
    token: str

    @property
    def room(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Pair:
    contact_id: int
    family: Party
    resident: Party


@dataclass(frozen=True)
class Plan:
    pairs: list[Pair]
    idle: list[Party]  # people who only hold a connection open

    def write_relay_parties(self, path: Path) -> None:
        """The relay's token -> person map and its contacts (see bench/relay.py)."""
        parties = [p for pair in self.pairs for p in (pair.family, pair.resident)] + self.idle
        path.write_text(
            json.dumps(
                {
                    "tokens": {p.token: [p.kind, p.id] for p in parties},
                    "contacts": {
                        str(pair.contact_id): [
                            [pair.family.kind, pair.family.id],
                            [pair.resident.kind, pair.resident.id],
                        ]
                        for pair in self.pairs
                    },
                }
            )
        )


def relay_plan(pairs: int, idle: int) -> Plan:
    """The same shape of plan for the relay, which has no database."""
    return Plan(
        pairs=[
            Pair(i, Party(FAMILY, i, new_token()), Party(RESIDENT, i, new_token()))
            for i in range(1, pairs + 1)
        ],
        idle=[Party(FAMILY, pairs + i, new_token()) for i in range(1, idle + 1)],
    )


def _family_row(i: int, now: Any) -> dict[str, Any]:
    name = f"bench{i}"
    return {
        "username": name,
        "username_key": name,
        "email": f"{name}@example.com",
        "email_key": f"{name}@example.com",
        "password_hash": "-",  # never signs in with a password: its session is minted below
        "first_name": "Bench",
        "last_name": f"Family{i}",
        "address_line1": "1 Main St",
        "address_line2": "",
        "city": "Albany",
        "state": "NY",
        "postal_code": "12207",
        "country": "US",
        "date_of_birth": date(1980, 1, 1),
        "gender": "other",
        "status": "active",
        "created_at": now,
        "terms_accepted_at": now,
        "activated_at": now,
    }


async def seed(database_url: str, var: Path, *, pairs: int, idle: int, cents: int) -> Plan:
    """`pairs` families and residents on approved contacts, each with `cents` in their wallet,
    plus `idle` families without contacts; every one of them with a fresh bearer session."""
    config = Config(database_url=database_url, var_dir=var, secret_key="bench")
    async with cli_services(config) as svc:
        facility_id = await do_create_facility(
            svc, name="Bench", city="Albany", state="NY", timezone="UTC"
        )
        now = svc.clock.now()
        async with svc.db.transaction() as tx:
            family_ids = list(
                await tx.scalars(
                    insert(FamilyAccount).returning(FamilyAccount.id, sort_by_parameter_order=True),
                    [_family_row(i, now) for i in range(1, pairs + idle + 1)],
                )
            )
            resident_ids = list(
                await tx.scalars(
                    insert(Resident).returning(Resident.id, sort_by_parameter_order=True),
                    [
                        {
                            "facility_id": facility_id,
                            "resident_number": f"B{i:05d}",
                            "first_name": "Bench",
                            "last_name": f"Resident{i}",
                            "search_name": f"bench resident{i}",
                            "date_of_birth": date(1985, 1, 1),
                            "housing_unit": "A-1",
                            "pin_hash": "-",
                            "active": True,
                            "created_at": now,
                        }
                        for i in range(1, pairs + 1)
                    ],
                )
            )
            contact_ids = list(
                await tx.scalars(
                    insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
                    [
                        {
                            "facility_id": facility_id,
                            "resident_id": rid,
                            "family_account_id": fid,
                            "relationship": "friend",
                            "status": "approved",
                            "requested_at": now,
                            "updated_at": now,
                            "status_reason": None,
                        }
                        for fid, rid in zip(family_ids, resident_ids, strict=False)
                    ],
                )
            )
            people = [(FAMILY, fid) for fid in family_ids] + [(RESIDENT, r) for r in resident_ids]
            tokens = {who: new_token() for who in people}
            await tx.execute(
                insert(Session),
                [
                    {
                        "token_hash": digest(token),
                        "principal_kind": kind,
                        "principal_id": pid,
                        "csrf_token": new_token(),
                        "created_at": now,
                        "last_seen_at": now,
                        "expires_at": now + timedelta(seconds=config.session_max_seconds),
                    }
                    for (kind, pid), token in tokens.items()
                ],
            )
        wallets: list[AccountRef] = [family_wallet(f) for f in family_ids[:pairs]]
        wallets += [resident_wallet(r) for r in resident_ids]

        async def fund(i: int, wallet: AccountRef) -> None:
            await ledger.do_deposit(
                svc,
                target=wallet,
                amount_cents=cents,
                fee_cents=0,
                idem=Idempotency(scope="bench", key=f"fund-{i}", request={}),
                facility_id=facility_id,
                reference=None,
                details={"channel": "bench"},
            )

        # One at a time: concurrent deposits all credit the house's clearing account, and on
        # SQLite they would only queue for the one writer anyway.
        for i, wallet in enumerate(wallets):
            await fund(i, wallet)
    return Plan(
        pairs=[
            Pair(
                cid,
                Party(FAMILY, fid, tokens[(FAMILY, fid)]),
                Party(RESIDENT, rid, tokens[(RESIDENT, rid)]),
            )
            for cid, fid, rid in zip(contact_ids, family_ids, resident_ids, strict=False)
        ],
        idle=[Party(FAMILY, fid, tokens[(FAMILY, fid)]) for fid in family_ids[pairs:]],
    )
