"""The open-loop load generator: every family and resident of a plan connected over socket.io,
messages sent on a fixed schedule (whatever the server answers), each one timed from its emit to
the moment the recipient receives its `message.new` event; recipients `ack {seq}` like a real
client. A run is a series of steps of rising rate; a step "keeps up" when what is delivered
keeps pace with what is offered and its p99 stays bounded."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench._seed import Party, Plan
from bench._wire import Client, SioClient, WireClient

NAN = float("nan")


@dataclass(frozen=True)
class Limits:
    min_delivered: float = 0.95  # of the offered rate
    max_p99_ms: float = 250.0
    max_errors: float = 0.01  # of the messages sent


@dataclass(frozen=True)
class Quiet:
    """On a shared machine a step that other programs disturbed (they kept more than `other`
    cores busy) is run again, up to `repeats` times, after waiting up to `wait_seconds` for
    the machine to quieten, as long as this target has waited less than `budget_seconds` in all:
    on two cores one busy neighbour halves what is measured."""

    other: float = 0.3
    repeats: int = 2
    wait_seconds: float = 30.0
    budget_seconds: float = 120.0


@dataclass(frozen=True)
class Cpu:
    """CPU seconds used so far (or, for a step, cores busy on average) by the server process,
    its event-loop thread alone, this generator, the database server (PostgreSQL), and the
    whole machine."""

    server: float
    loop: float
    generator: float
    database: float
    machine: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.server - other.server,
            self.loop - other.loop,
            self.generator - other.generator,
            self.database - other.database,
            self.machine - other.machine,
        )

    def per_second(self, seconds: float) -> Cpu:
        return Cpu(
            self.server / seconds,
            self.loop / seconds,
            self.generator / seconds,
            self.database / seconds,
            self.machine / seconds,
        )

    @property
    def other(self) -> float:
        """Whatever else kept the machine busy (other programs: a warning sign)."""
        return max(0.0, self.machine - self.server - self.generator - self.database)


@dataclass
class Step:
    target: str
    rate: float  # scheduled messages per second
    duration: float
    emitted: list[float]
    delivered: list[float]
    answered: list[float]  # the sender's ack from the server
    errors: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    window_end: float = 0.0
    cpu: Cpu = Cpu(0, 0, 0, 0, 0)  # during the step's window, in cores (seconds per second)
    note: str = ""
    discarded: bool = False  # disturbed by other programs and run again

    @property
    def n(self) -> int:
        return len(self.emitted)

    @property
    def offered(self) -> float:
        sent = [t for t in self.emitted if not math.isnan(t)]
        if not sent:
            return 0.0
        return len(sent) / max(self.duration, max(sent) - self.started)

    @property
    def delivered_rate(self) -> float:
        ok = sum(1 for t in self.delivered if not math.isnan(t) and t <= self.window_end)
        return ok / (self.window_end - self.started)

    def _latencies_ms(self, done: list[float]) -> list[float]:
        """Latencies in ms, sorted, with an infinity for every message still outstanding."""
        return sorted(
            math.inf if math.isnan(d) else (d - e) * 1000
            for e, d in zip(self.emitted, done, strict=True)
            if not math.isnan(e)
        )

    def percentile(self, q: float, *, of: str = "delivered") -> float:
        values = self._latencies_ms(self.delivered if of == "delivered" else self.answered)
        errors = sum(self.errors.values())
        if of == "delivered" and errors:
            # A refused message is never delivered: leave it out, the error count shows it.
            values = values[: len(values) - errors] if errors < len(values) else []
        if not values:
            return math.inf
        return values[min(len(values) - 1, max(0, math.ceil(len(values) * q) - 1))]

    def keeps_up(self, limits: Limits) -> bool:
        return (
            self.delivered_rate >= limits.min_delivered * self.rate
            and self.percentile(0.99) <= limits.max_p99_ms
            and sum(self.errors.values()) <= limits.max_errors * self.n
        )


CpuProbe = Callable[[], Cpu]


class Load:
    """The connected clients of one plan against one server, and the steps run through them."""

    def __init__(
        self, url: str, plan: Plan, *, client: str, ack: bool, probe: CpuProbe, target: str
    ) -> None:
        self.url = url
        self.plan = plan
        self.kind = client
        self.ack = ack
        self.probe = probe
        self.target = target
        self.steps: list[Step] = []
        self.events = 0
        self.acks = 0
        self.run_id = secrets.token_hex(3)
        self.waited = 0.0  # seconds spent waiting for other programs to finish
        self._clients: dict[tuple[str, int], Client] = {}
        self._http: aiohttp.ClientSession | None = None

    async def connect(self, wait_seconds: float = 30) -> None:
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        parties = [p for pair in self.plan.pairs for p in (pair.family, pair.resident)]
        clients: list[Client] = []
        for party in parties:
            if self.kind == "sio":
                clients.append(
                    SioClient(self.url, token=party.token, label=party, on_event=self._on_event)
                )
            else:
                clients.append(
                    WireClient(
                        self._http,
                        self.url,
                        token=party.token,
                        label=party,
                        on_event=self._on_event,
                    )
                )
        gate = asyncio.Semaphore(50)

        async def one(c: Client) -> None:
            async with gate:
                await c.connect(wait_seconds)

        await asyncio.gather(*(one(c) for c in clients))
        self._clients = {(c.label.kind, c.label.id): c for c in clients}

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clients.values()), return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    async def _on_event(self, client: Client, event: Any) -> None:
        now = time.perf_counter()
        if not isinstance(event, dict):
            return
        self.events += 1
        me: Party = client.label
        data = event.get("data")
        if event.get("type") == "message.new" and isinstance(data, dict):
            sender = data.get("sender") or {}
            if (sender.get("kind"), sender.get("id")) != (me.kind, me.id):
                step, k = _step_and_index(data.get("body"))
                if step is not None and step < len(self.steps):
                    delivered = self.steps[step].delivered
                    if 0 <= k < len(delivered) and math.isnan(delivered[k]):
                        delivered[k] = now
        if self.ack and isinstance(event.get("seq"), int):
            self.acks += 1
            await client.emit("ack", {"seq": event["seq"]})

    def _sender(self, k: int) -> tuple[Client, int]:
        """Message k's sender: pairs in turn, families on even rounds, residents on odd."""
        pairs = self.plan.pairs
        pair = pairs[k % len(pairs)]
        who = pair.family if (k // len(pairs)) % 2 == 0 else pair.resident
        return self._clients[(who.kind, who.id)], pair.contact_id

    async def step(self, rate: float, duration: float, *, drain: float = 10.0) -> Step:
        """Offer `rate` messages per second for `duration` seconds, on schedule, then wait
        (at most `drain` seconds) for the stragglers."""
        n = max(1, round(rate * duration))
        index = len(self.steps)
        s = Step(self.target, rate, duration, [NAN] * n, [NAN] * n, [NAN] * n)
        self.steps.append(s)

        def answered(k: int) -> Callable[[Any], None]:
            def on_answer(reply: Any) -> None:
                if isinstance(reply, dict) and "error" in reply:
                    error = reply["error"]
                    s.errors[error.get("code", "?") if isinstance(error, dict) else "?"] += 1
                else:
                    s.answered[k] = time.perf_counter()

            return on_answer

        before = self.probe()
        s.started = start = time.perf_counter()
        k = 0
        while k < n:
            due = min(n, int((time.perf_counter() - start) * rate) + 1)
            while k < due:
                client, contact_id = self._sender(k)
                payload = {
                    "contact_id": contact_id,
                    "body": f"bench {index}.{k}",
                    "client_id": f"bench-{self.run_id}-{index}-{k}",
                }
                s.emitted[k] = time.perf_counter()
                await client.emit("message:send", payload, callback=answered(k))
                k += 1
            wait = start + k / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        rest = start + duration - time.perf_counter()
        if rest > 0:
            await asyncio.sleep(rest)
        s.window_end = time.perf_counter()
        s.cpu = (self.probe() - before).per_second(s.window_end - start)
        deadline = time.perf_counter() + drain
        while time.perf_counter() < deadline:
            outstanding = sum(1 for d in s.delivered if math.isnan(d)) - sum(s.errors.values())
            if outstanding <= 0:
                break
            await asyncio.sleep(0.02)
        else:
            s.note = "did not drain"
        # Late acks for this step's own copies and wallet events still trickle in; let them.
        await asyncio.sleep(0.2)
        return s

    async def wait_quiet(self, quiet: Quiet) -> float:
        """Wait until other programs use less than `quiet.other` cores over a second (at most
        `quiet.wait_seconds`); the last figure seen."""
        wait = min(quiet.wait_seconds, quiet.budget_seconds - self.waited)
        began = time.monotonic()
        try:
            while True:
                before, started = self.probe(), time.perf_counter()
                await asyncio.sleep(1)
                other = (self.probe() - before).per_second(time.perf_counter() - started).other
                if other < quiet.other or time.monotonic() - began > wait:
                    return other
        finally:
            self.waited += time.monotonic() - began

    async def quiet_step(
        self, rate: float, duration: float, *, quiet: Quiet, on_step: Callable[[Step], None]
    ) -> Step:
        """A step, run again if other programs disturbed it (see `Quiet`)."""
        for attempt in range(quiet.repeats + 1):
            s = await self.step(rate, duration)
            last = attempt == quiet.repeats or self.waited >= quiet.budget_seconds
            if s.cpu.other <= quiet.other or last:
                if s.cpu.other > quiet.other:
                    s.note = "disturbed by other programs"
                on_step(s)
                return s
            s.discarded = True
            s.note = "disturbed by other programs: run again"
            on_step(s)
            await self.wait_quiet(quiet)
        raise AssertionError("unreachable")


def _step_and_index(body: Any) -> tuple[int | None, int]:
    if not isinstance(body, str) or not body.startswith("bench "):
        return None, -1
    step, _, k = body[6:].partition(".")
    try:
        return int(step), int(k)
    except ValueError:
        return None, -1


async def find_peak(
    load: Load,
    *,
    start: float,
    duration: float,
    limits: Limits,
    max_rate: float,
    refine: bool = True,
    quiet: Quiet,
    on_step: Callable[[Step], None],
) -> float:
    """Double the rate until a step falls behind, then climb from the last good rate in steps
    of 20% to the failing one. The peak is the highest rate that kept up (0 if none did)."""
    peak = 0.0
    rate = start
    failed: float | None = None
    while rate <= max_rate:
        s = await load.quiet_step(rate, duration, quiet=quiet, on_step=on_step)
        if not s.keeps_up(limits):
            failed = rate
            break
        peak = rate
        rate *= 2
    if failed is None or peak == 0 or not refine:
        return peak
    rate = peak * 1.2
    while rate < failed * 0.97:
        s = await load.quiet_step(rate, duration, quiet=quiet, on_step=on_step)
        if not s.keeps_up(limits):
            break
        peak = rate
        rate *= 1.2
    return peak
