"""A facility's tariff: every price and fee, in integer cents. Pure: no I/O.

`DEFAULT_TARIFF` is what a new facility gets (DESIGN.md §1). Every figure is a per-facility
setting, stored in `facility_settings.tariff`, editable by a facility admin, shown to users
before they pay, and checked against a rate-cap profile by `homeline tariff check`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    ONLINE = "online"  # web, through the payment gateway
    KIOSK = "kiosk"  # lobby kiosk, through the gateway
    PHONE = "phone"  # automated phone line, through the gateway
    OPERATOR = "operator"  # live operator, recorded by support staff
    MAIL = "mail"  # money order by post, recorded by support staff


GATEWAY_CHANNELS = frozenset({Channel.ONLINE, Channel.KIOSK, Channel.PHONE})
STAFF_CHANNELS = frozenset({Channel.OPERATOR, Channel.MAIL})


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
