"""A facility's tariff: public prices, the staff view with rate-cap warnings, the admin's edit."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.appkeys import SERVICES
from server.domain.tariff import check_tariff
from server.http.api import Endpoint
from server.http.auth import route_actor
from server.http.parsing import parse_json, path_id
from server.http.schemas_tariffs import TariffBody
from server.services import tariffs


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
    actor = await route_actor(request)
    checked = await tariffs.access_tariff(request.app[SERVICES], actor, facility_id=facility_id)
    return web.json_response(checked_json(checked))


async def put_staff_tariff(request: web.Request) -> web.Response:
    facility_id = path_id(request)
    body = await parse_json(request, TariffBody)
    tariff = check_tariff(body.model_dump(exclude={"reason"}))
    actor = await route_actor(request)
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
