"""Message rules without a database: body limits and the status lifecycle."""

from __future__ import annotations

import pytest

from server.domain.messages import (
    MAX_BODY_CHARS,
    TRANSITIONS,
    MessageStatus,
    check_body,
    next_status,
)
from server.errors import FieldErrors, IllegalTransition

S = MessageStatus


def test_body_of_30000_code_points_is_accepted_as_is() -> None:
    body = "👍" * MAX_BODY_CHARS
    assert check_body(body) is body


@pytest.mark.parametrize("body", ["", " ", "\n\t\u3000", "x" * 30_001, "a\x00b"])
def test_bad_bodies_are_refused_with_a_sentence(body: str) -> None:
    with pytest.raises(FieldErrors) as err:
        check_body(body)
    assert err.value.fields["body"]


def test_a_message_is_screened_into_review_delay_or_delivery() -> None:
    for status in (S.PENDING_REVIEW, S.SCHEDULED, S.DELIVERED):
        assert next_status(None, status) is status
    assert next_status(S.PENDING_REVIEW, S.REJECTED) is S.REJECTED
    assert next_status(S.DELIVERED, S.READ) is S.READ


@pytest.mark.parametrize(
    ("current", "wanted"),
    [(None, S.READ), (S.DELIVERED, S.REJECTED), (S.READ, S.DELIVERED), (S.REJECTED, S.DELIVERED)],
)
def test_illegal_transitions_are_refused(
    current: MessageStatus | None, wanted: MessageStatus
) -> None:
    with pytest.raises(IllegalTransition):
        next_status(current, wanted)


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == {None, *S}
