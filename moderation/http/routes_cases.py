"""The console's case routes: appeals of rejected messages (and the sender's appeal itself),
privileged contacts, and family accounts blocked at a facility."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from moderation.http.schemas import (
    AppealBody,
    BlockListQuery,
    DecideBody,
    FamilyBlockBody,
    LiftBody,
    PrivilegeBody,
    RevokeBody,
)
from moderation.services import appeals, blocks, privilege
from server.appkeys import SERVICES
from server.http.api import Endpoint
from server.http.auth import route_actor
from server.http.parsing import parse_json, parse_query, path_id
from server.http.routes_contacts import contact_json
from server.services.message_views import message_json
from server.services.staff_views import staff_message_json


def appeal_json(a: appeals.AppealItem) -> dict[str, Any]:
    return {
        "id": a.id,
        "facility_id": a.facility_id,
        "status": a.status.value,
        "text": a.text,
        "created_at": a.created_at.isoformat(),
        "rejection_reason": a.rejection_reason,
        "rejected_by": a.rejected_by,
        "rejected_by_staff_id": a.rejected_by_staff_id,
        "rejected_at": a.rejected_at.isoformat() if a.rejected_at else None,
        "message": staff_message_json(a.message),
        "sender_name": a.sender_name,
        "recipient_name": a.recipient_name,
        "decided_at": a.decided_at.isoformat() if a.decided_at else None,
        "decided_by": a.decided_by,
        "decision_reason": a.decision_reason,
    }


def family_block_json(b: blocks.FamilyBlockView) -> dict[str, Any]:
    return {
        "id": b.id,
        "facility_id": b.facility_id,
        "family": {"id": b.family_account_id, "name": b.family_name},
        "reason": b.reason,
        "until": b.until.isoformat() if b.until else None,
        "ends_at": b.ends_at.isoformat() if b.ends_at else None,
        "status": b.state.value,
        "created_at": b.created_at.isoformat(),
        "created_by": b.created_by,
        "created_by_staff_id": b.created_by_staff_id,
        "lifted_at": b.lifted_at.isoformat() if b.lifted_at else None,
        "lifted_by": b.lifted_by,
        "lift_reason": b.lift_reason,
    }


async def appeal_message(request: web.Request) -> web.Response:
    message_id = path_id(request)
    body = await parse_json(request, AppealBody)
    actor = await route_actor(request)
    view = await appeals.do_appeal(
        request.app[SERVICES], actor, message_id=message_id, text=body.text
    )
    return web.json_response(message_json(view, actor.party), status=201)


async def list_appeals(request: web.Request) -> web.Response:
    actor = await route_actor(request)
    found = await appeals.access_appeals(request.app[SERVICES], actor)
    return web.json_response({"items": [appeal_json(a) for a in found]})


async def decide_appeal(request: web.Request) -> web.Response:
    appeal_id = path_id(request)
    body = await parse_json(request, DecideBody)
    actor = await route_actor(request)
    item = await appeals.do_decide(
        request.app[SERVICES],
        actor,
        appeal_id=appeal_id,
        decision=appeals.Decision(body.decision),
        reason=body.reason,
    )
    return web.json_response(appeal_json(item))


async def mark_privileged(request: web.Request) -> web.Response:
    contact_id = path_id(request)
    body = await parse_json(request, PrivilegeBody)
    credentials = privilege.check_credentials(
        kind=body.kind,
        bar_number=body.bar_number,
        bar_state=body.bar_state,
        organisation=body.organisation,
        note=body.note,
    )
    actor = await route_actor(request)
    view = await privilege.do_mark_privileged(
        request.app[SERVICES], actor, contact_id=contact_id, credentials=credentials
    )
    return web.json_response(contact_json(view, actor))


async def revoke_privilege(request: web.Request) -> web.Response:
    contact_id = path_id(request)
    body = await parse_json(request, RevokeBody)
    actor = await route_actor(request)
    view = await privilege.do_revoke_privilege(
        request.app[SERVICES], actor, contact_id=contact_id, reason=body.reason
    )
    return web.json_response(contact_json(view, actor))


async def block_family(request: web.Request) -> web.Response:
    facility_id = path_id(request)
    body = await parse_json(request, FamilyBlockBody)
    actor = await route_actor(request)
    view = await blocks.do_block_family(
        request.app[SERVICES],
        actor,
        facility_id=facility_id,
        family_account_id=body.family_account_id,
        reason=body.reason,
        until=body.until,
    )
    return web.json_response(family_block_json(view), status=201)


async def list_family_blocks(request: web.Request) -> web.Response:
    facility_id = path_id(request)
    query = parse_query(request, BlockListQuery)
    actor = await route_actor(request)
    found = await blocks.access_family_blocks(
        request.app[SERVICES], actor, facility_id=facility_id, include_ended=query.state == "all"
    )
    return web.json_response({"items": [family_block_json(b) for b in found]})


async def lift_family_block(request: web.Request) -> web.Response:
    facility_id = path_id(request)
    block_id = path_id(request, "block_id")
    body = await parse_json(request, LiftBody)
    actor = await route_actor(request)
    view = await blocks.do_lift_family_block(
        request.app[SERVICES], actor, facility_id=facility_id, block_id=block_id, reason=body.reason
    )
    return web.json_response(family_block_json(view))


def endpoints() -> list[Endpoint]:
    t = "moderation"
    return [
        Endpoint(
            "POST",
            "/api/v1/messages/{id}/appeal",
            appeal_message,
            "Appeal your rejected message, once, saying why (1-500 characters)",
            "messages",
            body=AppealBody,
            auth="family|resident",
            ok=201,
            errors=(403, 404, 409),
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/appeals",
            list_appeals,
            "Pending appeals, oldest first (facility admins: their facility's; support: all)",
            t,
            auth="staff",
            errors=(403,),
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/appeals/{id}/decide",
            decide_appeal,
            "Uphold or overturn an appeal, with a reason (facility admin; overturned: delivered "
            "now, still free; audited)",
            t,
            body=DecideBody,
            auth="staff",
            errors=(403, 404, 409),
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/contacts/{id}/privilege",
            mark_privileged,
            "Mark a contact privileged after checking credentials (facility admin; audited)",
            t,
            body=PrivilegeBody,
            auth="staff",
            errors=(403, 404),
        ),
        Endpoint(
            "DELETE",
            "/api/v1/staff/contacts/{id}/privilege",
            revoke_privilege,
            "Revoke a contact's privileged status, with a reason (facility admin; audited)",
            t,
            body=RevokeBody,
            auth="staff",
            errors=(403, 404, 409),
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/facilities/{id}/blocks",
            block_family,
            "Block a family account at the facility, with a reason and an optional last day "
            "(audited)",
            t,
            body=FamilyBlockBody,
            auth="staff",
            ok=201,
            errors=(403, 404, 409),
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/facilities/{id}/blocks",
            list_family_blocks,
            "Family accounts blocked at the facility (`state=active`, or `all` with the ended "
            "and lifted ones), newest first",
            t,
            query=BlockListQuery,
            auth="staff",
            errors=(403, 404),
        ),
        Endpoint(
            "DELETE",
            "/api/v1/staff/facilities/{id}/blocks/{block_id}",
            lift_family_block,
            "Lift a family block, with a reason (audited)",
            t,
            body=LiftBody,
            auth="staff",
            errors=(403, 404, 409),
        ),
    ]
