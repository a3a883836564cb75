"""SQLAlchemy models. Every change to this file comes with an Alembic migration
(`tests/test_migrations.py` fails when the two disagree)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from server.storage.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Facility(Base):
    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Resident(Base):
    __tablename__ = "residents"
    __table_args__ = (UniqueConstraint("facility_id", "resident_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    resident_number: Mapped[str] = mapped_column(String(32))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    # Lower-cased "first last" for search; kept in step by the roster service.
    search_name: Mapped[str] = mapped_column(String(201), index=True)
    date_of_birth: Mapped[date] = mapped_column(Date)
    housing_unit: Mapped[str] = mapped_column(String(64))
    pin_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class FamilyAccount(Base):
    __tablename__ = "family_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(100))
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    date_of_birth: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    terms_accepted_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    # None only for support staff who serve every facility.
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Session(Base):
    """A signed-in session. Only the SHA-256 of the token is stored."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_principal", "principal_kind", "principal_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_kind: Mapped[str] = mapped_column(String(10))
    principal_id: Mapped[int] = mapped_column(BigId)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OneTimeCode(Base):
    """Activation codes and password-reset links: random, hashed, single-use, short-lived."""

    __tablename__ = "one_time_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[int] = mapped_column(ForeignKey("family_accounts.id"), index=True)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class Contact(Base):
    """A connection between a family account and a resident."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("resident_id", "family_account_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    family_account_id: Mapped[int] = mapped_column(ForeignKey("family_accounts.id"), index=True)
    relationship: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Verified legal counsel or abuse line: never held, never shown to staff, free.
    privileged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AuditEntry(Base):
    """Append-only record of every staff action: who, what, when and why."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[int | None] = mapped_column(BigId)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]]


class FacilitySettings(Base):
    """A facility's tariff and money settings (JSON checked by server/domain/tariff.py)."""

    __tablename__ = "facility_settings"

    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), primary_key=True)
    tariff: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    updated_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class LedgerAccount(Base):
    """One balance. `owner_key` names it uniquely ("family_wallet:12", "system:fee_revenue").

    The balance is kept on the row and changed only by a conditional UPDATE in the same
    database transaction as the postings, so it can never go below zero for a user account
    (the CHECK is the last line of defence) and always equals the sum of its postings.
    """

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint("may_go_negative OR balance_cents >= 0", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    family_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("family_accounts.id"), index=True
    )
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    may_go_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class LedgerTransaction(Base):
    """A set of postings that sum to zero. Append-only: a correction is a new transaction
    pointing at the one it corrects."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (UniqueConstraint("idem_scope", "idem_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    idem_scope: Mapped[str] = mapped_column(String(80))
    idem_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(200))
    corrects_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transactions.id"), index=True
    )
    memo: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]


class LedgerPosting(Base):
    __tablename__ = "ledger_postings"
    __table_args__ = (Index("ix_ledger_postings_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    balance_after_cents: Mapped[int] = mapped_column(BigInteger)


class Hold(Base):
    """Money set aside (in the visit-holds account) until captured in part and released."""

    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    captured_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class RefundRequest(Base):
    """Customer care: a refund of a charge or a goodwill credit, issued by staff with a reason.

    Every one is a row, also those within the facility's approval limit (created already
    approved, by their requester); above the limit it waits for a second staff member. The
    status moves only by conditional UPDATEs (`pending` -> `approved` | `rejected`), so two
    deciders never both win; `transaction_id` is the ledger transaction that moved the money,
    written after it (the ledger's idempotency key is the row's id: services/refund_requests.py).
    """

    __tablename__ = "refund_requests"
    __table_args__ = (
        UniqueConstraint("requested_by_staff_id", "idem_key"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_refund_requests_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    family_account_id: Mapped[int] = mapped_column(ForeignKey("family_accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "refund" | "credit"
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    # Whose rules apply (the charge's facility; for a credit the staff member's); None for a
    # credit by global support staff.
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    # The approval limit in force when it was asked for, and whether it was above it.
    threshold_cents: Mapped[int] = mapped_column(BigInteger)
    approval_required: Mapped[bool] = mapped_column(Boolean)
    requested_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    requested_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10))  # "pending" | "approved" | "rejected"
    decided_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    idem_key: Mapped[str] = mapped_column(String(100))
