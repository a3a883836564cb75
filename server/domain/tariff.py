"""A facility's tariff: every price and fee, in integer cents. Pure: no I/O, no clock.

`DEFAULT_TARIFF` is what a new facility gets (DESIGN.md §1). Every figure is a per-facility
setting, stored in `facility_settings.tariff`, editable by a facility admin, shown to users
before they pay, and checked against a rate-cap profile by `homeline tariff check`.

What callers use:
- `quote_deposit`: amount, fee and total of a deposit, or a domain error saying why not;
- `message_price`, `is_saturday`, `local_day_bounds`: the Saturday free-message rule;
- `check_tariff`: a whole tariff submitted by an admin, validated field by field.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from server.domain.money import MAX_CENTS, Money
from server.domain.ratecaps import default_profile
from server.errors import FieldErrors


class Channel(StrEnum):
    ONLINE = "online"  # web, through the payment gateway
    KIOSK = "kiosk"  # lobby kiosk, through the gateway
    PHONE = "phone"  # automated phone line, through the gateway
    OPERATOR = "operator"  # live operator, recorded by support staff
    MAIL = "mail"  # money order by post, recorded by support staff


GATEWAY_CHANNELS = frozenset({Channel.ONLINE, Channel.KIOSK, Channel.PHONE})
STAFF_CHANNELS = frozenset({Channel.OPERATOR, Channel.MAIL})
CHANNEL_LABELS = {
    Channel.ONLINE: "online payment",
    Channel.KIOSK: "kiosk",
    Channel.PHONE: "automated phone",
    Channel.OPERATOR: "live operator",
    Channel.MAIL: "mail",
}

# Which deposit rule applies to which kind of ledger account (server/domain/ledger.py).
WALLET_ACCOUNTS = frozenset({"family_wallet", "resident_wallet"})
CALLING_ACCOUNTS = frozenset({"ppc", "pin_debit"})
TRUST_ACCOUNT = "trust"
DEPOSIT_ACCOUNTS = WALLET_ACCOUNTS | CALLING_ACCOUNTS | {TRUST_ACCOUNT}

# Settings staff need but families do not: left out of the public tariff.
INTERNAL_FIELDS = frozenset({"refund_approval_threshold_cents", "size_class"})


@dataclass(frozen=True)
class FeeTier:
    up_to_cents: int  # inclusive upper bound of the deposit amount
    fee_cents: int


@dataclass(frozen=True)
class Tariff:
    message_cents: int = 50
    free_saturday_messages: int = 2
    photo_cents: int = 100
    remote_visit_cents_per_minute: int = 20
    onsite_visit_cents_per_minute: int = 0
    wallet_deposit_min_cents: int = 500
    wallet_deposit_fee_cents: int = 150
    calling_deposit_fee_cents: dict[str, int] = field(
        default_factory=lambda: {
            Channel.ONLINE.value: 300,
            Channel.KIOSK.value: 300,
            Channel.PHONE.value: 300,
            Channel.OPERATOR.value: 595,
            Channel.MAIL.value: 0,
        }
    )
    # By channel, tiers in rising order; an amount above the last tier is refused.
    trust_deposit_fee_tiers: dict[str, tuple[FeeTier, ...]] = field(
        default_factory=lambda: {
            Channel.ONLINE.value: (
                FeeTier(2_000, 295),
                FeeTier(10_000, 495),
                FeeTier(30_000, 795),
                FeeTier(100_000, 995),
            ),
            Channel.KIOSK.value: (
                FeeTier(2_000, 195),
                FeeTier(10_000, 395),
                FeeTier(30_000, 595),
                FeeTier(100_000, 795),
            ),
            Channel.PHONE.value: (
                FeeTier(2_000, 395),
                FeeTier(10_000, 595),
                FeeTier(30_000, 895),
                FeeTier(100_000, 1095),
            ),
            Channel.OPERATOR.value: (FeeTier(30_000, 995), FeeTier(100_000, 1295)),
            Channel.MAIL.value: (FeeTier(100_000, 0),),
        }
    )
    # Support staff need a second staff member's approval for a refund or credit above this.
    refund_approval_threshold_cents: int = 2_500
    # The facility's size class for the rate-cap check (see server/domain/data/rate_caps_*.json).
    size_class: str = "prison"

    def public_json(self) -> dict[str, Any]:
        """What families see before they pay: every price and fee, no internal setting."""
        return {k: v for k, v in self.to_json().items() if k not in INTERNAL_FIELDS}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["trust_deposit_fee_tiers"] = {
            ch: [asdict(t) for t in tiers] for ch, tiers in self.trust_deposit_fee_tiers.items()
        }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tariff:
        """Stored settings over the defaults (a field added later gets its default)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "trust_deposit_fee_tiers" in known:
            known["trust_deposit_fee_tiers"] = {
                ch: tuple(FeeTier(**t) for t in tiers)
                for ch, tiers in known["trust_deposit_fee_tiers"].items()
            }
        return cls(**known)


DEFAULT_TARIFF = Tariff()


@dataclass(frozen=True)
class Quote:
    """A deposit before it is made: what arrives in the account, the fee, what the payer pays."""

    amount_cents: int
    fee_cents: int
    total_cents: int


def quote_deposit(
    tariff: Tariff, *, account_kind: str, channel: Channel | str, amount_cents: int
) -> Quote:
    """Amount, fee and total of a deposit, or `FieldErrors` naming the field that is wrong.

    Wallets ("family_wallet", "resident_wallet"): at least `wallet_deposit_min_cents`, a flat
    `wallet_deposit_fee_cents` whatever the channel. Calling accounts ("ppc", "pin_debit"): the
    fee of the channel in `calling_deposit_fee_cents`, no minimum beyond one cent. "trust": the
    fee of the first tier of the channel whose `up_to_cents` covers the amount; more than the
    top tier is refused. Every amount is a whole number of cents, > 0 and <= MAX_CENTS.
    """
    problems: dict[str, str] = {}
    if account_kind not in DEPOSIT_ACCOUNTS:
        problems["account"] = "Deposits go to a wallet, a calling account or a trust account."
    try:
        ch = Channel(channel)
    except ValueError:
        problems["channel"] = f"Must be one of {', '.join(c.value for c in Channel)}."
    if amount_problem := _amount_problem(amount_cents):
        problems["amount_cents"] = amount_problem
    if problems:
        raise FieldErrors(problems)

    if account_kind in WALLET_ACCOUNTS:
        if amount_cents < tariff.wallet_deposit_min_cents:
            raise FieldErrors(
                {
                    "amount_cents": "The smallest wallet deposit is "
                    f"{Money(tariff.wallet_deposit_min_cents)}."
                }
            )
        fee = tariff.wallet_deposit_fee_cents
    elif account_kind in CALLING_ACCOUNTS:
        channel_fee = tariff.calling_deposit_fee_cents.get(ch.value)
        if channel_fee is None:
            raise FieldErrors({"channel": _not_accepted(ch, "calling-account")})
        fee = channel_fee
    else:
        fee = _trust_fee(tariff, ch, amount_cents)
    return Quote(amount_cents=amount_cents, fee_cents=fee, total_cents=amount_cents + fee)


def _amount_problem(amount_cents: object) -> str | None:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        return "Must be a whole number of cents."
    if amount_cents <= 0:
        return "Must be more than zero."
    if amount_cents > MAX_CENTS:
        return f"Must be at most {Money(MAX_CENTS)}."
    return None


def _not_accepted(channel: Channel, what: str) -> str:
    return f"This facility does not take {what} deposits by {CHANNEL_LABELS[channel]}."


def _trust_fee(tariff: Tariff, channel: Channel, amount_cents: int) -> int:
    tiers = tariff.trust_deposit_fee_tiers.get(channel.value, ())
    if not tiers:
        raise FieldErrors({"channel": _not_accepted(channel, "trust")})
    for tier in tiers:
        if amount_cents <= tier.up_to_cents:
            return tier.fee_cents
    raise FieldErrors(
        {
            "amount_cents": f"Trust deposits by {CHANNEL_LABELS[channel]} are limited to "
            f"{Money(tiers[-1].up_to_cents)} each."
        }
    )


def message_price(tariff: Tariff, *, sent_today_by_sender: int, is_saturday_local: bool) -> int:
    """The price of the next message of a sender who has already sent `sent_today_by_sender`
    messages today (the facility's local day): free for the first `free_saturday_messages` on
    a Saturday, `message_cents` otherwise. Unused free messages do not carry over."""
    if sent_today_by_sender < 0:
        raise ValueError("sent_today_by_sender cannot be negative")
    if is_saturday_local and sent_today_by_sender < tariff.free_saturday_messages:
        return 0
    return tariff.message_cents


def is_saturday(now_utc: datetime, tz_name: str) -> bool:
    """Whether `now_utc` falls on a Saturday in the time zone `tz_name` (the facility's)."""
    return _local(now_utc, tz_name).weekday() == 5


def local_day_bounds(now_utc: datetime, tz_name: str) -> tuple[datetime, datetime]:
    """The facility-local day containing `now_utc`, as [start, end) in UTC, for counting a
    sender's messages "today". A day is 23 or 25 hours long when the clocks change."""
    tz = ZoneInfo(tz_name)
    day = _local(now_utc, tz_name).date()
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _local(now_utc: datetime, tz_name: str) -> datetime:
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    return now_utc.astimezone(ZoneInfo(tz_name))


# (lowest, highest) for each whole-number setting. The upper bounds catch slips such as an
# extra zero, not policy: the rate-cap check is where regulation is applied.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "message_cents": (0, 1_000),
    "free_saturday_messages": (0, 100),
    "photo_cents": (0, 2_000),
    "remote_visit_cents_per_minute": (0, 500),
    "onsite_visit_cents_per_minute": (0, 500),
    "wallet_deposit_min_cents": (0, 100_000),
    "wallet_deposit_fee_cents": (0, 2_000),
    "refund_approval_threshold_cents": (0, 1_000_000),
}
COUNT_FIELDS = frozenset({"free_saturday_messages"})  # the rest are cents
CALLING_FEE_MAX = 2_000
TRUST_FEE_MAX = 5_000
MAX_TRUST_TIERS = 20


def check_tariff(data: Mapping[str, Any], *, size_classes: Collection[str] | None = None) -> Tariff:
    """A whole tariff as submitted by an admin (the JSON of `Tariff.to_json`), or
    `FieldErrors` with one sentence per wrong field ("calling_deposit_fee_cents.mail",
    "trust_deposit_fee_tiers.online.1.up_to_cents"). Every field is required; `size_class`
    must be one of `size_classes` (by default those of the packaged rate-cap profile)."""
    if size_classes is None:
        size_classes = default_profile().size_classes.keys()
    problems: dict[str, str] = {}
    for name in data:
        if name not in Tariff.__dataclass_fields__:
            problems[name] = "Unknown field."
    for name in Tariff.__dataclass_fields__:
        if name not in data:
            problems[name] = "This field is required."

    for name, (low, high) in INT_BOUNDS.items():
        if name in data and (
            p := _int_problem(data[name], low, high, money=name not in COUNT_FIELDS)
        ):
            problems[name] = p

    fees = data.get("calling_deposit_fee_cents")
    if fees is not None:
        problems.update(_check_calling_fees(fees))
    tiers = data.get("trust_deposit_fee_tiers")
    if tiers is not None:
        problems.update(_check_trust_tiers(tiers))
    size_class = data.get("size_class")
    if size_class is not None and (
        not isinstance(size_class, str) or size_class not in size_classes
    ):
        problems["size_class"] = f"Must be one of {', '.join(sorted(size_classes))}."
    if problems:
        raise FieldErrors(problems)
    return Tariff.from_json(
        {
            **data,
            # Canonical channel order, whatever order the submission used.
            "calling_deposit_fee_cents": {
                c.value: data["calling_deposit_fee_cents"][c] for c in Channel
            },
            "trust_deposit_fee_tiers": {
                c.value: data["trust_deposit_fee_tiers"][c] for c in Channel
            },
        }
    )


def _int_problem(value: object, low: int, high: int, *, money: bool = True) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "Must be a whole number of cents." if money else "Must be a whole number."
    if not low <= value <= high:
        if money:
            return f"Must be between {low} and {high} cents ({Money(low)} to {Money(high)})."
        return f"Must be between {low} and {high}."
    return None


def _by_channel(value: object, name: str) -> tuple[dict[str, object], dict[str, str]]:
    """The per-channel table, and the problems of its shape: every channel, no other key."""
    if not isinstance(value, Mapping):
        return {}, {name: "Must be an object with one entry per channel."}
    problems = {f"{name}.{key}": "Unknown channel." for key in value if key not in set(Channel)}
    problems.update(
        {f"{name}.{c.value}": "Every channel needs an entry." for c in Channel if c not in value}
    )
    return dict(value), problems


def _check_calling_fees(value: object) -> dict[str, str]:
    name = "calling_deposit_fee_cents"
    table, problems = _by_channel(value, name)
    for c in Channel:
        if c.value in table and (p := _int_problem(table[c.value], 0, CALLING_FEE_MAX)):
            problems[f"{name}.{c.value}"] = p
    return problems


def _check_trust_tiers(value: object) -> dict[str, str]:
    name = "trust_deposit_fee_tiers"
    table, problems = _by_channel(value, name)
    for c in Channel:
        tiers = table.get(c.value)
        if tiers is None:
            continue
        where = f"{name}.{c.value}"
        if not isinstance(tiers, list | tuple) or not tiers:
            problems[where] = "Give at least one tier: a list of {up_to_cents, fee_cents}."
            continue
        if len(tiers) > MAX_TRUST_TIERS:
            problems[where] = f"Use at most {MAX_TRUST_TIERS} tiers."
            continue
        previous = 0
        for i, tier in enumerate(tiers):
            if not isinstance(tier, Mapping) or set(tier) != {"up_to_cents", "fee_cents"}:
                problems[f"{where}.{i}"] = "Must be an object with up_to_cents and fee_cents."
                continue
            up_to, fee = tier["up_to_cents"], tier["fee_cents"]
            if p := _int_problem(up_to, 1, MAX_CENTS):
                problems[f"{where}.{i}.up_to_cents"] = p
            elif up_to <= previous:
                problems[f"{where}.{i}.up_to_cents"] = (
                    f"Must be more than {previous}, the tier before: tiers rise strictly."
                )
            else:
                previous = up_to
            if p := _int_problem(fee, 0, TRUST_FEE_MAX):
                problems[f"{where}.{i}.fee_cents"] = p
    return problems
