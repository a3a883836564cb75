"""Request bodies and query strings of money: deposit quotes and deposits (the account a
deposit goes to), staff-recorded deposits, statements."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator
from pydantic.config import JsonDict

from server.domain.money import MAX_CENTS
from server.http.openapi_schema import require_in_schema
from server.http.parsing import Body, ClientId, Id, Query, calendar_day
from server.services.wallet import MAX_PAGE

Cents = Annotated[int, Field(ge=1, le=MAX_CENTS)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class WalletAccount(Body):
    """The caller's own wallet (staff: the wallet of `family_account_id`)."""

    type: Literal["wallet"]


class ResidentAccount(Body):
    """A resident's wallet or PIN Debit account (families: needs an approved contact)."""

    type: Literal["resident_wallet", "pin_debit"]
    resident_id: Id


class PpcAccount(Body):
    """A family member's Prepaid Collect account for one phone number (US if no +code)."""

    type: Literal["ppc"]
    phone: Annotated[str, Field(min_length=1, max_length=32)]


class TrustAccount(Body):
    """A resident's trust account, identified by facility, number and name."""

    type: Literal["trust"]
    facility_id: Id
    resident_number: Annotated[str, Field(min_length=1, max_length=32)]
    first_name: Name
    last_name: Name


DepositAccount = Annotated[
    WalletAccount | ResidentAccount | PpcAccount | TrustAccount, Field(discriminator="type")
]


class QuoteBody(Body):
    account: DepositAccount
    amount_cents: Cents
    channel: Literal["online", "kiosk", "phone", "operator", "mail"] = "online"


class DepositBody(Body):
    model_config = ConfigDict(json_schema_extra=require_in_schema("client_id"))

    account: DepositAccount
    amount_cents: Cents
    channel: Literal["online", "kiosk", "phone"] = "online"
    payment_token: Annotated[str, Field(min_length=1, max_length=200)]
    client_id: ClientId | None = None


class StaffDepositBody(Body):
    model_config = ConfigDict(json_schema_extra=require_in_schema("client_id"))

    account: DepositAccount
    family_account_id: Id | None = None  # whose wallet or PPC account
    amount_cents: Cents
    channel: Literal["operator", "mail"]
    reference: Name  # the money order or call reference number
    client_id: ClientId | None = None


# What `StatementQuery._day` takes, as the document states it (with the date format).
STATEMENT_DAY: JsonDict = {"pattern": "^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"}


class StatementQuery(Query):
    account_id: Id | None = None
    before: Id | None = None
    from_: date | None = Field(default=None, alias="from", json_schema_extra=STATEMENT_DAY)
    to: date | None = Field(default=None, json_schema_extra=STATEMENT_DAY)
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] | None = None
    format: Literal["json", "csv"] = "json"

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        return None if value is None else calendar_day(value, first_year=1970)
