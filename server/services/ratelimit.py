"""Fixed-window rate limits, in process (embedded) or in Redis (several processes).

Log-in limits count only failed attempts (so a facility's tablets waking up together behind
one address are never refused); the others count every attempt.

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


class RateLimiter(Protocol):
    async def hit(self, limit: Limit, key: str) -> int | None:
        """Count one attempt; the seconds to wait if the limit is now exceeded, else None."""
        ...

    async def wait(self, limit: Limit, key: str) -> int | None:
        """Without counting: the seconds to wait if the limit is already used up, else None."""
        ...

    async def close(self) -> None: ...


async def enforce(limiter: RateLimiter, *checks: tuple[Limit, str]) -> None:
    """Count every check (so a limited caller keeps being counted) and raise the longest wait."""
    waits = [w for limit, key in checks if (w := await limiter.hit(limit, key)) is not None]
    if waits:
        raise RateLimited(max(waits))


async def refuse_if_spent(limiter: RateLimiter, *checks: tuple[Limit, str]) -> None:
    """For limits that count only failures (log in): refuse once the failures are used up."""
    waits = [w for limit, key in checks if (w := await limiter.wait(limit, key)) is not None]
    if waits:
        raise RateLimited(max(waits))


async def count_failure(limiter: RateLimiter, *checks: tuple[Limit, str]) -> None:
    for limit, key in checks:
        await limiter.hit(limit, key)


def _seconds_left(remaining: float) -> int:
    """Whole seconds until the window ends, rounded up: waiting that long is always enough,
    and at a window's start it is the window itself (300, not 301)."""
    return max(1, math.ceil(remaining))


class MemoryRateLimiter:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # (limit name, key) -> (window end as a timestamp, count in this window)
        self._counts: dict[tuple[str, str], tuple[float, int]] = {}

    async def hit(self, limit: Limit, key: str) -> int | None:
        now = self._clock.now().timestamp()
        bucket = (limit.name, key.lower())
        ends, count = self._counts.get(bucket, (0.0, 0))
        if ends <= now:
            ends, count = (now // limit.window + 1) * limit.window, 0
        count += 1
        self._counts[bucket] = (ends, count)
        if len(self._counts) > 100_000:
            self._counts = {b: v for b, v in self._counts.items() if v[0] > now}
        if count > limit.limit:
            return _seconds_left(ends - now)
        return None

    async def wait(self, limit: Limit, key: str) -> int | None:
        now = self._clock.now().timestamp()
        ends, count = self._counts.get((limit.name, key.lower()), (0.0, 0))
        if ends > now and count >= limit.limit:
            return _seconds_left(ends - now)
        return None

    async def close(self) -> None:
        self._counts.clear()


class RedisRateLimiter:
    """Counts in Redis, shared by every process. While Redis cannot be reached the limits are
    counted in this process instead (logged), so an outage never stops anyone signing in."""

    def __init__(self, redis: Redis, clock: Clock, *, prefix: str = "homeline:rl") -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = prefix
        self._fallback = MemoryRateLimiter(clock)

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

    async def hit(self, limit: Limit, key: str) -> int | None:
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
            return await self._fallback.hit(limit, key)
        if int(count) > limit.limit:
            return _seconds_left((window + 1) * limit.window - now)
        return None

    async def close(self) -> None:
        await self._fallback.close()
        await self._redis.aclose()
