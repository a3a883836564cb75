"""The ledger's vocabulary: kinds of account and of transaction, and how accounts are named."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AccountKind(StrEnum):
    FAMILY_WALLET = "family_wallet"  # pays for messages, photos, visits
    RESIDENT_WALLET = "resident_wallet"  # lets a resident pay for messages too
    PPC = "ppc"  # Prepaid Collect: a family member's, tied to one of their phone numbers
    PIN_DEBIT = "pin_debit"  # the resident's, for calls to approved numbers
    TRUST = "trust"  # the resident's trust / commissary account
    SYSTEM = "system"


class SystemCode(StrEnum):
    PAYMENT_CLEARING = "payment_clearing"  # money arriving from (or returning to) processors
    FEE_REVENUE = "fee_revenue"
    MESSAGE_REVENUE = "message_revenue"
    PHOTO_REVENUE = "photo_revenue"
    VISIT_REVENUE = "visit_revenue"
    CALL_REVENUE = "call_revenue"
    VISIT_HOLDS = "visit_holds"  # money set aside for booked visits
    REFUNDS = "refunds"  # goodwill credits are paid from here


class TransactionKind(StrEnum):
    DEPOSIT = "deposit"
    CHARGE = "charge"
    HOLD = "hold"
    CAPTURE = "capture"
    REFUND = "refund"
    CREDIT = "credit"


@dataclass(frozen=True)
class AccountRef:
    """Names one ledger account; accounts are created on first use."""

    kind: AccountKind
    family_account_id: int | None = None
    resident_id: int | None = None
    phone: str | None = None
    system: SystemCode | None = None

    def __post_init__(self) -> None:
        # An incomplete reference would name an account nobody owns ("family_wallet:None") and
        # money sent there would be lost, so each kind must say exactly whose it is.
        k = self.kind
        needs = {
            "family_account_id": k in (AccountKind.FAMILY_WALLET, AccountKind.PPC),
            "resident_id": k
            in (AccountKind.RESIDENT_WALLET, AccountKind.PIN_DEBIT, AccountKind.TRUST),
            "phone": k is AccountKind.PPC,
            "system": k is AccountKind.SYSTEM,
        }
        for name, needed in needs.items():
            present = getattr(self, name) is not None
            if present != needed:
                verb = "needs" if needed else "takes no"
                raise ValueError(f"a {k.value} account {verb} {name}")
        if self.phone is not None and not self.phone:
            raise ValueError("a ppc account needs a phone number")

    @property
    def owner_key(self) -> str:
        k = self.kind
        if self.system is not None:
            return f"system:{self.system.value}"
        if k is AccountKind.FAMILY_WALLET:
            return f"{k.value}:{self.family_account_id}"
        if k is AccountKind.PPC:
            return f"{k.value}:{self.family_account_id}:{self.phone}"
        return f"{k.value}:{self.resident_id}"

    @classmethod
    def parse(cls, owner_key: str) -> AccountRef:
        """The account named by `owner_key` (the inverse of `owner_key`); ValueError if the
        string names none."""
        kind_text, _, rest = owner_key.partition(":")
        kind = AccountKind(kind_text)
        if kind is AccountKind.SYSTEM:
            return system(SystemCode(rest))
        if kind is AccountKind.PPC:
            number, _, phone = rest.partition(":")
            return cls(kind, family_account_id=_owner_id(number, owner_key), phone=phone)
        if kind is AccountKind.FAMILY_WALLET:
            return cls(kind, family_account_id=_owner_id(rest, owner_key))
        return cls(kind, resident_id=_owner_id(rest, owner_key))

    @property
    def may_go_negative(self) -> bool:
        # Only clearing can be "owed": it mirrors money held at the processor. Every other
        # system account receives before it pays (refunds and credits may overdraw `refunds`,
        # which is the house's own money).
        return self.kind is AccountKind.SYSTEM and self.system in (
            SystemCode.PAYMENT_CLEARING,
            SystemCode.REFUNDS,
        )


def family_wallet(family_account_id: int) -> AccountRef:
    return AccountRef(AccountKind.FAMILY_WALLET, family_account_id=family_account_id)


def resident_wallet(resident_id: int) -> AccountRef:
    return AccountRef(AccountKind.RESIDENT_WALLET, resident_id=resident_id)


def system(code: SystemCode) -> AccountRef:
    return AccountRef(AccountKind.SYSTEM, system=code)


def _owner_id(number: str, owner_key: str) -> int:
    # Digits only, no sign, no leading zero: so that parsing a key and writing it back gives
    # the same key, and two spellings never name one account.
    if not (number.isascii() and number.isdecimal()) or number.startswith("0"):
        raise ValueError(f"not an account: {owner_key!r}")
    return int(number)
