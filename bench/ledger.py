"""Ledger throughput: message charges per second through the real ledger service, on one
contended wallet and spread over many wallets, with N concurrent asyncio tasks, on SQLite (a
temporary file) and PostgreSQL (a private database created for the run and dropped after).

    .venv/bin/python -m bench.ledger [--db sqlite|postgresql|both] [--tasks 16]
        [--charges 2000] [--wallets 200]

PostgreSQL comes from TEST_DATABASE_URL, else postgresql+asyncpg://postgres@127.0.0.1:5432/test;
only a server on this machine is used. Every run is bounded (`--charges` per scenario) and ends
by checking that the ledger still balances.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from server.cli import services as cli_services
from server.config import Config
from server.domain.ledger import AccountRef, SystemCode, family_wallet, system
from server.services import ledger
from server.services.context import Services
from server.services.ledger import Idempotency, InsufficientFunds
from server.storage.models import Base, Facility, FamilyAccount, LedgerAccount, LedgerPosting

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
PRICE = 50


@dataclass(frozen=True)
class Result:
    database: str
    scenario: str
    tasks: int
    charges: int
    seconds: float
    latencies: list[float]
    errors: Counter[str]

    @property
    def per_second(self) -> float:
        return self.charges / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


@asynccontextmanager
async def sqlite_database() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory(prefix="homeline-bench-") as folder:
        yield f"sqlite+aiosqlite:///{folder}/ledger.db"


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A private database next to the configured one, dropped at the end (as the tests do)."""
    base = make_url(os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES)
    if base.host not in LOCAL_HOSTS:
        raise SystemExit(f"refusing to benchmark against {base.host}: only 127.0.0.1 is used")
    name = f"homeline_bench_{os.getpid()}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(
            host=base.host,
            port=base.port,
            user=base.username,
            password=base.password,
            database=base.database,
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await admin(f'DROP DATABASE IF EXISTS "{name}"')
    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def services(url: str, folder: Path) -> AsyncIterator[Services]:
    """The command line's services (no web server) on a freshly created schema."""
    config = Config(database_url=url, var_dir=folder, secret_key="bench")
    async with cli_services(config) as svc:
        async with svc.db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield svc


async def seed(svc: Services, wallets: int) -> list[AccountRef]:
    now = datetime.now(UTC)
    async with svc.db.transaction() as tx:
        tx.add(Facility(id=1, name="Bench", city="B", state="NY", timezone="UTC", created_at=now))
        await tx.flush()
        tx.add_all(
            FamilyAccount(
                id=i,
                username=f"bench{i}",
                username_key=f"bench{i}",
                email=f"bench{i}@example.com",
                email_key=f"bench{i}@example.com",
                password_hash="-",
                first_name="Bench",
                last_name=str(i),
                address_line1="1 Main St",
                address_line2="",
                city="Albany",
                state="NY",
                postal_code="12207",
                country="US",
                date_of_birth=date(1980, 1, 1),
                gender="other",
                status="active",
                created_at=now,
                terms_accepted_at=now,
                activated_at=now,
            )
            for i in range(1, wallets + 1)
        )
    return [family_wallet(i) for i in range(1, wallets + 1)]


async def fund(svc: Services, wallet: AccountRef, cents: int, key: str) -> None:
    await ledger.do_deposit(
        svc,
        target=wallet,
        amount_cents=cents,
        fee_cents=150,
        idem=Idempotency(scope="bench", key=key, request={}),
        facility_id=1,
        reference=None,
        details={"channel": "bench"},
    )


async def charge_load(
    svc: Services,
    *,
    database: str,
    scenario: str,
    wallets: list[AccountRef],
    tasks: int,
    total: int,
) -> Result:
    """`total` charges, each with its own key, spread round-robin over `wallets`."""
    for i, wallet in enumerate(wallets):
        await fund(svc, wallet, PRICE * (total // len(wallets) + 1), f"{scenario}-fund-{i}")
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            try:
                await ledger.do_charge(
                    svc,
                    payers=[wallets[i % len(wallets)]],
                    amount_cents=PRICE,
                    revenue=SystemCode.MESSAGE_REVENUE,
                    idem=Idempotency(scope="bench", key=f"{scenario}-{i}", request={}),
                    facility_id=1,
                    memo="Message",
                )
            except InsufficientFunds:
                errors["insufficient_funds"] += 1
            except Exception as exc:  # a benchmark counts failures instead of stopping
                errors[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed = time.perf_counter() - started
    return Result(database, scenario, tasks, total, elapsed, latencies, errors)


async def check(svc: Services) -> None:
    """The run moved money correctly: postings sum to zero, balances equal their postings."""
    async with svc.db.read() as tx:
        total = await tx.scalar(select(func.coalesce(func.sum(LedgerPosting.amount_cents), 0)))
        mismatched = await tx.scalar(
            select(func.count())
            .select_from(LedgerAccount)
            .where(
                LedgerAccount.balance_cents
                != select(func.coalesce(func.sum(LedgerPosting.amount_cents), 0))
                .where(LedgerPosting.account_id == LedgerAccount.id)
                .scalar_subquery()
            )
        )
        negative = await tx.scalar(
            select(func.count())
            .select_from(LedgerAccount)
            .where(LedgerAccount.may_go_negative.is_(False), LedgerAccount.balance_cents < 0)
        )
    if total != 0 or mismatched or negative:
        raise SystemExit(f"ledger check failed: sum {total}, {mismatched} off, {negative} < 0")


async def bench(database: str, args: argparse.Namespace) -> list[Result]:
    opener = sqlite_database if database == "sqlite" else postgres_database
    with tempfile.TemporaryDirectory(prefix="homeline-bench-var-") as folder:
        async with opener() as url, services(url, Path(folder)) as svc:
            wallets = await seed(svc, args.wallets + 1)
            # Warm up (connections, prepared statements, the house's accounts); not measured.
            warm_up = await charge_load(
                svc,
                database=database,
                scenario="warm-up",
                wallets=wallets[-1:],
                tasks=args.tasks,
                total=min(args.charges, 200),
            )
            wallets = wallets[:-1]
            results = [
                await charge_load(
                    svc,
                    database=database,
                    scenario="one wallet",
                    wallets=wallets[:1],
                    tasks=args.tasks,
                    total=args.charges,
                ),
                await charge_load(
                    svc,
                    database=database,
                    scenario=f"{args.wallets} wallets",
                    wallets=wallets,
                    tasks=args.tasks,
                    total=args.charges,
                ),
            ]
            await check(svc)
            async with svc.db.read() as tx:
                revenue = await tx.scalar(
                    select(LedgerAccount.balance_cents).where(
                        LedgerAccount.owner_key == system(SystemCode.MESSAGE_REVENUE).owner_key
                    )
                )
            paid = sum(r.charges - sum(r.errors.values()) for r in (warm_up, *results))
            if revenue != paid * PRICE:
                raise SystemExit(f"ledger check failed: revenue {revenue}, {paid} charges paid")
    return results


def print_table(results: list[Result]) -> None:
    print(
        f"{'database':<11} {'scenario':<12} {'tasks':>5} {'charges':>7} {'seconds':>8} "
        f"{'charges/s':>10} {'p50 ms':>8} {'p99 ms':>8}  errors"
    )
    for r in results:
        print(
            f"{r.database:<11} {r.scenario:<12} {r.tasks:>5} {r.charges:>7} {r.seconds:>8.2f} "
            f"{r.per_second:>10.1f} {r.percentile(0.50):>8.1f} {r.percentile(0.99):>8.1f}  "
            f"{dict(r.errors) or '-'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--tasks", type=int, default=16, help="concurrent asyncio tasks")
    parser.add_argument("--charges", type=int, default=2000, help="charges per scenario")
    parser.add_argument("--wallets", type=int, default=200, help="wallets in the spread scenario")
    args = parser.parse_args()
    if not (1 <= args.tasks <= 64 and 1 <= args.charges <= 100_000 and 1 <= args.wallets <= 10_000):
        parser.error("--tasks 1..64, --charges 1..100000, --wallets 1..10000")
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results: list[Result] = []
    for database in databases:
        results += asyncio.run(bench(database, args))
    print(f"ledger charges ({PRICE}¢ each), python {sys.version.split()[0]}")
    print_table(results)


if __name__ == "__main__":
    main()
