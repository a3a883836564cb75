"""A facility's message policy (pure): how messages in each direction are delivered.

Stored as JSON per facility (with its history), checked here field by field. Word and pattern
rules, per-resident overrides and photos extend this document with the moderation console.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from server.errors import FieldErrors

MAX_DELAY_MINUTES = 7 * 24 * 60  # a week


class DeliveryMode(StrEnum):
    INSTANT = "instant"
    DELAY = "delay"  # deliver a fixed number of minutes after sending
    REVIEW_ALL = "review_all"  # hold every message for staff review


class Direction(StrEnum):
    INCOMING = "incoming"  # family -> resident
    OUTGOING = "outgoing"  # resident -> family


@dataclass(frozen=True)
class DeliveryRule:
    mode: DeliveryMode = DeliveryMode.INSTANT
    delay_minutes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "delay_minutes": self.delay_minutes}


@dataclass(frozen=True)
class Policy:
    incoming: DeliveryRule = DeliveryRule()
    outgoing: DeliveryRule = DeliveryRule()

    def rule_for(self, direction: Direction) -> DeliveryRule:
        return self.incoming if direction is Direction.INCOMING else self.outgoing

    def to_json(self) -> dict[str, Any]:
        return {"incoming": self.incoming.to_json(), "outgoing": self.outgoing.to_json()}


DEFAULT_POLICY = Policy()


def policy_from_json(data: Any) -> Policy:
    """A policy from untrusted JSON, or FieldErrors naming every wrong field."""
    errors: dict[str, str] = {}
    if not isinstance(data, dict):
        raise FieldErrors({"policy": "Must be an object."})
    unknown = sorted(set(data) - {"incoming", "outgoing", "reason"})
    for name in unknown:
        errors[name] = "Unknown field."
    rules = {d: _rule(data.get(d.value), d.value, errors) for d in Direction}
    if errors:
        raise FieldErrors(errors)
    return Policy(incoming=rules[Direction.INCOMING], outgoing=rules[Direction.OUTGOING])


def _rule(data: Any, name: str, errors: dict[str, str]) -> DeliveryRule:
    if data is None:
        errors[name] = "Required: {mode, delay_minutes}."
        return DeliveryRule()
    if not isinstance(data, dict):
        errors[name] = "Must be an object {mode, delay_minutes}."
        return DeliveryRule()
    for extra in sorted(set(data) - {"mode", "delay_minutes"}):
        errors[f"{name}.{extra}"] = "Unknown field."
    modes = ", ".join(m.value for m in DeliveryMode)
    try:
        mode = DeliveryMode(str(data.get("mode")))
    except ValueError:
        errors[f"{name}.mode"] = f"Must be one of: {modes}."
        return DeliveryRule()
    delay = data.get("delay_minutes", 0)
    if isinstance(delay, bool) or not isinstance(delay, int):
        errors[f"{name}.delay_minutes"] = "Must be a whole number of minutes."
        return DeliveryRule()
    if mode is DeliveryMode.DELAY and not 1 <= delay <= MAX_DELAY_MINUTES:
        errors[f"{name}.delay_minutes"] = (
            f"A delay must be between 1 and {MAX_DELAY_MINUTES:,} minutes (a week)."
        )
    elif mode is not DeliveryMode.DELAY and delay != 0:
        errors[f"{name}.delay_minutes"] = "Only the delay mode takes a delay; send 0."
    return DeliveryRule(mode=mode, delay_minutes=delay)
