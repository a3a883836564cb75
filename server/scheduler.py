"""Timed work: each job says when its work is next due and claims what is due from the database.

A job is registered once, in `server/app.py` (a wing registers its own there too): a name, a
`next_due` that reads the earliest due time (from the database, so work created on another
process or before a restart is found), and a `run` that claims and does what is due now
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite, so two processes never do one
item twice) and says how many items it did.

The scheduler reads time only from the injected clock. It sleeps until the earliest due time it
knows of, but never longer than `POLL_SECONDS` (work created on another process is never late by
more than that), and wakes early when:

- a transaction of this process commits new due work (the service leaves a `WorkDue` for after
  its commit, see `due_after_commit`);
- a clock that moves only when told (`FrozenClock`) is advanced: tests advance the clock and
  `await scheduler.settled()` instead of sleeping.

A job that raises is logged and tried again on the next pass; it never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import Clock
from server.storage.db import AFTER_COMMIT

log = logging.getLogger("homeline.scheduler")

POLL_SECONDS = 1.0  # the longest sleep: work due elsewhere is released within this
# A job that keeps finding more due work runs again at once, but not forever in one pass.
MAX_RUNS_PER_PASS = 50


@dataclass(frozen=True)
class Job:
    """Work that is due at a time. `next_due` answers the earliest time anything is due (None:
    nothing is known); `run` claims and does what is due now and answers how many items it did."""

    name: str
    next_due: Callable[[], Awaitable[datetime | None]]
    run: Callable[[], Awaitable[int]]


@dataclass(frozen=True)
class WorkDue:
    """Left for after a commit: this transaction made work due at `at` (the scheduler wakes)."""

    at: datetime


def due_after_commit(tx: AsyncSession, *, at: datetime) -> None:
    """Tell this process's scheduler, once `tx` commits, that work is due at `at`."""
    tx.info.setdefault(AFTER_COMMIT, []).append(WorkDue(at))


@runtime_checkable
class AdvancingClock(Protocol):
    """A clock that moves only when told and says so (the tests' `FrozenClock`)."""

    def now(self) -> datetime: ...

    def on_advance(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every advance; returns the way to stop."""
        ...


class Scheduler:
    """Runs every registered job whose due time has come, on the injected clock."""

    def __init__(self, clock: Clock, *, poll_seconds: float = POLL_SECONDS) -> None:
        self._clock = clock
        self._poll = poll_seconds
        self._jobs: list[Job] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        # Passes asked for (by a wake-up, an advance or `settled`) and passes finished: a pass
        # that starts after the n-th ask has seen everything due at that ask.
        self._asked = 0
        self._finished = 0
        self._progress = asyncio.Condition()

    def add(self, job: Job) -> None:
        if any(j.name == job.name for j in self._jobs):
            raise ValueError(f"a job named {job.name!r} is already registered")
        self._jobs.append(job)

    @property
    def jobs(self) -> list[str]:
        return [j.name for j in self._jobs]

    def wake(self) -> None:
        """Look again now (new due work, or the clock moved)."""
        self._asked += 1
        self._wake.set()

    def notice(self, committed: Iterable[Any]) -> None:
        """After a commit of this process: wake if it made work due."""
        if any(isinstance(item, WorkDue) for item in committed):
            self.wake()

    async def settled(self) -> None:
        """Return once a pass that started after this call has finished: everything due on
        the clock now has been run (or has failed and been logged)."""
        if self._task is None or self._task.done():
            raise RuntimeError("the scheduler is not running")
        self.wake()
        target = self._asked
        async with self._progress:
            await self._progress.wait_for(lambda: self._finished >= target or self._stopping)

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the scheduler is already running")
        if isinstance(self._clock, AdvancingClock):
            self._unsubscribe = self._clock.on_advance(self.wake)
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self, *, grace: float) -> None:
        """Let the pass in progress finish (a cancelled SQLite query's worker thread would answer
        after the loop has closed), then cancel and await the task."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), grace)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with self._progress:
            self._progress.notify_all()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            started = self._asked
            sleep = await self._pass()
            async with self._progress:
                self._finished = started
                self._progress.notify_all()
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), sleep)

    async def _pass(self) -> float:
        """Run what is due; how long to sleep before the next pass (real seconds)."""
        sleep = self._poll
        for job in self._jobs:
            if self._stopping:
                break
            try:
                due = await self._run_due(job)
            except Exception:
                log.exception("scheduled job failed; retrying", extra={"job": job.name})
                continue  # tried again at the next pass, at most `POLL_SECONDS` away
            if due is not None:
                ahead = (due - self._clock.now()).total_seconds()
                # Due and still not done (another process holds it): the next poll looks again.
                if ahead > 0:
                    sleep = min(sleep, ahead)
        return sleep

    async def _run_due(self, job: Job) -> datetime | None:
        """Run `job` while it has due work and makes progress; its next due time."""
        for _ in range(MAX_RUNS_PER_PASS):
            due = await job.next_due()
            if due is None or due > self._clock.now():
                return due
            done = await job.run()
            if done:
                log.info("scheduled work done", extra={"job": job.name, "count": done})
            else:
                return await job.next_due()
        return await job.next_due()
