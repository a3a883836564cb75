"""Contact lifecycle: a state machine with a table of allowed transitions."""

from __future__ import annotations

from enum import StrEnum

from server.errors import IllegalTransition


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
