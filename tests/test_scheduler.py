"""The scheduler: timed work runs when the injected clock reaches its time (never before), once
across two apps on one database, and a job that fails is logged and tried again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.appkeys import SCHEDULER
from server.config import Config
from server.domain.ledger import family_wallet
from server.scheduler import Job, Scheduler
from server.services.context import Services
from tests.fakes import FrozenClock, RecordingMailer
from tests.story import (
    FAST_HASHER,
    START,
    WAIT,
    Actor,
    World,
    approved_contact,
    delay,
    events,
    events_of,
    fund,
    funded_contact,
    send,
    set_policy,
    settled,
)


class Ledger:
    """A job's work kept in memory: items due at times, done once each."""

    def __init__(self, clock: FrozenClock, *due: datetime) -> None:
        self.clock = clock
        self.pending = sorted(due)
        self.done: list[datetime] = []
        self.failures_left = 0

    async def next_due(self) -> datetime | None:
        return self.pending[0] if self.pending else None

    async def run(self) -> int:
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("the database went away")
        now = self.clock.now()
        ready = [t for t in self.pending if t <= now]
        self.pending = [t for t in self.pending if t > now]
        self.done += ready
        return len(ready)

    def job(self, name: str = "ledger") -> Job:
        return Job(name, self.next_due, self.run)


async def settle(scheduler: Scheduler) -> None:
    async with asyncio.timeout(WAIT):
        await scheduler.settled()


async def test_a_job_runs_when_the_clock_reaches_its_time_and_not_before() -> None:
    clock = FrozenClock(START)
    work = Ledger(clock, START + timedelta(minutes=15), START + timedelta(hours=1))
    scheduler = Scheduler(clock)
    scheduler.add(work.job())
    scheduler.start()
    try:
        clock.advance(minutes=14, seconds=59)
        await settle(scheduler)
        assert work.done == []
        clock.advance(seconds=1)
        await settle(scheduler)
        assert work.done == [START + timedelta(minutes=15)]
        clock.advance(hours=2)
        await settle(scheduler)
        assert work.done == [START + timedelta(minutes=15), START + timedelta(hours=1)]
    finally:
        await scheduler.stop(grace=1)


async def test_advancing_the_clock_wakes_the_scheduler_without_being_asked() -> None:
    """The clock tells the scheduler it moved: due work runs with nobody awaiting it."""
    clock = FrozenClock(START)
    ran = asyncio.Event()
    scheduler = Scheduler(clock, poll_seconds=3600)  # so no poll does it

    async def due() -> datetime:
        return START + timedelta(minutes=1)

    async def run() -> int:
        ran.set()
        return 0

    scheduler.add(Job("once", due, run))
    scheduler.start()
    try:
        await settle(scheduler)
        assert not ran.is_set()
        clock.advance(minutes=1)
        async with asyncio.timeout(WAIT):
            await ran.wait()
    finally:
        await scheduler.stop(grace=1)


async def test_a_failing_job_is_logged_and_retried_next_pass_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FrozenClock(START)
    failing = Ledger(clock, START)
    failing.failures_left = 1
    healthy = Ledger(clock, START)
    scheduler = Scheduler(clock)
    scheduler.add(failing.job("failing"))
    scheduler.add(healthy.job("healthy"))
    scheduler.start()
    try:
        with caplog.at_level(logging.ERROR, logger="homeline.scheduler"):
            await settle(scheduler)
        assert failing.done == [] and healthy.done == [START]
        [record] = [r for r in caplog.records if r.name == "homeline.scheduler"]
        assert record.exc_info is not None and getattr(record, "job", None) == "failing"
        await settle(scheduler)
        assert failing.done == [START], "retried on the next pass"
    finally:
        await scheduler.stop(grace=1)


async def test_two_jobs_of_one_name_are_refused() -> None:
    clock = FrozenClock(START)
    scheduler = Scheduler(clock)
    scheduler.add(Ledger(clock).job("a"))
    with pytest.raises(ValueError):
        scheduler.add(Ledger(clock).job("a"))


async def test_a_stopped_scheduler_has_no_task_and_stops_listening_to_the_clock() -> None:
    clock = FrozenClock(START)
    work = Ledger(clock, START + timedelta(minutes=1))
    scheduler = Scheduler(clock)
    scheduler.add(work.job())
    scheduler.start()
    await settle(scheduler)
    await scheduler.stop(grace=1)
    with pytest.raises(RuntimeError):
        await scheduler.settled()
    clock.advance(minutes=5)
    await asyncio.sleep(0)
    assert work.done == []


# --- through the app ----------------------------------------------------------------------


async def test_a_delayed_message_is_delivered_exactly_at_its_time_when_the_clock_advances(
    app_client: TestClient[Any, Any],
    services: Services,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    contact_id = await funded_contact(app_client, services, family, resident, world)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=delay(15))
    _, sent = await send(app_client, family, contact_id, "At a quarter past", "t-1")
    assert sent["status"] == "scheduled"

    clock.advance(minutes=14, seconds=59)
    await settled(app_client)
    assert await events_of(app_client, resident, "message.new", sent["id"]) == []
    clock.advance(seconds=1)
    await settled(app_client)
    [new] = await events_of(app_client, resident, "message.new", sent["id"])
    assert new["data"]["delivered_at"] == "2026-11-18T15:15:00+00:00"


async def test_two_apps_on_one_database_deliver_a_delayed_message_once(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    app_client: TestClient[Any, Any],
    services: Services,
    config: Config,
    clock: FrozenClock,
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
) -> None:
    other = await aiohttp_client(
        create_app(config, clock=clock, mailer=RecordingMailer(), hasher=FAST_HASHER)
    )
    contact_id = await approved_contact(app_client, family, resident, world)
    await fund(services, family_wallet(family.id), 5000)
    await set_policy(app_client, facility_admin, world.facility_id, incoming=delay(1))
    ids = []
    for n in range(6):
        _, sent = await send(app_client, family, contact_id, f"m{n}", f"two-{n}")
        ids.append(sent["id"])

    clock.advance(minutes=1)  # both schedulers wake at once
    async with asyncio.timeout(WAIT):
        await asyncio.gather(app_client.app[SCHEDULER].settled(), other.app[SCHEDULER].settled())
    delivered = [
        e["data"]["id"] for e in await events(app_client, resident) if e["type"] == "message.new"
    ]
    assert sorted(delivered) == sorted(ids)
