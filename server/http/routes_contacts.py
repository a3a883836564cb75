"""Contacts between family members and residents."""

from __future__ import annotations

from aiohttp import web

from server.appkeys import SERVICES
from server.domain.contacts import ContactAction
from server.http.api import Endpoint, Handler
from server.http.auth import route_actor
from server.http.parsing import parse_json, parse_query, path_id
from server.http.schemas import BlockBody, ContactListQuery, ContactRequestBody, UnblockBody
from server.services import contacts
from server.services.contact_views import ContactView, PrivilegeView
from server.services.context import Principal, PrincipalKind


def contact_json(c: ContactView, viewer: Principal) -> dict[str, object]:
    out: dict[str, object] = {
        "id": c.id,
        "status": c.status.value,
        "relationship": c.relationship,
        "facility": {"id": c.facility_id, "name": c.facility_name},
        "requested_at": c.requested_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }
    if viewer.kind is not PrincipalKind.RESIDENT:
        out["resident"] = {
            "id": c.resident_id,
            "resident_number": c.resident_number,
            "name": c.resident_name,
        }
    if viewer.kind is not PrincipalKind.FAMILY:
        out["family"] = {"id": c.family_account_id, "name": c.family_name}
    out["privileged"] = c.privileged
    out["blocked_until"] = c.blocked_until.isoformat() if c.blocked_until else None
    if viewer.kind is PrincipalKind.STAFF:
        out["status_reason"] = c.status_reason
        out["privilege"] = privilege_json(c.privilege) if c.privilege else None
    return out


def privilege_json(p: PrivilegeView) -> dict[str, object]:
    """The credentials staff recorded, for staff only."""
    return {
        "kind": p.kind,
        "summary": p.summary,
        "bar_number": p.bar_number,
        "bar_state": p.bar_state,
        "organisation": p.organisation,
        "note": p.note,
        "granted_at": p.granted_at.isoformat(),
        "granted_by": p.granted_by,
    }


async def request_contact(request: web.Request) -> web.Response:
    body = await parse_json(request, ContactRequestBody)
    actor = await route_actor(request)
    view, created = await contacts.do_request_contact(
        request.app[SERVICES], actor, resident_id=body.resident_id, relationship=body.relationship
    )
    return web.json_response(contact_json(view, actor), status=201 if created else 200)


async def list_contacts(request: web.Request) -> web.Response:
    query = parse_query(request, ContactListQuery)
    actor = await route_actor(request)
    found = await contacts.list_contacts(request.app[SERVICES], actor, status=query.status)
    return web.json_response({"contacts": [contact_json(c, actor) for c in found]})


async def get_contact(request: web.Request) -> web.Response:
    contact_id = path_id(request)
    actor = await route_actor(request)
    view = await contacts.access_contact(request.app[SERVICES], actor, contact_id=contact_id)
    return web.json_response(contact_json(view, actor))


def _action(action: ContactAction) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        contact_id = path_id(request)
        block = await parse_json(request, BlockBody) if action is ContactAction.BLOCK else None
        actor = await route_actor(request)
        view = await contacts.do_contact_action(
            request.app[SERVICES],
            actor,
            contact_id=contact_id,
            action=action,
            reason=block.reason if block else None,
            until=block.until if block else None,
        )
        return web.json_response(contact_json(view, actor))

    handler.__name__ = f"contact_{action.value}"
    return handler


async def unblock_contact(request: web.Request) -> web.Response:
    contact_id = path_id(request)
    body = await parse_json(request, UnblockBody)
    actor = await route_actor(request)
    view = await contacts.do_unblock_contact(
        request.app[SERVICES], actor, contact_id=contact_id, reason=body.reason
    )
    return web.json_response(contact_json(view, actor))


def endpoints() -> list[Endpoint]:
    t = "contacts"
    return [
        Endpoint(
            "POST",
            "/api/v1/contacts",
            request_contact,
            "Ask to connect with a resident (201; a retry answers 200 with the pending request; "
            "403 `blocked` when the family is blocked at the resident's facility)",
            t,
            body=ContactRequestBody,
            auth="family",
            ok=201,
            also_ok=(200,),
            errors=(403, 404, 409),
        ),
        Endpoint(
            "GET",
            "/api/v1/contacts",
            list_contacts,
            "The caller's contacts (staff: their facility's)",
            t,
            query=ContactListQuery,
            auth="any",
        ),
        Endpoint("GET", "/api/v1/contacts/{id}", get_contact, "One contact", t, auth="any"),
        Endpoint(
            "POST",
            "/api/v1/contacts/{id}/approve",
            _action(ContactAction.APPROVE),
            "Resident approves a pending request",
            t,
            auth="resident",
            errors=(403, 409),
        ),
        Endpoint(
            "POST",
            "/api/v1/contacts/{id}/deny",
            _action(ContactAction.DENY),
            "Resident denies a pending request",
            t,
            auth="resident",
            errors=(403, 409),
        ),
        Endpoint(
            "POST",
            "/api/v1/contacts/{id}/remove",
            _action(ContactAction.REMOVE),
            "Either side removes the contact",
            t,
            auth="family|resident",
            errors=(403, 409),
        ),
        Endpoint(
            "POST",
            "/api/v1/contacts/{id}/block",
            _action(ContactAction.BLOCK),
            "Staff block a contact, with a reason and an optional last day `until` "
            "(YYYY-MM-DD, facility time; audited)",
            t,
            body=BlockBody,
            auth="staff",
            errors=(403, 409),
        ),
        Endpoint(
            "POST",
            "/api/v1/contacts/{id}/unblock",
            unblock_contact,
            "Staff lift a contact's block, with a reason: it returns to its status before the "
            "block (audited)",
            t,
            body=UnblockBody,
            auth="staff",
            errors=(403, 409),
        ),
    ]
