"""The console's moderation routes: the facility's message policy, the review queue and its
decisions, and the read-only view of a conversation."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import ConfigDict, Field

from moderation.domain.policy import (
    DAYS,
    MAX_DELAY_MINUTES,
    MAX_NOTE_CHARS,
    MAX_PATTERN_CHARS,
    MAX_REJECTION_REASON_CHARS,
    MAX_REJECTION_REASONS,
    MAX_RESTRICTION_REASON_CHARS,
    MAX_RESTRICTIONS,
    MAX_RULES,
    MAX_TIMEZONE_CHARS,
    MAX_WINDOWS_PER_DAY,
    DeliveryMode,
    RestrictionKind,
    RuleKind,
)
from moderation.domain.policy_checks import policy_from_json
from moderation.services import policies, review, staff_reads
from server.appkeys import SERVICES
from server.http.api import Endpoint
from server.http.auth import authenticate
from server.http.openapi_schema import NOT_BLANK, PY_WHITE_SPACE, stripped_pattern
from server.http.parsing import Body, Id, parse_json, parse_query, path_id
from server.http.schemas_messages import MessageHistoryQuery
from server.services.context import PrincipalKind
from server.services.staff_views import staff_message_json

S = PrincipalKind.STAFF
MAX_REASON = 500
# 200 rules with notes and 500 restrictions with reasons, in any script, with room to spare.
MAX_POLICY_BYTES = 1024 * 1024


# The shapes `policy_from_json` enforces, as the document states them (it checks them itself,
# with its own sentences). Not stated, and answered 422 by field: a regular expression that
# does not compile, is too costly or matches empty text; a rule, restriction or rejection
# reason listed twice; visiting-hours windows that end before they start or overlap; an
# unknown time zone name.


def _delivery_schema(schema: dict[str, Any]) -> None:
    schema["properties"]["mode"]["enum"] = [m.value for m in DeliveryMode]
    schema["oneOf"] = [
        {
            "properties": {
                "mode": {"const": DeliveryMode.DELAY.value},
                "delay_minutes": {"minimum": 1, "maximum": MAX_DELAY_MINUTES},
            },
            "required": ["delay_minutes"],
        },
        {
            "properties": {
                "mode": {"enum": [m.value for m in DeliveryMode if m is not DeliveryMode.DELAY]},
                "delay_minutes": {"const": 0},
            },
        },
    ]


def _rule_schema(schema: dict[str, Any]) -> None:
    props = schema["properties"]
    props["kind"]["enum"] = [k.value for k in RuleKind]
    props["pattern"].update(maxLength=MAX_PATTERN_CHARS, pattern=NOT_BLANK)
    props["note"]["maxLength"] = MAX_NOTE_CHARS
    one_word = stripped_pattern(f"[^{PY_WHITE_SPACE}\\u0000]+")
    schema["oneOf"] = [
        {"properties": {"kind": {"const": RuleKind.WORD.value}, "pattern": {"pattern": one_word}}},
        {"properties": {"kind": {"enum": [RuleKind.PHRASE.value, RuleKind.REGEX.value]}}},
    ]


def _restriction_schema(schema: dict[str, Any]) -> None:
    props = schema["properties"]
    props["kind"]["enum"] = [k.value for k in RestrictionKind]
    props["until"]["anyOf"][0].update(format="date", pattern="^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    props["reason"]["maxLength"] = MAX_RESTRICTION_REASON_CHARS


def _visiting_hours_schema(schema: dict[str, Any]) -> None:
    clock = {"type": "string", "pattern": "^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"}
    window = {"type": "array", "items": clock, "minItems": 2, "maxItems": 2}
    for day in DAYS:
        schema["properties"][day].update(items=window, maxItems=MAX_WINDOWS_PER_DAY)


def _policy_schema(schema: dict[str, Any]) -> None:
    props = schema["properties"]
    props["rules"]["maxItems"] = MAX_RULES
    props["restrictions"]["maxItems"] = MAX_RESTRICTIONS
    reasons = props["rejection_reasons"]["anyOf"][0]
    reasons.update(maxItems=MAX_REJECTION_REASONS)
    reasons["items"].update(maxLength=MAX_REJECTION_REASON_CHARS, pattern=NOT_BLANK)
    props["timezone"]["anyOf"][0].update(maxLength=MAX_TIMEZONE_CHARS, pattern=NOT_BLANK)


class DeliveryRuleBody(Body):
    model_config = ConfigDict(json_schema_extra=_delivery_schema)

    mode: Annotated[
        str, Field(max_length=40, description="instant, delay, review_all or review_flagged")
    ]
    delay_minutes: Annotated[int, Field(description="1 to 10,080 for delay, else 0")] = 0


class PolicyRuleBody(Body):
    model_config = ConfigDict(json_schema_extra=_rule_schema)

    kind: Annotated[str, Field(max_length=40, description="word, phrase or regex")]
    pattern: Annotated[str, Field(description=f"1 to {MAX_PATTERN_CHARS} characters")]
    note: Annotated[str, Field(description=f"up to {MAX_NOTE_CHARS} characters")] = ""


class PolicyRestrictionBody(Body):
    model_config = ConfigDict(json_schema_extra=_restriction_schema)

    resident_id: Id
    kind: Annotated[str, Field(max_length=40, description="review_all or no_messaging")]
    until: Annotated[
        str | None, Field(description="last day it applies, YYYY-MM-DD; null: no end")
    ] = None
    reason: Annotated[str, Field(description=f"up to {MAX_RESTRICTION_REASON_CHARS} chars")] = ""


Windows = Annotated[
    list[list[str]],
    Field(description=f'up to {MAX_WINDOWS_PER_DAY} windows ["HH:MM", "HH:MM"], local time'),
]


class VisitingHoursBody(Body):
    """A day left out has no visiting hours."""

    model_config = ConfigDict(json_schema_extra=_visiting_hours_schema)

    mon: Windows = []
    tue: Windows = []
    wed: Windows = []
    thu: Windows = []
    fri: Windows = []
    sat: Windows = []
    sun: Windows = []


class PolicyBody(Body):
    """The whole policy: a PUT replaces it. Only incoming and outgoing are required; a field
    left out takes its default, except timezone, which then stays as it is."""

    model_config = ConfigDict(json_schema_extra=_policy_schema)

    incoming: DeliveryRuleBody
    outgoing: DeliveryRuleBody
    photos: DeliveryRuleBody | None = None
    rules: Annotated[
        list[PolicyRuleBody], Field(description=f"at most {MAX_RULES}; word, phrase or regex")
    ] = []
    restrictions: Annotated[
        list[PolicyRestrictionBody], Field(description=f"at most {MAX_RESTRICTIONS}")
    ] = []
    rejection_reasons: Annotated[
        list[str] | None,
        Field(
            description=f"at most {MAX_REJECTION_REASONS}, each 1 to "
            f"{MAX_REJECTION_REASON_CHARS} characters; left out: the default list"
        ),
    ] = None
    visiting_hours: VisitingHoursBody | None = None
    timezone: Annotated[str | None, Field(max_length=64, description="IANA zone")] = None
    reason: Annotated[str, Field(min_length=1, max_length=1000)] | None = None


class RejectBody(Body):
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON)]


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
    actor = await authenticate(request, S)
    view = await policies.access_policy(request.app[SERVICES], actor, facility_id=facility_id)
    return web.json_response(policy_json(view))


async def put_policy(request: web.Request) -> web.Response:
    facility_id = path_id(request)
    body = await parse_json(request, PolicyBody, limit=MAX_POLICY_BYTES)
    # Signed-in staff only: checking the document compiles its regular expressions.
    actor = await authenticate(request, S)
    # Only what was sent: a field left out takes the policy's default (the zone: unchanged).
    policy = policy_from_json(body.model_dump(exclude={"reason"}, exclude_unset=True))
    view = await policies.do_update_policy(
        request.app[SERVICES], actor, facility_id=facility_id, policy=policy, reason=body.reason
    )
    return web.json_response(policy_json(view))


async def review_queue(request: web.Request) -> web.Response:
    actor = await authenticate(request, S)
    held = await review.access_queue(request.app[SERVICES], actor)
    return web.json_response({"items": [h.json() for h in held]})


async def approve(request: web.Request) -> web.Response:
    message_id = path_id(request)
    actor = await authenticate(request, S)
    view = await review.do_approve(request.app[SERVICES], actor, message_id=message_id)
    return web.json_response(staff_message_json(view))


async def reject(request: web.Request) -> web.Response:
    message_id = path_id(request)
    body = await parse_json(request, RejectBody)
    actor = await authenticate(request, S)
    view = await review.do_reject(
        request.app[SERVICES], actor, message_id=message_id, reason=body.reason
    )
    return web.json_response(staff_message_json(view))


async def staff_conversation(request: web.Request) -> web.Response:
    query = parse_query(request, MessageHistoryQuery)
    actor = await authenticate(request, S)
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
