"""The console's moderation routes: the facility's message policy, the review queue and its
decisions, and the read-only view of a conversation."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from moderation.domain.policy_checks import policy_from_json
from moderation.http.schemas import PolicyBody, RejectBody
from moderation.services import policies, review, staff_reads
from server.appkeys import SERVICES
from server.http.api import Endpoint
from server.http.auth import route_actor
from server.http.parsing import parse_json, parse_query, path_id
from server.http.schemas_messages import MessageHistoryQuery
from server.services.staff_views import staff_message_json

# 200 rules with notes and 500 restrictions with reasons, in any script, with room to spare.
MAX_POLICY_BYTES = 1024 * 1024


def policy_json(view: policies.PolicyView) -> dict[str, Any]:
    return {
        "facility_id": view.facility_id,
        "tariff_url": f"/api/v1/staff/facilities/{view.facility_id}/tariff",
        "policy": view.policy.to_json(),
        "version": view.version,
        "updated_at": view.updated_at.isoformat() if view.updated_at else None,
        "history": [
            {
                "version": c.version,
                "policy": c.policy.to_json(),
                "changed_at": c.changed_at.isoformat(),
                "changed_by_staff_id": c.changed_by_staff_id,
                "changed_by": c.changed_by,
                "reason": c.reason,
            }
            for c in view.history
        ],
        "residents": {str(k): v for k, v in view.residents.items()},
    }


async def get_policy(request: web.Request) -> web.Response:
    facility_id = path_id(request)
    actor = await route_actor(request)
    view = await policies.access_policy(request.app[SERVICES], actor, facility_id=facility_id)
    return web.json_response(policy_json(view))


async def put_policy(request: web.Request) -> web.Response:
    facility_id = path_id(request)
    body = await parse_json(request, PolicyBody, limit=MAX_POLICY_BYTES)
    # Signed-in staff only: checking the document compiles its regular expressions.
    actor = await route_actor(request)
    # Only what was sent: a field left out takes the policy's default (the zone: unchanged).
    policy = policy_from_json(body.model_dump(exclude={"reason"}, exclude_unset=True))
    view = await policies.do_update_policy(
        request.app[SERVICES], actor, facility_id=facility_id, policy=policy, reason=body.reason
    )
    return web.json_response(policy_json(view))


async def review_queue(request: web.Request) -> web.Response:
    actor = await route_actor(request)
    held = await review.access_queue(request.app[SERVICES], actor)
    return web.json_response({"items": [h.json() for h in held]})


async def approve(request: web.Request) -> web.Response:
    message_id = path_id(request)
    actor = await route_actor(request)
    view = await review.do_approve(request.app[SERVICES], actor, message_id=message_id)
    return web.json_response(staff_message_json(view))


async def reject(request: web.Request) -> web.Response:
    message_id = path_id(request)
    body = await parse_json(request, RejectBody)
    actor = await route_actor(request)
    view = await review.do_reject(
        request.app[SERVICES], actor, message_id=message_id, reason=body.reason
    )
    return web.json_response(staff_message_json(view))


async def staff_conversation(request: web.Request) -> web.Response:
    query = parse_query(request, MessageHistoryQuery)
    actor = await route_actor(request)
    found = await staff_reads.access_staff_conversation(
        request.app[SERVICES],
        actor,
        contact_id=query.contact_id,
        before=query.before,
        limit=query.limit,
    )
    return web.json_response(
        {
            "messages": [staff_message_json(m) for m in found],
            "next_before": found[-1].id if len(found) == query.limit else None,
        }
    )


def endpoints() -> list[Endpoint]:
    t = "moderation"
    return [
        Endpoint(
            "GET",
            "/api/v1/staff/facilities/{id}/policy",
            get_policy,
            "The facility's message policy and its recent versions (staff of the facility)",
            t,
            auth="staff",
            errors=(403,),
        ),
        Endpoint(
            "PUT",
            "/api/v1/staff/facilities/{id}/policy",
            put_policy,
            "Replace the message policy (facility admin; kept in the history and audited)",
            t,
            body=PolicyBody,
            auth="staff",
            errors=(403,),
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/review",
            review_queue,
            "Held messages of your facility, oldest first",
            t,
            auth="staff",
            errors=(403,),
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/review/{id}/approve",
            approve,
            "Approve a held message: it is delivered now (or at its delay's time)",
            t,
            auth="staff",
            errors=(403, 404, 409),
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/review/{id}/reject",
            reject,
            "Reject a held message with a reason: the payer is refunded, the sender told why",
            t,
            body=RejectBody,
            auth="staff",
            errors=(403, 404, 409),
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/messages",
            staff_conversation,
            "A conversation, read-only, for staff of its facility (never a privileged contact)",
            t,
            query=MessageHistoryQuery,
            auth="staff",
            errors=(403, 404),
        ),
    ]
