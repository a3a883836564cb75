"""A party: one person who has an event stream and a socket.io room (a family member, a
resident, a staff member), named by kind and id. Family members and residents are also the two
sides of a contact and of a message, and each has a wallet in the ledger.

Its string form, "family:12", is the person's room in the `/` namespace and the scope of their
idempotency keys; `Party.parse` reads it back. `Party.owning` tells whose a ledger account is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.domain.ledger import AccountKind, AccountRef, family_wallet, resident_wallet


class PartyKind(StrEnum):
    FAMILY = "family"
    RESIDENT = "resident"
    STAFF = "staff"


# Whose each kind of personal account is; the house's (system) accounts are nobody's.
_FAMILY_ACCOUNTS = (AccountKind.FAMILY_WALLET, AccountKind.PPC)
_RESIDENT_ACCOUNTS = (AccountKind.RESIDENT_WALLET, AccountKind.PIN_DEBIT, AccountKind.TRUST)


@dataclass(frozen=True, order=True)
class Party:
    """Ordered by kind, then id: the event stream locks streams in this order."""

    kind: PartyKind
    id: int

    def __post_init__(self) -> None:
        # Stored kinds arrive as plain strings ("family"); keep one type so that parties
        # compare, hash and sort alike wherever they came from.
        object.__setattr__(self, "kind", PartyKind(self.kind))
        if isinstance(self.id, bool) or not isinstance(self.id, int) or self.id < 1:
            raise ValueError(f"a party's id is a positive whole number, not {self.id!r}")

    @classmethod
    def family(cls, family_account_id: int) -> Party:
        return cls(PartyKind.FAMILY, family_account_id)

    @classmethod
    def resident(cls, resident_id: int) -> Party:
        return cls(PartyKind.RESIDENT, resident_id)

    @classmethod
    def parse(cls, text: str) -> Party:
        """The party written as "kind:id" (the inverse of `str`); ValueError otherwise."""
        kind, sep, number = text.partition(":")
        if not sep or not _is_canonical_id(number):
            raise ValueError(f"not a party: {text!r}")
        return cls(PartyKind(kind), int(number))

    @classmethod
    def owning(cls, account: AccountRef) -> Party | None:
        """Whose account this is (a PPC account is the family member's); None for the
        house's own accounts."""
        if account.kind in _FAMILY_ACCOUNTS and account.family_account_id is not None:
            return cls.family(account.family_account_id)
        if account.kind in _RESIDENT_ACCOUNTS and account.resident_id is not None:
            return cls.resident(account.resident_id)
        return None

    @classmethod
    def owning_key(cls, owner_key: str) -> Party | None:
        """`owning` for an account named by its ledger owner key ("family_wallet:12")."""
        return cls.owning(AccountRef.parse(owner_key))

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @property
    def room(self) -> str:
        """This person's socket.io room in the `/` namespace, which their pushes go to."""
        return str(self)

    @property
    def wallet(self) -> AccountRef:
        """The ledger account that pays for (and may be paid for) this person's messages.
        Staff pay for nothing, so they have none (ValueError)."""
        if self.kind is PartyKind.FAMILY:
            return family_wallet(self.id)
        if self.kind is PartyKind.RESIDENT:
            return resident_wallet(self.id)
        raise ValueError(f"{self} has no wallet")


def _is_canonical_id(number: str) -> bool:
    """Digits only, no sign, no leading zero: so that `str(Party.parse(s)) == s`."""
    return number.isascii() and number.isdecimal() and not number.startswith("0")
