"""Who may do what: one table of roles and actions, and the one rule of staff scope.

Every role-based check in the services asks `allowed` (through `Principal.may`); the README's
"Who may do what" table is checked against `TABLE` by tests/test_permissions.py, and the
console's navigation is built from the same answers (`actions_of`, sent with the principal).

Two questions are deliberately *not* in this table:
- **scope**: staff act only for their own facility, global support for every one (`serves`);
  outside it a thing is not found (404), so existence never leaks;
- **ownership**: a family member or resident acts only on their own contacts, messages and
  money; anything else is 404.
The table says what a role may do at all (else 403); scope and ownership say where.

Rules decided here (the product left them open):
- **Blocks** (a contact, or a family account at a facility) are placed, listed and lifted by
  the facility's administrators. A block is a standing sanction on a relationship with no
  appeal; reviewers decide one message at a time (and their rejections can be appealed), so
  a reviewer who thinks a contact should be blocked rejects the message and tells an
  administrator. A facility's support desk handles money, not sanctions. Global support
  keep the power they had (tests/test_blocks.py::test_support_staff_manage_any_facilitys_
  family_blocks): the operator's desk acting for a facility that asks.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    FAMILY = "family"
    RESIDENT = "resident"
    REVIEWER = "reviewer"
    FACILITY_ADMIN = "facility_admin"
    SUPPORT = "support"  # support staff of one facility
    GLOBAL_SUPPORT = "global_support"  # support staff with no facility: every facility


STAFF_ROLES = frozenset({Role.REVIEWER, Role.FACILITY_ADMIN, Role.SUPPORT, Role.GLOBAL_SUPPORT})


class Action(StrEnum):
    # A family member's or resident's own business.
    CONTACT_REQUEST = "contact.request"
    CONTACT_ANSWER = "contact.answer"
    CONTACT_REMOVE = "contact.remove"
    CONTACT_READ = "contact.read"
    MESSAGE_SEND = "message.send"
    MESSAGE_APPEAL = "message.appeal"
    PHOTO_SEND = "photo.send"
    WALLET_READ = "wallet.read"
    DEPOSIT_PAY = "deposit.pay"
    # Staff.
    CONVERSATION_READ = "conversation.read"
    REVIEW = "review"
    POLICY_READ = "policy.read"
    POLICY_CHANGE = "policy.change"
    TARIFF_READ = "tariff.read"
    TARIFF_CHANGE = "tariff.change"
    REPORT_READ = "report.read"
    APPEAL_READ = "appeal.read"
    APPEAL_DECIDE = "appeal.decide"
    PRIVILEGE_MANAGE = "privilege.manage"
    CONTACT_BLOCK = "contact.block"
    FAMILY_BLOCK = "family.block"
    AUDIT_READ = "audit.read"
    CARE_READ = "care.read"
    ACCOUNT_SIGN_OUT = "account.sign_out"
    REFUND = "refund"
    DEPOSIT_RECORD = "deposit.record"


# What each action covers, in words: the README's first column.
DESCRIPTION: MappingProxyType[Action, str] = MappingProxyType(
    {
        Action.CONTACT_REQUEST: "ask to connect with a resident",
        Action.CONTACT_ANSWER: "approve or deny a contact request",
        Action.CONTACT_REMOVE: "remove a contact",
        Action.CONTACT_READ: "list and read contacts (own; staff: the facility's)",
        Action.MESSAGE_SEND: (
            "send messages; quote, history, read receipts, unread counts, delete-for-me, export"
        ),
        Action.MESSAGE_APPEAL: "appeal a rejected message of theirs",
        Action.PHOTO_SEND: "upload photos and send them with a message (family to resident only)",
        Action.WALLET_READ: "read their wallet and statement",
        Action.DEPOSIT_PAY: "quote and pay a deposit by card",
        Action.CONVERSATION_READ: "read a conversation, read-only (audited)",
        Action.REVIEW: "read the review queue (audited) and approve or reject held messages",
        Action.POLICY_READ: "read the message policy",
        Action.POLICY_CHANGE: "change the message policy",
        Action.TARIFF_READ: "read the tariff and its rate-cap warnings",
        Action.TARIFF_CHANGE: "change the tariff",
        Action.REPORT_READ: "read message reports",
        Action.APPEAL_READ: "list pending appeals (audited)",
        Action.APPEAL_DECIDE: "uphold or overturn an appeal",
        Action.PRIVILEGE_MANAGE: "mark a contact privileged, or revoke it",
        Action.CONTACT_BLOCK: "block or unblock a contact",
        Action.FAMILY_BLOCK: "list, place and lift family-account blocks",
        Action.AUDIT_READ: "read and export the audit log",
        Action.CARE_READ: "find a family account; its balances, contacts and statement",
        Action.ACCOUNT_SIGN_OUT: "sign a family account out everywhere",
        Action.REFUND: "ask for, list, approve and reject refunds and credits",
        Action.DEPOSIT_RECORD: "record an operator or mail deposit",
    }
)

_F, _R, _ADMIN, _GLOBAL = Role.FAMILY, Role.RESIDENT, Role.FACILITY_ADMIN, Role.GLOBAL_SUPPORT
_ALL_STAFF = STAFF_ROLES
_REVIEWERS = frozenset({Role.REVIEWER, _ADMIN})
_CARE = frozenset({_ADMIN, Role.SUPPORT, _GLOBAL})  # customer care: money and the log

TABLE: MappingProxyType[Action, frozenset[Role]] = MappingProxyType(
    {
        Action.CONTACT_REQUEST: frozenset({_F}),
        Action.CONTACT_ANSWER: frozenset({_R}),
        Action.CONTACT_REMOVE: frozenset({_F, _R}),
        Action.CONTACT_READ: frozenset({_F, _R, *_ALL_STAFF}),
        Action.MESSAGE_SEND: frozenset({_F, _R}),
        Action.MESSAGE_APPEAL: frozenset({_F, _R}),
        Action.PHOTO_SEND: frozenset({_F}),
        Action.WALLET_READ: frozenset({_F, _R}),
        Action.DEPOSIT_PAY: frozenset({_F}),
        Action.CONVERSATION_READ: _ALL_STAFF,
        Action.REVIEW: _REVIEWERS,
        Action.POLICY_READ: _ALL_STAFF,
        Action.POLICY_CHANGE: frozenset({_ADMIN}),
        Action.TARIFF_READ: _ALL_STAFF,
        Action.TARIFF_CHANGE: frozenset({_ADMIN}),
        Action.REPORT_READ: _ALL_STAFF,
        Action.APPEAL_READ: _CARE,
        Action.APPEAL_DECIDE: frozenset({_ADMIN}),
        Action.PRIVILEGE_MANAGE: frozenset({_ADMIN}),
        Action.CONTACT_BLOCK: frozenset({_ADMIN, _GLOBAL}),
        Action.FAMILY_BLOCK: frozenset({_ADMIN, _GLOBAL}),
        Action.AUDIT_READ: _CARE,
        Action.CARE_READ: _CARE,
        Action.ACCOUNT_SIGN_OUT: _CARE,
        Action.REFUND: _CARE,
        Action.DEPOSIT_RECORD: _CARE,
    }
)


def allowed(role: Role | None, action: Action) -> bool:
    """Whether `role` may take `action` at all (None, an unknown role: nothing)."""
    return role is not None and role in TABLE[action]


def actions_of(role: Role | None) -> list[Action]:
    """Every action `role` may take, in the table's order."""
    return [action for action in Action if allowed(role, action)]


def serves(role: Role | None, *, own_facility_id: int | None, facility_id: int) -> bool:
    """Staff scope: staff act for their own facility, global support for every facility."""
    if role is Role.GLOBAL_SUPPORT:
        return True
    return role in STAFF_ROLES and own_facility_id is not None and own_facility_id == facility_id


def staff_role(role: str | None, *, facility_id: int | None) -> Role | None:
    """The table's role of a staff member from their stored role and facility (support staff
    without a facility are global support); None for a role the table does not know."""
    if role == Role.SUPPORT.value and facility_id is None:
        return Role.GLOBAL_SUPPORT
    if role in (Role.REVIEWER.value, Role.FACILITY_ADMIN.value, Role.SUPPORT.value):
        return Role(role)
    return None
