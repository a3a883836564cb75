"""Message rules: what a body may be, and the status lifecycle (a table of transitions)."""

from __future__ import annotations

from enum import StrEnum

from server.errors import FieldErrors, IllegalTransition

MAX_BODY_CHARS = 30_000  # Unicode code points: an emoji or a CJK character counts as one


class MessageStatus(StrEnum):
    PENDING_REVIEW = "pending_review"
    SCHEDULED = "scheduled"
    DELIVERED = "delivered"
    READ = "read"
    REJECTED = "rejected"


S = MessageStatus

# from -> the statuses it may move to. `None` is "not stored yet" (the screening decision).
TRANSITIONS: dict[MessageStatus | None, frozenset[MessageStatus]] = {
    None: frozenset({S.PENDING_REVIEW, S.SCHEDULED, S.DELIVERED}),
    S.PENDING_REVIEW: frozenset({S.SCHEDULED, S.DELIVERED, S.REJECTED}),
    S.SCHEDULED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset({S.READ}),
    S.READ: frozenset(),
    # An appeal overturned: the message goes back in line for delivery, now (or, while a
    # block holds the contact, when the block ends).
    S.REJECTED: frozenset({S.SCHEDULED}),
}


def next_status(current: MessageStatus | None, wanted: MessageStatus) -> MessageStatus:
    """`wanted`, if a message in `current` may move there; otherwise IllegalTransition."""
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(
            f"A message that is {current.value if current else 'new'} cannot become {wanted.value}."
        )
    return wanted


def check_body(body: str) -> str:
    """The body as sent (never trimmed or normalised), or FieldErrors saying why not."""
    problem = _body_problem(body)
    if problem is not None:
        raise FieldErrors({"body": problem}, message=problem)
    return body


def _body_problem(body: str) -> str | None:
    if "\x00" in body:
        return "Must not contain the NUL character."
    if not body.strip():
        return "Write something before sending."
    if len(body) > MAX_BODY_CHARS:
        return (
            f"A message can be at most {MAX_BODY_CHARS:,} characters; this one has {len(body):,}."
        )
    return None
