"""Customer care in the console: family accounts, their statements, refunds and credits with
two-person approval above the facility's limit. (The audit log's routes are the moderation
wing's: moderation/http/routes_audit.py.)"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.appkeys import SERVICES
from server.http.api import Endpoint
from server.http.auth import route_actor
from server.http.parsing import idempotency_key, parse_json, parse_query, path_id
from server.http.schemas_support import (
    AccountSearchQuery,
    EndSessionsBody,
    RefundBody,
    RefundListQuery,
    RejectBody,
    StatementPageQuery,
)
from server.services import refund_requests, refund_views, support
from server.services.refund_requests import CareOrder
from server.services.refund_views import CareKind, RequestStatus
from server.services.sessions import do_end_family_sessions


def family_json(f: support.FamilyView) -> dict[str, Any]:
    return {
        "id": f.id,
        "username": f.username,
        "name": f.name,
        "first_name": f.first_name,
        "last_name": f.last_name,
        "email": f.email,
        "status": f.status,
        "created_at": f.created_at.isoformat(),
    }


def detail_json(d: support.FamilyDetail) -> dict[str, Any]:
    return {
        **family_json(d.family),
        "balances": [
            {
                "account_id": b.account_id,
                "kind": b.kind.value,
                "balance_cents": b.balance_cents,
                "held_cents": b.held_cents,
                "phone": b.phone,
            }
            for b in d.balances
        ],
        "contacts": [
            {
                "id": c.id,
                "status": c.status,
                "relationship": c.relationship,
                "facility": {"id": c.facility_id, "name": c.facility_name},
                "resident": {
                    "id": c.resident_id,
                    "resident_number": c.resident_number,
                    "name": c.resident_name,
                },
            }
            for c in d.contacts
        ],
    }


def line_json(line: support.CareLine) -> dict[str, Any]:
    return {
        "posting_id": line.posting_id,
        "transaction_id": line.transaction_id,
        "at": line.at.isoformat(),
        "kind": line.kind.value,
        "description": line.memo,
        "amount_cents": line.amount_cents,
        "balance_after_cents": line.balance_after_cents,
        "reference": line.reference,
        "facility_id": line.facility_id,
        "refundable_cents": line.refundable_cents,
        "redacted": line.redacted,
    }


def request_json(r: refund_views.RequestView) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind.value,
        "status": r.status.value,
        "family_account": {"id": r.family_account_id, "name": r.family_name},
        "amount_cents": r.amount_cents,
        "reason": r.reason,
        "charge_id": r.charge_id,
        "facility_id": r.facility_id,
        "threshold_cents": r.threshold_cents,
        "approval_required": r.approval_required,
        "requested_by": {"id": r.requested_by.id, "name": r.requested_by.name},
        "requested_at": r.requested_at.isoformat(),
        "decided_by": (
            {"id": r.decided_by.id, "name": r.decided_by.name} if r.decided_by else None
        ),
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
        "decision_reason": r.decision_reason,
        "transaction_id": r.transaction_id,
    }


def outcome_json(r: refund_views.RequestView) -> dict[str, Any]:
    """The answer to issuing: done (money moved), pending_approval, or processing (approved,
    money moving: retry the same request to finish it)."""
    if r.done:
        status = "done"
    elif r.status is RequestStatus.PENDING:
        status = "pending_approval"
    else:
        status = "processing"
    return {
        "status": status,
        "request_id": r.id,
        "transaction_id": r.transaction_id,
        "kind": r.kind.value,
        "amount_cents": r.amount_cents,
        "family_account_id": r.family_account_id,
        "charge_id": r.charge_id,
        "threshold_cents": r.threshold_cents,
        "request": request_json(r),
    }


# --- handlers ----------------------------------------------------------------------------


async def search_accounts(request: web.Request) -> web.Response:
    query = parse_query(request, AccountSearchQuery)
    actor = await route_actor(request)
    found = await support.search_families(
        request.app[SERVICES], actor, q=query.q, limit=query.limit
    )
    return web.json_response({"accounts": [family_json(f) for f in found]})


async def get_account(request: web.Request) -> web.Response:
    family_id = path_id(request)
    actor = await route_actor(request)
    detail = await support.view_family(request.app[SERVICES], actor, family_account_id=family_id)
    return web.json_response(detail_json(detail))


async def end_sessions(request: web.Request) -> web.Response:
    family_id = path_id(request)
    body = await parse_json(request, EndSessionsBody)
    actor = await route_actor(request)
    count = await do_end_family_sessions(
        request.app[SERVICES], actor, family_account_id=family_id, reason=body.reason
    )
    return web.json_response({"ended": count})


async def get_statement(request: web.Request) -> web.Response:
    family_id = path_id(request)
    query = parse_query(request, StatementPageQuery)
    actor = await route_actor(request)
    lines = await support.family_statement(
        request.app[SERVICES],
        actor,
        family_account_id=family_id,
        account_id=query.account_id,
        before=query.before,
        limit=query.limit,
    )
    more = len(lines) == query.limit
    return web.json_response(
        {
            "lines": [line_json(line) for line in lines],
            "next_before": lines[-1].posting_id if more and lines else None,
        }
    )


async def issue_refund(request: web.Request) -> web.Response:
    body = await parse_json(request, RefundBody)
    order = CareOrder(
        family_account_id=body.family_account_id,
        kind=CareKind(body.kind),
        amount_cents=body.amount_cents,
        reason=body.reason,
        charge_id=body.charge_id,
        client_id=idempotency_key(request, body.client_id),
    )
    actor = await route_actor(request)
    view = await refund_requests.do_request(request.app[SERVICES], actor, order=order)
    return web.json_response(outcome_json(view), status=201 if view.done else 202)


async def list_refunds(request: web.Request) -> web.Response:
    query = parse_query(request, RefundListQuery)
    actor = await route_actor(request)
    found = await refund_views.list_requests(
        request.app[SERVICES],
        actor,
        status=RequestStatus(query.status) if query.status else None,
        family_account_id=query.family_account_id,
        before=query.before,
        limit=query.limit,
    )
    more = len(found) == query.limit
    return web.json_response(
        {
            "requests": [request_json(r) for r in found],
            "next_before": found[-1].id if more and found else None,
        }
    )


async def get_refund(request: web.Request) -> web.Response:
    request_id = path_id(request)
    actor = await route_actor(request)
    view = await refund_requests.access_request(request.app[SERVICES], actor, request_id=request_id)
    return web.json_response(request_json(view))


async def approve_refund(request: web.Request) -> web.Response:
    request_id = path_id(request)
    actor = await route_actor(request)
    view = await refund_requests.do_approve(request.app[SERVICES], actor, request_id=request_id)
    return web.json_response(request_json(view))


async def reject_refund(request: web.Request) -> web.Response:
    request_id = path_id(request)
    body = await parse_json(request, RejectBody)
    actor = await route_actor(request)
    view = await refund_requests.do_reject(
        request.app[SERVICES], actor, request_id=request_id, reason=body.reason
    )
    return web.json_response(request_json(view))


def endpoints() -> list[Endpoint]:
    t = "customer care"
    return [
        Endpoint(
            "GET",
            "/api/v1/staff/accounts",
            search_accounts,
            "Find family accounts by username, e-mail, name or id (audited)",
            t,
            query=AccountSearchQuery,
            auth="staff",
            errors=(403,),
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/accounts/{id}",
            get_account,
            "A family account with its balances and contacts (audited)",
            t,
            auth="staff",
            errors=(403,),
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/accounts/{id}/sessions/end",
            end_sessions,
            "Sign a family account out everywhere, closing its live connections (audited)",
            t,
            body=EndSessionsBody,
            auth="staff",
            errors=(403,),
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/accounts/{id}/statement",
            get_statement,
            "A family account's wallet statement, newest first, paged by `before` (audited)",
            t,
            query=StatementPageQuery,
            auth="staff",
            errors=(403,),
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/refunds",
            issue_refund,
            "Refund a charge or credit the wallet, with a reason: 201 done at once, or 202 "
            "pending_approval above the facility's limit (a second staff member approves)",
            t,
            body=RefundBody,
            auth="staff",
            ok=201,
            also_ok=(202,),
            errors=(403, 404, 409),
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/refunds",
            list_refunds,
            "Refund and credit requests, newest first (`?status=pending` for the approval queue)",
            t,
            query=RefundListQuery,
            auth="staff",
            errors=(403,),
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/refunds/{id}",
            get_refund,
            "One refund or credit request",
            t,
            auth="staff",
            errors=(403,),
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/refunds/{id}/approve",
            approve_refund,
            "Approve a pending request (not one's own); the money moves exactly once",
            t,
            auth="staff",
            errors=(400, 403, 409),
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/refunds/{id}/reject",
            reject_refund,
            "Turn a pending request down, with a reason; nothing moves",
            t,
            body=RejectBody,
            auth="staff",
            errors=(403, 409),
        ),
    ]
