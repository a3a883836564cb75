"""A facility's tariff: public prices, the staff view with rate-cap warnings, the admin's edit."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import ConfigDict, Field

from server.appkeys import SERVICES
from server.domain.money import MAX_CENTS
from server.domain.ratecaps import default_profile
from server.domain.tariff import (
    CALLING_FEE_MAX,
    INT_BOUNDS,
    MAX_TRUST_TIERS,
    TRUST_FEE_MAX,
    Channel,
    check_tariff,
)
from server.http.api import Endpoint
from server.http.auth import authenticate
from server.http.parsing import Body, parse_json, path_id
from server.services import tariffs
from server.services.context import PrincipalKind


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


def _facility_json(t: tariffs.FacilityTariff) -> dict[str, Any]:
    return {"id": t.facility_id, "name": t.facility_name, "timezone": t.timezone}


def checked_json(checked: tariffs.CheckedTariff) -> dict[str, Any]:
    t = checked.current
    return {
        "facility": _facility_json(t),
        "tariff": t.tariff.to_json(),
        "is_default": t.is_default,
        "updated_at": t.updated_at.isoformat() if t.updated_at else None,
        "updated_by_staff_id": t.updated_by_staff_id,
        "rate_caps": {
            "profile": checked.profile.name,
            "title": checked.profile.title,
            "notice": checked.profile.notice,
        },
        "warnings": [v.to_json() for v in checked.violations],
    }


async def get_public_tariff(request: web.Request) -> web.Response:
    facility_id = path_id(request)
    found = await tariffs.facility_tariff(request.app[SERVICES], facility_id=facility_id)
    return web.json_response(
        {
            "facility": _facility_json(found),
            "tariff": found.tariff.public_json(),
            "updated_at": found.updated_at.isoformat() if found.updated_at else None,
        }
    )


async def get_staff_tariff(request: web.Request) -> web.Response:
    facility_id = path_id(request)
    actor = await authenticate(request, PrincipalKind.STAFF)
    checked = await tariffs.access_tariff(request.app[SERVICES], actor, facility_id=facility_id)
    return web.json_response(checked_json(checked))


async def put_staff_tariff(request: web.Request) -> web.Response:
    facility_id = path_id(request)
    body = await parse_json(request, TariffBody)
    tariff = check_tariff(body.model_dump(exclude={"reason"}))
    actor = await authenticate(request, PrincipalKind.STAFF)
    checked = await tariffs.do_update_tariff(
        request.app[SERVICES], actor, facility_id=facility_id, tariff=tariff, reason=body.reason
    )
    return web.json_response(checked_json(checked))


def endpoints() -> list[Endpoint]:
    t = "tariffs"
    return [
        Endpoint(
            "GET",
            "/api/v1/facilities/{id}/tariff",
            get_public_tariff,
            "A facility's prices and fees, shown before paying",
            t,
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/facilities/{id}/tariff",
            get_staff_tariff,
            "The full tariff with its rate-cap warnings (staff of the facility)",
            t,
            auth="staff",
            errors=(403,),
        ),
        Endpoint(
            "PUT",
            "/api/v1/staff/facilities/{id}/tariff",
            put_staff_tariff,
            "Replace the tariff (facility admin; audited); answers with rate-cap warnings",
            t,
            body=TariffBody,
            auth="staff",
            errors=(403,),
        ),
    ]
