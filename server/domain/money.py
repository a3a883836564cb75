"""Money: integer cents, never floats. A transaction's postings must sum to zero."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# A single amount above this is refused everywhere: no deposit, charge or refund is that large,
# and it keeps every sum far inside a 64-bit integer.
MAX_CENTS = 100_000_000  # $1,000,000.00


@dataclass(frozen=True, order=True)
class Money:
    cents: int

    def __post_init__(self) -> None:
        if isinstance(self.cents, bool) or not isinstance(self.cents, int):
            raise TypeError("Money is a whole number of cents")

    def __add__(self, other: Money) -> Money:
        return Money(self.cents + other.cents)

    def __sub__(self, other: Money) -> Money:
        return Money(self.cents - other.cents)

    def __neg__(self) -> Money:
        return Money(-self.cents)

    def __str__(self) -> str:
        sign = "-" if self.cents < 0 else ""
        whole, cents = divmod(abs(self.cents), 100)
        return f"{sign}${whole:,}.{cents:02d}"

    @property
    def positive(self) -> bool:
        return self.cents > 0


ZERO = Money(0)


def balanced(amounts: Iterable[int]) -> bool:
    """Double entry: the postings of one transaction sum to zero."""
    return sum(amounts) == 0
