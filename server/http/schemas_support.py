"""Request bodies and query strings of customer care and the audit log."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from server.domain.money import MAX_CENTS
from server.http.parsing import Body, Id, Query

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
PageSize = Annotated[int, Field(ge=1, le=200)]


class AccountSearchQuery(Query):
    # Stripped before the length check, as the resident search does.
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class StatementPageQuery(Query):
    account_id: Id | None = None  # one of the family's ledger accounts; default the wallet
    before: Id | None = None  # a posting id from the previous page
    limit: PageSize = 50


class RefundBody(Body):
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


class AuditQuery(Query):
    action: Annotated[str, StringConstraints(min_length=1, max_length=42)] | None = None
    since: AwareDatetime | None = Field(default=None, alias="from")
    until: AwareDatetime | None = Field(default=None, alias="to")
    before: Id | None = None
    facility_id: Id | None = None
    staff_id: Id | None = None
    # Free text; an empty box (`q=`) is no search at all.
    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    limit: PageSize = 50  # JSON pages only; a CSV export holds up to 10,000 entries
    format: Literal["json", "csv"] = "json"
