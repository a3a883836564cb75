"""The contact lifecycle as a pure state machine: no app, no event loop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.contacts import TRANSITIONS, ContactAction, ContactStatus, next_status
from server.errors import IllegalTransition

A, S = ContactAction, ContactStatus
STATES: list[ContactStatus | None] = [None, *ContactStatus]

EXPECTED = {
    (A.REQUEST, None): S.PENDING,
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


def test_transition_table_is_the_documented_lifecycle() -> None:
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("action", "current"), list(EXPECTED))
def test_allowed_transition_gives_the_next_status(
    action: ContactAction, current: ContactStatus | None
) -> None:
    assert next_status(action, current) is EXPECTED[(action, current)]


ILLEGAL = [(a, s) for a in ContactAction for s in STATES if (a, s) not in EXPECTED]


@pytest.mark.parametrize(("action", "current"), ILLEGAL)
def test_illegal_transition_raises_with_a_message(
    action: ContactAction, current: ContactStatus | None
) -> None:
    with pytest.raises(IllegalTransition) as raised:
        next_status(action, current)
    assert raised.value.message.strip()
    assert raised.value.status == 409


def test_illegal_transition_messages_say_what_is_wrong() -> None:
    cases = {
        (A.REQUEST, S.BLOCKED): "blocked",
        (A.REQUEST, S.APPROVED): "already connected",
        (A.APPROVE, S.DENIED): "denied",
        (A.APPROVE, None): "not yet requested",
    }
    for (action, current), words in cases.items():
        with pytest.raises(IllegalTransition, match=words):
            next_status(action, current)


def test_every_status_is_reachable_from_no_contact() -> None:
    reached: set[ContactStatus | None] = {None}
    frontier: list[ContactStatus | None] = [None]
    while frontier:
        current = frontier.pop()
        for action in ContactAction:
            if (action, current) in TRANSITIONS:
                after = TRANSITIONS[(action, current)]
                if after not in reached:
                    reached.add(after)
                    frontier.append(after)
    assert reached == set(STATES)


ACTIONS = st.lists(st.sampled_from(list(ContactAction)), max_size=30)


@given(start=st.sampled_from(STATES), actions=ACTIONS)
def test_any_action_sequence_follows_the_table_or_raises(
    start: ContactStatus | None, actions: list[ContactAction]
) -> None:
    # Every state is reachable (test above), so starting anywhere is starting from a reachable
    # state. A refused action leaves the contact as it was.
    state = start
    for action in actions:
        expected = TRANSITIONS.get((action, state))
        if expected is None:
            with pytest.raises(IllegalTransition):
                next_status(action, state)
        else:
            state = next_status(action, state)
            assert state is expected


@given(st.lists(st.sampled_from([A.REQUEST, A.APPROVE, A.DENY, A.REMOVE]), min_size=1))
def test_blocked_is_absorbing(actions: list[ContactAction]) -> None:
    state: ContactStatus | None = S.BLOCKED
    for action in actions:
        with pytest.raises(IllegalTransition):
            state = next_status(action, state)
        assert state is S.BLOCKED
    with pytest.raises(IllegalTransition, match="already blocked"):
        next_status(A.BLOCK, S.BLOCKED)
