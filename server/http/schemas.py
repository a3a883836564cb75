"""Request bodies and query strings: the shape of untrusted input, checked before any service.

Limits here catch absurd input early with a clear error; the domain's own rules (password
policy, age, postal codes) live in `server/domain/` and give finer messages.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StringConstraints

from server.http.parsing import MAX_ID, Body, Id, Query
from server.services.events import MAX_PAGE as MAX_EVENTS_PAGE

Text = Annotated[str, Field(max_length=1000)]
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    # JSON has no dates: exactly "YYYY-MM-DD" (not the other forms fromisoformat accepts).
    if value is None:
        return None
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("Use a date as YYYY-MM-DD.")


OptionalDate = Annotated[date | None, BeforeValidator(_iso_date)]


class SignupBody(Body):
    username: Text
    password: Text
    password_confirm: Text
    first_name: Text
    last_name: Text
    address_line1: Text
    address_line2: Text = ""
    city: Text
    state: Text
    postal_code: Text
    country: Text = "US"
    date_of_birth: Text
    gender: Text
    email: Text
    email_confirm: Text
    accept_terms: bool


class ActivateBody(Body):
    email: Annotated[str, Field(min_length=1, max_length=254)]
    code: Annotated[str, Field(min_length=1, max_length=20)]


class ActivateLinkQuery(Query):
    """The activation link's query string, as documented (the route reads it itself: a missing,
    over-long or unknown token is 400 invalid_code, as a page for a browser)."""

    token: Annotated[str, Field(min_length=1, max_length=100)]


class EmailBody(Body):
    email: Annotated[str, Field(min_length=1, max_length=254)]


class ResetConfirmBody(Body):
    token: Annotated[str, Field(min_length=1, max_length=100)]
    password: Text


SessionMode = Literal["cookie", "bearer"]


class LoginBody(Body):
    username: Annotated[str, Field(min_length=1, max_length=100)]
    password: Text
    session: SessionMode = "cookie"


class TabletLoginBody(Body):
    facility_id: Id
    resident_number: Annotated[str, Field(min_length=1, max_length=32)]
    pin: Annotated[str, Field(min_length=1, max_length=32)]
    session: SessionMode = "bearer"


class ResidentSearchQuery(Query):
    facility_id: Id
    # Stripped before the length check: " r" would otherwise list everyone with an "r".
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]


class ContactRequestBody(Body):
    resident_id: Id
    relationship: Annotated[str, Field(min_length=1, max_length=40)] = "family"


class ContactListQuery(Query):
    status: Literal["pending", "approved", "denied", "removed", "blocked"] | None = None


BlockReason = Annotated[str, Field(min_length=3, max_length=1000)]


class BlockBody(Body):
    reason: BlockReason
    # The block's last day in the facility's time zone (inclusive); none: until unblocked.
    until: OptionalDate = None


class UnblockBody(Body):
    reason: BlockReason


class EventsQuery(Query):
    since: Annotated[int, Field(ge=0, le=MAX_ID)] = 0
    limit: Annotated[int, Field(ge=1, le=MAX_EVENTS_PAGE)] = MAX_EVENTS_PAGE
