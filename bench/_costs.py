"""What one message costs the server's services, without sockets: the same `do_send_message`
and `do_ack` the socket handlers call, one at a time in this process against the benchmark's
database, counting SQL statements, wall time and CPU time. Run while the server is stopped, it
explains the load figures: a send's CPU time bounds how many one event loop can do a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from bench._load import Quiet
from bench._procs import machine_busy_seconds
from bench._seed import Plan
from server.cli import services as cli_services
from server.config import Config
from server.services.context import Principal, PrincipalKind
from server.services.events import do_ack
from server.services.messages import do_send_message
from server.storage.event_models import EventStream


@dataclass(frozen=True)
class Cost:
    operation: str
    statements: float  # SQL statements per operation
    wall_ms: float
    cpu_ms: float  # this process, all threads (SQLite's driver threads included)
    db_cpu_ms: float  # the database server's backends (PostgreSQL), 0 for SQLite
    other: float  # cores kept busy by other programs meanwhile (should be about 0)


async def service_costs(
    database_url: str,
    var: Path,
    plan: Plan,
    *,
    n: int,
    database_cpu: Callable[[], float],
    quiet: Quiet,
) -> list[Cost]:
    config = Config(database_url=database_url, var_dir=var, secret_key="bench")
    async with cli_services(config) as svc:
        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(svc.db.engine.sync_engine, "before_cursor_execute", count)
        senders = [
            (
                Principal(kind=PrincipalKind.FAMILY, id=p.family.id, display_name="bench"),
                p.contact_id,
            )
            for p in plan.pairs
        ]
        warm_up = senders[0]
        await do_send_message(
            svc, warm_up[0], contact_id=warm_up[1], body="warm up", client_id="cost-warm-up"
        )

        async def send(i: int) -> None:
            actor, contact_id = senders[i % len(senders)]
            await do_send_message(
                svc, actor, contact_id=contact_id, body=f"cost {i}", client_id=f"cost-{i}"
            )

        acked: dict[int, int] = {}

        async def ack(i: int) -> None:
            # One step past what each sender last acknowledged, so that every ack moves its
            # acked_seq forward (a real write, not a no-op); the sends before made the events.
            actor, _ = senders[i % len(senders)]
            seq = acked[actor.id] + 1 + (i % n) // len(senders)
            await do_ack(svc, recipient=actor.party, seq=seq)

        async def before_acks(attempt: int) -> None:
            if attempt:  # the earlier attempt used up the events the sends had made
                for i in range(n):
                    await send(10 * n + attempt * n + i)
            async with svc.db.read() as tx:
                rows = await tx.execute(
                    select(EventStream.principal_id, EventStream.acked_seq).where(
                        EventStream.principal_kind == PrincipalKind.FAMILY.value
                    )
                )
                acked.update({int(pid): int(seq) for pid, seq in rows})

        async def nothing(attempt: int) -> None:
            return None

        async def timed(
            operation: str, run: Callable[[int], Any], before: Callable[[int], Any]
        ) -> Cost:
            # Measured again while other programs disturb it, as load steps are.
            for attempt in range(quiet.repeats + 1):
                await before(attempt)
                cost = await once(operation, run, attempt * n)
                if cost.other <= quiet.other:
                    break
                await asyncio.sleep(min(10.0, quiet.wait_seconds))
            return cost

        async def once(operation: str, run: Callable[[int], Any], offset: int) -> Cost:
            nonlocal statements
            statements = 0
            wall, cpu, db = time.perf_counter(), time.process_time(), database_cpu()
            machine = machine_busy_seconds()
            for i in range(offset, offset + n):
                await run(i)
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu
            db = database_cpu() - db
            other = max(0.0, machine_busy_seconds() - machine - cpu - db) / wall
            return Cost(
                operation, statements / n, wall * 1000 / n, cpu * 1000 / n, db * 1000 / n, other
            )

        return [
            await timed("message send", send, nothing),
            await timed("event ack", ack, before_acks),
        ]
