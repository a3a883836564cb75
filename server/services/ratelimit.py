"""Fixed-window rate limits, in process (embedded) or in Redis (several processes).

Every limit is taken *before* the work it protects (a password or PIN check, a code lookup, a
mail): the attempt is counted first, atomically (an increment in process, INCR in Redis), and
refused when that count is over the limit. So N attempts in parallel never get more than the
limit checked, however they interleave.

Log-in limits (family, tablet PIN, staff) count only failed attempts, so that a facility's
tablets waking up together behind one address are never refused: an attempt reserves its place
before the check (`reserve`), a successful one gives it back, and one that the limit refuses
gives it back at once (it was never checked). The other limits (sign-up, activation, reset,
resend) count every attempt, refused ones included (`enforce`).

Limits are short on purpose: a stranger hammering someone's username can hold that account's
login back for at most one window (5 minutes), never lock it for long.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.clock import Clock
from server.errors import RateLimited

log = logging.getLogger("homeline.ratelimit")


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window: int  # seconds


# The policy, in one place.
LOGIN_PER_ACCOUNT = Limit("login-account", 10, 300)
# Families behind one carrier NAT share an address: generous, but still stops a sprayer.
LOGIN_PER_ADDRESS = Limit("login-ip", 300, 300)
TABLET_PER_RESIDENT = Limit("tablet-resident", 5, 300)
# Tablets in one facility share an address, so the per-address limit is generous.
TABLET_PER_ADDRESS = Limit("tablet-ip", 300, 300)
SIGNUP_PER_ADDRESS = Limit("signup-ip", 10, 3600)
ACTIVATE_PER_EMAIL = Limit("activate-email", 10, 900)
ACTIVATE_PER_ADDRESS = Limit("activate-ip", 30, 900)
MAIL_PER_EMAIL = Limit("mail-email", 3, 900)
MAIL_PER_ADDRESS = Limit("mail-ip", 20, 900)
# Each upload costs a worker process a decode: far more than a family sends, still a ceiling.
PHOTO_UPLOADS_PER_FAMILY = Limit("photo-uploads", 100, 3600)


@dataclass(frozen=True)
class Attempt:
    """One attempt counted against one limit, and what it takes to give it back."""

    limit: Limit
    key: str
    window: int  # which fixed window counted it: its start time // limit.window
    wait: int | None  # seconds until that window ends when this attempt is over the limit
    in_process: bool = False  # counted in process because Redis was unreachable


class RateLimiter(Protocol):
    async def count(self, limit: Limit, key: str) -> Attempt:
        """Count one attempt, atomically; its `wait` is set when it is over the limit."""
        ...

    async def give_back(self, attempt: Attempt) -> None:
        """Uncount an attempt (nothing if its window has ended meanwhile)."""
        ...

    async def wait(self, limit: Limit, key: str) -> int | None:
        """Without counting: the seconds to wait if the limit is already used up, else None."""
        ...

    async def close(self) -> None: ...


async def enforce(limiter: RateLimiter, *checks: tuple[Limit, str]) -> None:
    """For limits that count every attempt: count this one against every check before the work
    it protects (so a limited caller keeps being counted) and raise the longest wait."""
    attempts = [await limiter.count(limit, key) for limit, key in checks]
    waits = [a.wait for a in attempts if a.wait is not None]
    if waits:
        raise RateLimited(max(waits))


@dataclass(frozen=True)
class Reservation:
    """An attempt's place under limits that count only failures: kept if the check fails,
    given back if it succeeds."""

    limiter: RateLimiter
    attempts: tuple[Attempt, ...]

    async def give_back(self) -> None:
        for attempt in self.attempts:
            await self.limiter.give_back(attempt)


async def reserve(limiter: RateLimiter, *checks: tuple[Limit, str]) -> Reservation:
    """For limits that count only failures (log in): take this attempt's place under every
    check before the expensive check, and refuse with the longest wait if any is used up.

    A refused attempt gives its places back at once: it was not checked, so it is not a
    failure. The places of attempts still being checked stay taken, so the count never drops
    to the limit while `limit` checks are under way.
    """
    attempts = tuple([await limiter.count(limit, key) for limit, key in checks])
    reservation = Reservation(limiter, attempts)
    waits = [a.wait for a in reservation.attempts if a.wait is not None]
    if waits:
        await reservation.give_back()
        raise RateLimited(max(waits))
    return reservation


def _seconds_left(remaining: float) -> int:
    """Whole seconds until the window ends, rounded up: waiting that long is always enough,
    and at a window's start it is the window itself (300, not 301)."""
    return max(1, math.ceil(remaining))


def _wait(limit: Limit, window: int, count: int, now: float) -> int | None:
    if count > limit.limit:
        return _seconds_left((window + 1) * limit.window - now)
    return None


class MemoryRateLimiter:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # (limit name, key) -> (window, count in that window, window end as a timestamp).
        # Counting is atomic: nothing awaits between reading and writing a count.
        self._counts: dict[tuple[str, str], tuple[int, int, float]] = {}

    async def count(self, limit: Limit, key: str, *, in_process: bool = False) -> Attempt:
        now = self._clock.now().timestamp()
        window = int(now // limit.window)
        bucket = (limit.name, key.lower())
        seen, count, _ = self._counts.get(bucket, (window, 0, 0.0))
        count = count + 1 if seen == window else 1
        self._counts[bucket] = (window, count, (window + 1) * limit.window)
        if len(self._counts) > 100_000:
            self._counts = {b: v for b, v in self._counts.items() if v[2] > now}
        return Attempt(limit, key, window, _wait(limit, window, count, now), in_process)

    async def give_back(self, attempt: Attempt) -> None:
        bucket = (attempt.limit.name, attempt.key.lower())
        found = self._counts.get(bucket)
        if found is not None and found[0] == attempt.window and found[1] > 0:
            self._counts[bucket] = (found[0], found[1] - 1, found[2])

    async def hit(self, limit: Limit, key: str) -> int | None:
        """Count one attempt; the seconds to wait if it is over the limit, else None."""
        return (await self.count(limit, key)).wait

    async def wait(self, limit: Limit, key: str) -> int | None:
        now = self._clock.now().timestamp()
        window = int(now // limit.window)
        seen, count, _ = self._counts.get((limit.name, key.lower()), (window, 0, 0.0))
        if seen == window and count >= limit.limit:
            return _seconds_left((window + 1) * limit.window - now)
        return None

    async def close(self) -> None:
        self._counts.clear()


# Giving back never creates a key (its window may have ended and the key expired: a DECR would
# leave a -1 with no expiry behind) and never goes below zero.
_GIVE_BACK = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


class RedisRateLimiter:
    """Counts in Redis, shared by every process: INCR (with its expiry, in one MULTI) to count,
    a Lua script to give back, both atomic. While Redis cannot be reached the limits are
    counted in this process instead (logged), so an outage never stops anyone signing in."""

    def __init__(self, redis: Redis, clock: Clock, *, prefix: str = "homeline:rl") -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = prefix
        self._fallback = MemoryRateLimiter(clock)
        self._give_back = redis.register_script(_GIVE_BACK)

    def _name(self, limit: Limit, key: str, window: int) -> str:
        return f"{self._prefix}:{limit.name}:{key.lower()}:{window}"

    async def wait(self, limit: Limit, key: str) -> int | None:
        now = self._clock.now().timestamp()
        window = int(now // limit.window)
        try:
            count = await self._redis.get(self._name(limit, key, window))
        except RedisError:
            log.warning("rate limits counted in process: Redis unreachable", exc_info=True)
            return await self._fallback.wait(limit, key)
        if count is not None and int(count) >= limit.limit:
            return _seconds_left((window + 1) * limit.window - now)
        return None

    async def count(self, limit: Limit, key: str) -> Attempt:
        now = self._clock.now().timestamp()
        window = int(now // limit.window)
        name = self._name(limit, key, window)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, limit.window + 5)
                count, _ = await pipe.execute()
        except RedisError:
            log.warning("rate limits counted in process: Redis unreachable", exc_info=True)
            return await self._fallback.count(limit, key, in_process=True)
        return Attempt(limit, key, window, _wait(limit, window, int(count), now))

    async def give_back(self, attempt: Attempt) -> None:
        if attempt.in_process:
            await self._fallback.give_back(attempt)
            return
        try:
            await self._give_back(keys=[self._name(attempt.limit, attempt.key, attempt.window)])
        except RedisError:
            # Left counted: the caller is held back a little sooner, never let through more.
            log.warning("rate limit not given back: Redis unreachable", exc_info=True)

    async def hit(self, limit: Limit, key: str) -> int | None:
        """Count one attempt; the seconds to wait if it is over the limit, else None."""
        return (await self.count(limit, key)).wait

    async def close(self) -> None:
        await self._fallback.close()
        await self._redis.aclose()
