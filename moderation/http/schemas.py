"""Request bodies and query strings of the console's moderation routes: the facility's
message policy, review decisions, appeals, privileged contacts, family blocks, the audit log
and reports."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

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
from moderation.services import appeals, privilege
from server.http.openapi_schema import (
    NOT_BLANK,
    PY_WHITE_SPACE,
    blank_or_null,
    stripped_length_pattern,
    stripped_pattern,
)
from server.http.parsing import Body, Id, Query, calendar_day
from server.http.schemas import BlockReason, OptionalDate
from server.http.schemas_support import DateTime, PageSize

MAX_REASON = 500

# --- the policy and the review queue ------------------------------------------------------

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


# --- cases: appeals, privileged contacts, family blocks ----------------------------------

Reason = Annotated[str, Field(min_length=1, max_length=500)]


class AppealBody(Body):
    # Not only white space (appeals.check_appeal_text): stated in the document too.
    text: Annotated[
        str,
        Field(min_length=1, max_length=appeals.MAX_TEXT, json_schema_extra={"pattern": NOT_BLANK}),
    ]


class DecideBody(Body):
    decision: Literal["uphold", "overturn"]
    reason: Reason


def _credentials_schema(schema: dict[str, Any]) -> None:
    """What `privilege.check_credentials` takes (after stripping white space), as the document
    states it: legal counsel with a bar number and state and no organisation, an abuse
    reporting line with an organisation and neither of those; a note of up to MAX_NOTE."""
    raw = {"type": "string", "maxLength": 1000}
    last = privilege.MAX_BAR_NUMBER - 2
    bar_number = rf"[A-Za-z0-9](?:[A-Za-z0-9 .\-/]{{0,{last}}}[A-Za-z0-9.\-/])?"
    organisation = stripped_length_pattern(1, privilege.MAX_ORGANISATION, space=PY_WHITE_SPACE)
    note = stripped_length_pattern(0, privilege.MAX_NOTE, space=PY_WHITE_SPACE)
    schema["properties"]["note"] = {
        "anyOf": [{**raw, "pattern": note}, {"type": "null"}],
        "default": None,
    }
    schema["oneOf"] = [
        {
            "properties": {
                "kind": {"const": "legal_counsel"},
                "bar_number": {**raw, "pattern": stripped_pattern(bar_number)},
                "bar_state": {**raw, "pattern": stripped_pattern("[A-Za-z]{2}")},
                "organisation": blank_or_null(1000),
            },
            "required": ["bar_number", "bar_state"],
        },
        {
            "properties": {
                "kind": {"const": "abuse_line"},
                "organisation": {**raw, "pattern": organisation},
                "bar_number": blank_or_null(1000),
                "bar_state": blank_or_null(1000),
            },
            "required": ["organisation"],
        },
    ]


class PrivilegeBody(Body):
    model_config = ConfigDict(json_schema_extra=_credentials_schema)

    kind: Literal["legal_counsel", "abuse_line"]
    # Loose caps here; the exact rules (and their sentences) are privilege.check_credentials'.
    bar_number: Annotated[str, Field(max_length=1000)] | None = None
    bar_state: Annotated[str, Field(max_length=1000)] | None = None
    organisation: Annotated[str, Field(max_length=1000)] | None = None
    note: Annotated[str, Field(max_length=1000)] | None = None


class RevokeBody(Body):
    reason: Reason


class FamilyBlockBody(Body):
    family_account_id: Id
    reason: BlockReason
    # The block's last day in the facility's time zone (inclusive); none: until lifted.
    until: OptionalDate = None


class LiftBody(Body):
    reason: BlockReason


class BlockListQuery(Query):
    state: Literal["active", "all"] = "active"


# --- the audit log and reports -------------------------------------------------------------


class AuditQuery(Query):
    action: Annotated[str, StringConstraints(min_length=1, max_length=42)] | None = None
    since: DateTime | None = Field(default=None, alias="from")
    until: DateTime | None = Field(default=None, alias="to")
    before: Id | None = None
    facility_id: Id | None = None
    staff_id: Id | None = None
    # Free text; an empty box (`q=`) is no search at all.
    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    limit: PageSize = 50  # JSON pages only; a CSV export holds up to 10,000 entries
    format: Literal["json", "csv"] = "json"


def _day(value: Any) -> Any:
    return calendar_day(value, first_year=2000)


Day = Annotated[date, BeforeValidator(_day)]


# What `_day` takes, as the document states it (with the date format).
DAY_SCHEMA: JsonDict = {"pattern": "^2[0-9]{3}-[0-9]{2}-[0-9]{2}$"}


class ReportQuery(Query):
    # default: 13 days before `to`
    first: Day | None = Field(default=None, alias="from", json_schema_extra=DAY_SCHEMA)
    # default: today, the facility's
    last: Day | None = Field(default=None, alias="to", json_schema_extra=DAY_SCHEMA)
