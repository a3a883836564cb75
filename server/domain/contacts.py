"""Contact lifecycle: a state machine with a table of allowed transitions, and the rules of a
staff block (its end date, what an unblocked contact returns to, what the parties are told)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from server.errors import FieldErrors, IllegalTransition


class ContactStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    REMOVED = "removed"
    BLOCKED = "blocked"


class ContactAction(StrEnum):
    REQUEST = "request"
    APPROVE = "approve"
    DENY = "deny"
    REMOVE = "remove"
    BLOCK = "block"


S = ContactStatus
A = ContactAction

# (action, from) -> to. A missing pair is an illegal transition. `None` is "no contact yet".
TRANSITIONS: dict[tuple[ContactAction, ContactStatus | None], ContactStatus] = {
    (A.REQUEST, None): S.PENDING,
    # After a denial or a removal the family may ask again; after a staff block they may not.
    (A.REQUEST, S.DENIED): S.PENDING,
    (A.REQUEST, S.REMOVED): S.PENDING,
    (A.APPROVE, S.PENDING): S.APPROVED,
    (A.DENY, S.PENDING): S.DENIED,
    (A.REMOVE, S.PENDING): S.REMOVED,
    (A.REMOVE, S.APPROVED): S.REMOVED,
    (A.BLOCK, S.PENDING): S.BLOCKED,
    (A.BLOCK, S.APPROVED): S.BLOCKED,
    (A.BLOCK, S.DENIED): S.BLOCKED,
    (A.BLOCK, S.REMOVED): S.BLOCKED,
}

_REFUSALS: dict[tuple[ContactAction, ContactStatus | None], str] = {
    (A.REQUEST, S.BLOCKED): "Facility staff have blocked this contact; it cannot be requested.",
    (A.REQUEST, S.PENDING): "You have already asked to connect with this person.",
    (A.REQUEST, S.APPROVED): "You are already connected with this person.",
    (A.BLOCK, S.BLOCKED): "This contact is already blocked.",
}


def next_status(action: ContactAction, current: ContactStatus | None) -> ContactStatus:
    """The status after `action`, or IllegalTransition with a sentence for the user."""
    try:
        return TRANSITIONS[(action, current)]
    except KeyError:
        message = _REFUSALS.get(
            (action, current),
            f"A contact that is {current or 'not yet requested'} cannot be {_past(action)}.",
        )
        raise IllegalTransition(message) from None


def _past(action: ContactAction) -> str:
    return {
        A.REQUEST: "requested",
        A.APPROVE: "approved",
        A.DENY: "denied",
        A.REMOVE: "removed",
        A.BLOCK: "blocked",
    }[action]


# --- blocks ----------------------------------------------------------------------------------

MAX_BLOCK_DAYS = 3660  # about ten years; longer is "no end date"

# Lifting a block returns the contact to the status it had when it was blocked; a contact
# blocked before that status was recorded returns to `removed`: the family may ask again and
# the resident decides afresh, so no connection is restored that nobody chose.
UNBLOCKED_TO: dict[ContactStatus | None, ContactStatus] = {
    S.PENDING: S.PENDING,
    S.APPROVED: S.APPROVED,
    S.DENIED: S.DENIED,
    S.REMOVED: S.REMOVED,
    None: S.REMOVED,
}


def unblocked_status(current: ContactStatus, before_block: ContactStatus | None) -> ContactStatus:
    """The status a blocked contact returns to when its block is lifted or runs out."""
    if current is not S.BLOCKED:
        raise IllegalTransition("This contact is not blocked.")
    return UNBLOCKED_TO.get(before_block, S.REMOVED)


def check_block_until(until: date | None, *, today: date) -> date | None:
    """A block's last day (facility-local, inclusive), or None for no end date; it may not be
    in the past nor more than MAX_BLOCK_DAYS ahead."""
    if until is None:
        return None
    if until < today:
        raise FieldErrors(
            {"until": f"Must be today ({today.isoformat()}) or later."},
            message="A block cannot end in the past.",
        )
    if until > today + timedelta(days=MAX_BLOCK_DAYS):
        raise FieldErrors(
            {"until": f"Must be within {MAX_BLOCK_DAYS} days; leave it empty for no end date."},
            message="A block's end date is too far ahead.",
        )
    return until


def block_ends_at(until: date | None, timezone: str) -> datetime | None:
    """The UTC instant a block with this last day stops applying: the start of the next day
    in the facility's time zone (None: it does not end by itself)."""
    if until is None:
        return None
    start = datetime.combine(until + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))
    return start.astimezone(UTC)


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def _through(until: date | None) -> str:
    return f" through {until.isoformat()}" if until is not None else ""


def contact_block_sentence(until: date | None) -> str:
    """What either party is told when they try to use a blocked contact."""
    return f"Facility staff have blocked this contact{_through(until)}; messages cannot be sent."


def family_block_sentence(facility_name: str, until: date | None) -> str:
    """What a family member blocked at a facility (or a resident writing to them) is told."""
    return (
        f"Facility staff at {facility_name} have blocked this family account from contact "
        f"with the facility's residents{_through(until)}."
    )
