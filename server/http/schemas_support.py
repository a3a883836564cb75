"""Request bodies and query strings of customer care and the audit log."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BeforeValidator, ConfigDict, Field, StringConstraints

from server.domain.money import MAX_CENTS
from server.http.openapi_schema import require_in_schema
from server.http.parsing import Body, ClientId, Id, Query

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
PageSize = Annotated[int, Field(ge=1, le=200)]


class AccountSearchQuery(Query):
    # Stripped before the length check, as the resident search does.
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class StatementPageQuery(Query):
    account_id: Id | None = None  # one of the family's ledger accounts; default the wallet
    before: Id | None = None  # a posting id from the previous page
    limit: PageSize = 50


def _refund_schema(schema: dict[str, Any]) -> None:
    """A refund names the charge it refunds, a credit none (check_care_order), as stated here."""
    require_in_schema("client_id")(schema)
    schema["oneOf"] = [
        {
            "properties": {"kind": {"const": "refund"}, "charge_id": {"type": "integer"}},
            "required": ["charge_id"],
        },
        {"properties": {"kind": {"const": "credit"}, "charge_id": {"type": "null"}}},
    ]


class RefundBody(Body):
    model_config = ConfigDict(json_schema_extra=_refund_schema)

    family_account_id: Id
    kind: Literal["refund", "credit"]
    amount_cents: Annotated[int, Field(ge=1, le=MAX_CENTS)]
    reason: Reason
    charge_id: Id | None = None  # required for a refund, absent for a credit
    client_id: ClientId | None = None  # or the Idempotency-Key header; one is required


class RefundListQuery(Query):
    status: Literal["pending", "approved", "rejected"] | None = None
    family_account_id: Id | None = None
    before: Id | None = None
    limit: PageSize = 50


class RejectBody(Body):
    reason: Reason


class EndSessionsBody(Body):
    """Signing a family account out everywhere: why (audited)."""

    reason: Reason


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    # A date-time as RFC 3339 writes it (the document's format), with its offset: pydantic alone
    # would also take a number (seconds since 1970) or a date with no time.
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    raise ValueError("Use a date and time with its offset, such as 2026-11-18T15:00:00Z.")


DateTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
