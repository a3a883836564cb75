"""Screening is pure: (message, policy, now) -> verdict, with no database and no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderation.policy import (
    DEFAULT_POLICY,
    MAX_DELAY_MINUTES,
    DeliveryMode,
    DeliveryRule,
    Direction,
    Policy,
    policy_from_json,
)
from moderation.screening import Action, Screened, release_time, screen
from server.errors import FieldErrors

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)

rules = st.one_of(
    st.just(DeliveryRule()),
    st.builds(
        DeliveryRule,
        mode=st.just(DeliveryMode.DELAY),
        delay_minutes=st.integers(1, MAX_DELAY_MINUTES),
    ),
    st.just(DeliveryRule(mode=DeliveryMode.REVIEW_ALL)),
)
policies = st.builds(Policy, incoming=rules, outgoing=rules)
messages = st.builds(
    Screened,
    body=st.text(min_size=1, max_size=200),
    direction=st.sampled_from(Direction),
    privileged=st.booleans(),
)


@given(messages)
def test_the_default_policy_delivers_everything_now(message: Screened) -> None:
    assert screen(message, DEFAULT_POLICY, NOW).action is Action.DELIVER


@given(messages.filter(lambda m: not m.privileged))
def test_review_all_holds_every_message_and_says_why(message: Screened) -> None:
    policy = Policy(
        incoming=DeliveryRule(mode=DeliveryMode.REVIEW_ALL),
        outgoing=DeliveryRule(mode=DeliveryMode.REVIEW_ALL),
    )
    verdict = screen(message, policy, NOW)
    assert verdict.action is Action.HOLD
    assert verdict.matched == (f"{message.direction.value}: review all",)


@given(messages, policies)
def test_privileged_contacts_are_never_held_or_delayed(message: Screened, policy: Policy) -> None:
    privileged = Screened(body=message.body, direction=message.direction, privileged=True)
    assert screen(privileged, policy, NOW).action is Action.DELIVER


@given(st.integers(1, MAX_DELAY_MINUTES), st.sampled_from(Direction))
def test_a_delay_schedules_delivery_that_many_minutes_later(
    minutes: int, direction: Direction
) -> None:
    rule = DeliveryRule(mode=DeliveryMode.DELAY, delay_minutes=minutes)
    policy = Policy(incoming=rule) if direction is Direction.INCOMING else Policy(outgoing=rule)
    verdict = screen(Screened("hi", direction, privileged=False), policy, NOW)
    assert verdict.action is Action.SCHEDULE
    assert verdict.deliver_at == NOW + timedelta(minutes=minutes)


def test_each_direction_follows_its_own_rule() -> None:
    policy = Policy(incoming=DeliveryRule(mode=DeliveryMode.REVIEW_ALL))
    assert screen(Screened("x", Direction.INCOMING, False), policy, NOW).action is Action.HOLD
    assert screen(Screened("x", Direction.OUTGOING, False), policy, NOW).action is Action.DELIVER


def test_an_approved_message_waits_only_for_what_is_left_of_its_delay() -> None:
    sent = NOW - timedelta(minutes=3)
    assert release_time(10, sent, NOW) == sent + timedelta(minutes=10)
    assert release_time(2, sent, NOW) is None
    assert release_time(0, sent, NOW) is None


@given(policies)
def test_a_policy_survives_its_json(policy: Policy) -> None:
    assert policy_from_json(policy.to_json()) == policy


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"incoming": {"mode": "sometimes"}, "outgoing": {"mode": "instant"}}, "incoming.mode"),
        (
            {"incoming": {"mode": "delay", "delay_minutes": 0}, "outgoing": {"mode": "instant"}},
            "incoming.delay_minutes",
        ),
        (
            {
                "incoming": {"mode": "instant"},
                "outgoing": {"mode": "delay", "delay_minutes": MAX_DELAY_MINUTES + 1},
            },
            "outgoing.delay_minutes",
        ),
        (
            {"incoming": {"mode": "instant", "delay_minutes": 5}, "outgoing": {"mode": "instant"}},
            "incoming.delay_minutes",
        ),
        ({"incoming": {"mode": "instant"}}, "outgoing"),
        ({"incoming": {"mode": "instant"}, "outgoing": {"mode": "instant"}, "x": 1}, "x"),
        (
            {"incoming": {"mode": "delay", "delay_minutes": True}, "outgoing": {}},
            "incoming.delay_minutes",
        ),
    ],
)
def test_a_bad_policy_names_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(FieldErrors) as caught:
        policy_from_json(document)
    assert field in caught.value.fields


def test_the_longest_delay_is_a_week() -> None:
    rule = {"mode": "delay", "delay_minutes": MAX_DELAY_MINUTES}
    policy = policy_from_json({"incoming": rule, "outgoing": {"mode": "instant"}})
    assert policy.incoming.delay_minutes == 7 * 24 * 60
