"""Messaging load: messages per second and send-to-deliver latency through a real `homeline
serve` process, against a bare python-socketio relay (bench/relay.py) driven by the same load
generator in the same run, and server memory per idle connected client.

    .venv/bin/python -m bench.messages [--db sqlite|postgresql|both] [--quick]
        [--pairs 50] [--idle 5000] [--step-seconds 3] [--client wire|sio] [--ack every|none]
        [--other-limit 0.3] [--profile DIR]

Each target gets `--pairs` families and residents on approved contacts (money in every
wallet, a bearer session each), all connected over socket.io (websocket transport, `auth
{token}`). Messages (`message:send {contact_id, body, client_id}`) go out open-loop, on a
fixed schedule whatever the server answers, in steps of rising rate; a message's latency runs
from its emit to the recipient's `event` `message.new`, which the recipient acknowledges with
`ack {seq}` (every client acks every event it receives, as a real client would). A step keeps
up when >=95% of the offered rate is delivered in its window, p99 stays under --p99-limit-ms
and <1% of sends fail; the peak is the highest such rate. Homeline's peak is printed as a share
of the relay's, with its latency at half its peak; memory is the server's VmRSS growth over
--idle silent connected clients, per client. Last, with the server stopped, the services'
own cost of one send and one ack (SQL statements, CPU) says what bounds the peak.

The CPU columns show where the time went, and "other" what the rest of the machine did: a step
that other programs disturbed is run again once they calm down (at most two minutes of waiting
a target; --other-limit 0 turns this off). On a quiet machine the default run takes about two
minutes, --db both about three, --quick about thirty seconds.

PostgreSQL is a private database created on TEST_DATABASE_URL (else the local server,
postgresql://postgres@127.0.0.1:5432) and dropped afterwards. Targets on a 2-core machine, SQLite:
>=40% of the relay's throughput, p99 < 50 ms at half the peak, < 40 KiB per idle client.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from bench._costs import service_costs
from bench._idle import idle_memory
from bench._load import Cpu, Limits, Load, Quiet, Step, find_peak
from bench._procs import (
    PostgresCpu,
    Server,
    free_port,
    homeline_command,
    machine_busy_seconds,
    raise_nofile,
    run_homeline,
    running,
    server_env,
)
from bench._report import Settings, Target, report, row
from bench._seed import Plan, relay_plan, seed
from bench.ledger import postgres_database

WALLET_CENTS = 1_000_000  # $10,000 a sender: far more than a run spends at 50¢ a message


# --- running one target ------------------------------------------------------------------


async def measure(
    target: Target,
    server: Server,
    plan: Plan,
    settings: Settings,
    *,
    probe_database: Callable[[], float],
    half_peak: bool,
) -> None:
    """Idle memory first (on the fresh process), then the stepped load."""
    if settings.idle:
        print(f"  {target.name}: {len(plan.idle)} idle clients ...", flush=True)
        target.idle = await idle_memory(server, plan.idle, settle=settings.settle)

    def probe() -> Cpu:
        return Cpu(
            server.cpu_seconds(),
            server.loop_cpu_seconds(),
            time.process_time(),
            probe_database(),
            machine_busy_seconds(),
        )

    def show(s: Step) -> None:
        print("  " + row(s, settings.limits), flush=True)

    load = Load(
        server.url, plan, client=settings.client, ack=settings.ack, probe=probe, target=target.name
    )
    await load.connect()
    try:
        target.peak = await find_peak(
            load,
            start=settings.start_rate,
            duration=settings.step_seconds,
            limits=settings.limits,
            max_rate=settings.max_rate,
            refine=settings.refine,
            quiet=settings.quiet,
            on_step=show,
        )
        if half_peak and target.peak:
            target.half = await load.quiet_step(
                target.peak / 2, settings.step_seconds * 2, quiet=settings.quiet, on_step=show
            )
    finally:
        await load.close()
    target.steps = [s for s in load.steps if s is not target.half and not s.discarded]
    target.sent = sum(s.n for s in load.steps)
    target.events, target.acks = load.events, load.acks


async def bench_relay(settings: Settings, tmp: Path) -> Target:
    target = Target("relay")
    plan = relay_plan(settings.pairs, settings.idle)
    parties = tmp / "relay-parties.json"
    plan.write_relay_parties(parties)
    port = free_port()
    command = [sys.executable, "-m", "bench.relay", "--port", str(port), "--parties", str(parties)]
    print(f"relay: bare python-socketio on port {port}", flush=True)
    async with running(
        "relay", command, env=dict(os.environ), port=port, log=tmp / "relay.log"
    ) as server:
        await measure(target, server, plan, settings, probe_database=lambda: 0.0, half_peak=False)
    return target


@asynccontextmanager
async def database(kind: str, tmp: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp}/var/homeline.db"
    else:
        async with postgres_database() as url:
            yield url


async def bench_homeline(kind: str, settings: Settings, tmp: Path) -> Target:
    target = Target(f"homeline/{kind}")
    folder = tmp / kind
    var = folder / "var"
    var.mkdir(parents=True)
    async with database(kind, folder) as url:
        database_cpu: Callable[[], float] = (
            PostgresCpu(make_url(url).database or "") if kind == "postgresql" else lambda: 0.0
        )

        port = free_port()
        env = server_env(var, port, url)
        log = folder / "homeline.log"
        started = time.perf_counter()
        await asyncio.to_thread(run_homeline, "migrate", env=env, log=log)
        plan = await seed(url, var, pairs=settings.pairs, idle=settings.idle, cents=WALLET_CENTS)
        print(
            f"{target.name}: migrated and seeded {settings.pairs} pairs + {settings.idle} idle "
            f"people in {time.perf_counter() - started:.1f} s; serving on port {port}",
            flush=True,
        )
        if settings.profile is not None:
            settings.profile.mkdir(parents=True, exist_ok=True)
            target.profile = (settings.profile / f"homeline-{kind}.prof").resolve()
        command = homeline_command("serve", profile=target.profile)
        async with running(target.name, command, env=env, port=port, log=log) as server:
            await measure(
                target,
                server,
                plan,
                settings,
                probe_database=database_cpu,
                half_peak=True,
            )
        # With the server stopped: what one send and one ack cost the services themselves.
        target.costs = await service_costs(
            url, var, plan, n=settings.cost_samples, database_cpu=database_cpu, quiet=settings.quiet
        )
    return target


# --- reporting ---------------------------------------------------------------------------

# --- command line ------------------------------------------------------------------------


async def run(databases: list[str], settings: Settings) -> None:
    with tempfile.TemporaryDirectory(prefix="homeline-bench-messages-") as folder:
        tmp = Path(folder)
        relay = await bench_relay(settings, tmp)
        targets = [await bench_homeline(kind, settings, tmp) for kind in databases]
        report(relay, targets, settings)


def main() -> None:
    summary = " ".join(__doc__.split("\n\n")[0].split()) if __doc__ else None
    parser = argparse.ArgumentParser(description=summary)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run")
    parser.add_argument("--pairs", type=int, help="families and residents (default 50, quick 20)")
    parser.add_argument("--idle", type=int, help="idle clients (default 5000, quick 1000)")
    parser.add_argument("--step-seconds", type=float, help="seconds a step (default 3, quick 1)")
    parser.add_argument("--start-rate", type=float, default=10.0, help="first step, msgs/s")
    parser.add_argument("--max-rate", type=float, default=20_000.0, help="last step, msgs/s")
    parser.add_argument(
        "--client",
        choices=["wire", "sio"],
        default="wire",
        help="socket.io client: a lean one over aiohttp (default, so that the generator is "
        "never the bottleneck) or python-socketio's AsyncClient",
    )
    parser.add_argument(
        "--ack", choices=["every", "none"], default="every", help="clients ack every event"
    )
    parser.add_argument(
        "--p99-limit-ms", type=float, default=250.0, help="a step with a higher p99 falls behind"
    )
    parser.add_argument(
        "--other-limit",
        type=float,
        default=0.3,
        metavar="CORES",
        help="repeat a step when other programs kept more cores than this busy (0: never)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run homeline under cProfile and keep its profiles in DIR (figures slow down)",
    )
    args = parser.parse_args()
    pairs = args.pairs or (20 if args.quick else 50)
    idle = args.idle if args.idle is not None else (1000 if args.quick else 5000)
    step = args.step_seconds or (1.0 if args.quick else 3.0)
    if not (1 <= pairs <= 1000 and 0 <= idle <= 50_000 and 0.5 <= step <= 60):
        parser.error("--pairs 1..1000, --idle 0..50000, --step-seconds 0.5..60")
    limit = raise_nofile()
    if limit < idle + 4 * pairs + 200:
        parser.error(f"the open-file limit ({limit}) is too low for {idle} idle clients")
    settings = Settings(
        pairs=pairs,
        idle=idle,
        step_seconds=step,
        start_rate=args.start_rate,
        max_rate=args.max_rate,
        client=args.client,
        ack=args.ack == "every",
        limits=Limits(max_p99_ms=args.p99_limit_ms),
        quiet=(
            Quiet(other=args.other_limit, repeats=1, wait_seconds=5, budget_seconds=15)
            if args.quick
            else Quiet(other=args.other_limit)
        )
        if args.other_limit > 0
        else Quiet(other=math.inf, repeats=0),
        refine=not args.quick,
        settle=0.5 if args.quick else 2.0,
        profile=args.profile,
        cost_samples=100 if args.quick else 300,
    )
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    asyncio.run(run(databases, settings))


if __name__ == "__main__":
    main()
