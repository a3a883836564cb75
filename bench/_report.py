"""The messaging benchmark's results and how they are printed: one table of every step, the
peaks and their ratio to the bare relay, latency at half the peak, memory per idle client, the
services' own cost of a message, and the targets met or missed."""

from __future__ import annotations

import math
import pstats
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench._costs import Cost
from bench._idle import IdleResult
from bench._load import Limits, Quiet, Step
from bench._procs import ROOT

TARGET_RATIO = 0.40
TARGET_P99_MS = 50.0
TARGET_KIB = 40.0


@dataclass
class Target:
    """What was measured on one server: the relay, or Homeline on one database."""

    name: str
    steps: list[Step] = field(default_factory=list)
    peak: float = 0.0
    half: Step | None = None
    idle: IdleResult | None = None
    sent: int = 0
    events: int = 0
    acks: int = 0
    costs: list[Cost] = field(default_factory=list)
    profile: Path | None = None


@dataclass(frozen=True)
class Settings:
    """The run's parameters, from the command line."""

    pairs: int
    idle: int
    step_seconds: float
    start_rate: float
    max_rate: float
    client: str
    ack: bool
    limits: Limits
    quiet: Quiet
    refine: bool
    settle: float
    profile: Path | None
    cost_samples: int


HEADER = (
    f"{'target':<20} {'rate':>6} {'offered':>8} {'deliv/s':>8} {'p50 ms':>7} {'p99 ms':>8} "
    f"{'ack p50':>7} {'errors':>6} {'server':>6} {'loop':>5} {'gen':>5} {'db':>5} {'other':>5}"
    "  verdict"
)


def ms(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.1f}"


def row(s: Step, limits: Limits) -> str:
    verdict = "keeps up" if s.keeps_up(limits) else "falls behind"
    if s.note:
        verdict += f" ({s.note})"
    errors = sum(s.errors.values())
    return (
        f"{s.target:<20} {s.rate:>6.0f} {s.offered:>8.1f} {s.delivered_rate:>8.1f} "
        f"{ms(s.percentile(0.5)):>7} {ms(s.percentile(0.99)):>8} "
        f"{ms(s.percentile(0.5, of='answered')):>7} {errors:>6} "
        f"{s.cpu.server:>6.0%} {s.cpu.loop:>5.0%} {s.cpu.generator:>5.0%} "
        f"{s.cpu.database:>5.0%} {s.cpu.other:>5.0%}  {verdict}"
        + (f" {dict(s.errors)}" if errors else "")
    )


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def revision() -> str:
    """The code measured: the commit, and whether the working tree differs from it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        head = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' + local changes' if dirty else ''}" if head else "unknown"


def report(relay: Target, targets: list[Target], settings: Settings) -> None:
    print()
    print(
        f"messaging load at {revision()}, python {sys.version.split()[0]}, {settings.pairs} pairs "
        f"({2 * settings.pairs} clients, {settings.client} client), acks "
        f"{'on every event' if settings.ack else 'off'}, steps of {settings.step_seconds:g} s; "
        f"keeps up = delivered >= {settings.limits.min_delivered:.0%} of offered, "
        f"p99 <= {settings.limits.max_p99_ms:g} ms, errors <= {settings.limits.max_errors:.0%}"
    )
    print(
        "CPU in cores: server = the server process, loop = its event-loop thread, gen = this "
        "load generator, db = the PostgreSQL backends of the run, other = the rest of the machine"
    )
    print(HEADER)
    for t in (relay, *targets):
        for s in t.steps:
            print(row(s, settings.limits))
        if t.half is not None:
            print(row(t.half, settings.limits) + "  (half peak)")
    print()
    print(
        f"{'target':<20} {'peak msg/s':>10} {'events/msg':>10} {'acks/msg':>8} "
        f"{'server CPU ms/msg at peak':>26}"
    )
    for t in (relay, *targets):
        sent = max(1, t.sent)
        print(
            f"{t.name:<20} {t.peak:>10.0f} {t.events / sent:>10.2f} {t.acks / sent:>8.2f} "
            f"{cpu_per_message(t):>26.2f}"
        )
    print()
    busy = [s.cpu.other for t in (relay, *targets) for s in t.steps]
    if busy and max(busy) > 0.25:
        print(
            f"WARNING: other programs kept up to {max(busy):.0%} of a core busy during some "
            "steps (column 'other'); on this 2-core machine that lowers every figure. Re-run "
            "on a quiet machine before trusting a near miss."
        )
    if relay.idle:
        print(idle_line(relay.idle))
    for t in targets:
        ratio = t.peak / relay.peak if relay.peak else math.nan
        print(
            f"{t.name}: peak {t.peak:.0f} msg/s = {ratio:.0%} of the bare relay's "
            f"{relay.peak:.0f} msg/s  [target >= {TARGET_RATIO:.0%}: {met(ratio >= TARGET_RATIO)}]"
        )
        if t.half is not None:
            p99 = t.half.percentile(0.99)
            print(
                f"{t.name}: at half peak ({t.half.rate:.0f} msg/s) p50 "
                f"{ms(t.half.percentile(0.5))} ms, p99 {ms(p99)} ms  "
                f"[target < {TARGET_P99_MS:g} ms: {met(p99 < TARGET_P99_MS)}]"
            )
        if t.idle:
            kib = t.idle.per_client_kib
            ratio_line = (
                f", relay {relay.idle.per_client_kib:.1f} KiB" if relay.idle is not None else ""
            )
            print(
                f"{idle_line(t.idle)}{ratio_line}  [target < {TARGET_KIB:g} KiB: "
                f"{met(kib < TARGET_KIB)}]"
            )
    for t in targets:
        if t.costs:
            print(cost_line(t))
    for t in targets:
        if t.profile is not None and t.profile.exists():
            print(
                f"\n{t.name} under cProfile (its figures above are slowed by it); main thread "
                f"only, waiting in epoll included; the whole profile is in {t.profile}:"
            )
            stats = pstats.Stats(str(t.profile))
            stats.sort_stats("tottime").print_stats(30)


def cpu_per_message(t: Target) -> float:
    """Server CPU time per delivered message, at the peak step (ms)."""
    at_peak = [s for s in t.steps if s.rate == t.peak and s.delivered_rate > 0]
    if not at_peak:
        return math.nan
    s = at_peak[-1]
    return (s.cpu.server + s.cpu.database) / s.delivered_rate * 1000


def cost_line(t: Target) -> str:
    """The services' own cost of a message, and the rate one core could sustain at that cost."""
    costs = {c.operation: c for c in t.costs}
    send, ack = costs["message send"], costs["event ack"]
    acks = t.acks / t.sent if t.sent else 0.0
    per_message = send.cpu_ms + acks * ack.cpu_ms
    parts = [
        f"{c.operation} {c.statements:.0f} SQL statements, {c.wall_ms:.2f} ms "
        f"({c.cpu_ms:.2f} ms CPU here"
        + (f", {c.db_cpu_ms:.2f} ms in PostgreSQL)" if c.db_cpu_ms else ")")
        for c in t.costs
    ]
    return (
        f"{t.name}: services alone, one call at a time, no sockets: {'; '.join(parts)}. "
        f"A send and its {acks:.0f} acks = {per_message:.1f} ms of CPU: at most "
        f"{1000 / per_message:.0f} msg/s on one core before any socket.io work"
    )


def idle_line(r: IdleResult) -> str:
    failed = f", {r.failed} failed" if r.failed else ""
    counted = f", server counted {r.server_counted}" if r.server_counted is not None else ""
    return (
        f"{r.target}: {r.clients - r.failed} idle clients (connected in "
        f"{r.connect_seconds:.1f} s{failed}{counted}): server RSS {r.rss_before_kib / 1024:.1f} -> "
        f"{r.rss_after_kib / 1024:.1f} MiB (after they left: {r.rss_released_kib / 1024:.1f}) "
        f"= {r.per_client_kib:.1f} KiB per client"
    )
