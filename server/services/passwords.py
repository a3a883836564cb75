"""Password and PIN hashing with argon2id, always off the event loop (~20-80 ms a hash)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Hasher:
    """argon2id with OWASP's recommended floor: 19 MiB, 2 iterations, 1 lane."""

    def __init__(self, *, time_cost: int = 2, memory_cost: int = 19 * 1024) -> None:
        self._ph = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
        # Verified when an account does not exist, so that "no such user" costs the same time
        # as "wrong password" and timing does not reveal which accounts exist.
        self._dummy = self._ph.hash("homeline-dummy-password")

    async def hash(self, secret: str) -> str:
        return await asyncio.to_thread(self._ph.hash, secret)

    async def verify(self, hashed: str | None, secret: str) -> bool:
        return await asyncio.to_thread(self._verify, hashed, secret)

    def _verify(self, hashed: str | None, secret: str) -> bool:
        try:
            return self._ph.verify(hashed or self._dummy, secret) and hashed is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
