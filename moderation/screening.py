"""Screening (pure): what happens to a message when it is sent, by the facility's policy.

`screen` reads nothing and writes nothing: the message, who sends it and the policy go in, a
verdict comes out. Privileged contacts (legal counsel, abuse lines) are never held or delayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from moderation.policy import DeliveryMode, Direction, Policy


class Action(StrEnum):
    DELIVER = "deliver"  # now
    SCHEDULE = "schedule"  # at `deliver_at`
    HOLD = "hold"  # for staff review


@dataclass(frozen=True)
class Screened:
    """What screening looks at."""

    body: str
    direction: Direction
    privileged: bool


@dataclass(frozen=True)
class Verdict:
    action: Action
    deliver_at: datetime | None = None
    matched: tuple[str, ...] = ()  # the policy rules that decided it, for the reviewer


def screen(message: Screened, policy: Policy, now: datetime) -> Verdict:
    if message.privileged:
        return Verdict(Action.DELIVER)
    rule = policy.rule_for(message.direction)
    if rule.mode is DeliveryMode.REVIEW_ALL:
        return Verdict(Action.HOLD, matched=(f"{message.direction.value}: review all",))
    if rule.mode is DeliveryMode.DELAY:
        return Verdict(
            Action.SCHEDULE,
            deliver_at=now + timedelta(minutes=rule.delay_minutes),
            matched=(f"{message.direction.value}: delay {rule.delay_minutes} min",),
        )
    return Verdict(Action.DELIVER)


def release_time(rule_delay_minutes: int, sent_at: datetime, now: datetime) -> datetime | None:
    """When an approved message is delivered: at its delay's time if that is still ahead,
    otherwise now (None)."""
    if rule_delay_minutes <= 0:
        return None
    due = sent_at + timedelta(minutes=rule_delay_minutes)
    return due if due > now else None
