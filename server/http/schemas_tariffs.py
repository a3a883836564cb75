"""The request body of a facility's tariff (the admin's edit)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from server.domain.money import MAX_CENTS
from server.domain.ratecaps import default_profile
from server.domain.tariff import (
    CALLING_FEE_MAX,
    INT_BOUNDS,
    MAX_TRUST_TIERS,
    TRUST_FEE_MAX,
    Channel,
)
from server.http.parsing import Body


class FeeTierBody(Body):
    # Ranges checked by `check_tariff` (with its sentences), stated in the document.
    up_to_cents: Annotated[int, Field(json_schema_extra={"minimum": 1, "maximum": MAX_CENTS})]
    fee_cents: Annotated[int, Field(json_schema_extra={"minimum": 0, "maximum": TRUST_FEE_MAX})]


def _tariff_schema(schema: dict[str, Any]) -> None:
    """The ranges and shapes `check_tariff` enforces, as the document states them (it checks
    them itself, with its own sentences). Not stated: trust fee tiers rise strictly."""
    props = schema["properties"]
    for name, (low, high) in INT_BOUNDS.items():
        props[name].update(minimum=low, maximum=high)
    channels = [c.value for c in Channel]

    def per_channel(value: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {c: value for c in channels},
            "required": channels,
            "additionalProperties": False,
        }

    props["calling_deposit_fee_cents"] = per_channel(
        {"type": "integer", "minimum": 0, "maximum": CALLING_FEE_MAX}
    )
    # FeeTierBody's reference, wherever pydantic put the table's values (patternProperties
    # when the keys have a pattern, as the request schema gives every string).
    tables = props["trust_deposit_fee_tiers"]
    values = [*tables.get("patternProperties", {}).values(), tables.get("additionalProperties")]
    tier = next(v["items"] for v in values if isinstance(v, dict))
    props["trust_deposit_fee_tiers"] = per_channel(
        {"type": "array", "items": tier, "minItems": 1, "maxItems": MAX_TRUST_TIERS}
    )
    props["size_class"] = {"type": "string", "enum": sorted(default_profile().size_classes)}


class TariffBody(Body):
    """The whole tariff, as the staff GET returns it under "tariff", plus an optional reason
    for the audit log. Ranges and rules are checked by `check_tariff`, field by field."""

    model_config = ConfigDict(json_schema_extra=_tariff_schema)

    message_cents: int
    free_saturday_messages: int
    photo_cents: int
    remote_visit_cents_per_minute: int
    onsite_visit_cents_per_minute: int
    wallet_deposit_min_cents: int
    wallet_deposit_fee_cents: int
    calling_deposit_fee_cents: Annotated[dict[str, int], Field(max_length=10)]
    trust_deposit_fee_tiers: Annotated[
        dict[str, Annotated[list[FeeTierBody], Field(max_length=50)]], Field(max_length=10)
    ]
    refund_approval_threshold_cents: int
    size_class: Annotated[str, Field(max_length=40)]
    reason: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
