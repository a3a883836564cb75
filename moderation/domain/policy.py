"""A facility's policy (pure): how messages and photos are delivered in each direction, which
words and patterns flag a message for review, restrictions on single residents, the reasons
reviewers pick from when they reject, visiting hours and the facility's time zone.

Stored as JSON per facility (with its history); `policy_checks.policy_from_json` checks a
document field by field. Documents stored before a field existed still load, with that field's
default. Nothing here reads the clock, the database or the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import Any, TypeVar

import regex

MAX_DELAY_MINUTES = 7 * 24 * 60  # a week
MAX_RULES = 200
MAX_PATTERN_CHARS = 200
MAX_NOTE_CHARS = 500
MAX_RESTRICTIONS = 500
MAX_RESTRICTION_REASON_CHARS = 500
MAX_REJECTION_REASONS = 50
MAX_REJECTION_REASON_CHARS = 200
MAX_WINDOWS_PER_DAY = 8
MAX_TIMEZONE_CHARS = 64  # the facility row's column
# Compiling a regular expression costs about the product of its counted repeats, and grows
# steeply with nesting: (?:(?:a{2}){2}...) 14 deep takes seconds. Within these it takes
# milliseconds.
MAX_GROUP_DEPTH = 5
MAX_REPEAT_PRODUCT = 10_000
# Case-insensitive with full case folding, so "STRASSE" finds "straße" as well.
PATTERN_FLAGS = regex.IGNORECASE | regex.FULLCASE
E = TypeVar("E", bound=StrEnum)


class DeliveryMode(StrEnum):
    INSTANT = "instant"
    DELAY = "delay"  # deliver a fixed number of minutes after sending
    REVIEW_ALL = "review_all"  # hold every message for staff review
    REVIEW_FLAGGED = "review_flagged"  # hold only the messages a rule matches


class Direction(StrEnum):
    INCOMING = "incoming"  # family -> resident
    OUTGOING = "outgoing"  # resident -> family


class RuleKind(StrEnum):
    WORD = "word"  # a whole word, in any case
    PHRASE = "phrase"  # text anywhere, in any case; its spaces match any run of white space
    REGEX = "regex"  # a regular expression (the `regex` package's syntax), in any case


class RestrictionKind(StrEnum):
    REVIEW_ALL = "review_all"  # hold every message to or from the resident
    NO_MESSAGING = "no_messaging"  # refuse every message to or from the resident


@dataclass(frozen=True)
class DeliveryRule:
    mode: DeliveryMode = DeliveryMode.INSTANT
    delay_minutes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "delay_minutes": self.delay_minutes}


@dataclass(frozen=True)
class ContentRule:
    """A word, phrase or pattern that flags a message for review."""

    kind: RuleKind
    pattern: str
    note: str = ""  # for the staff: why the rule exists

    def describe(self) -> str:
        """How a reviewer sees it: 'word "knife"', 'phrase "meet me"', 'regex /b.*d/'."""
        if self.kind is RuleKind.REGEX:
            return f"regex /{self.pattern}/"
        return f'{self.kind.value} "{self.pattern}"'

    def compiled(self) -> regex.Pattern[str]:
        return compile_rule(self.kind, self.pattern)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "pattern": self.pattern, "note": self.note}


@dataclass(frozen=True)
class Restriction:
    """A measure on one resident's messaging, up to and including `until` (facility local
    date), or until it is removed from the policy when `until` is None."""

    resident_id: int
    kind: RestrictionKind
    until: date | None = None
    reason: str = ""  # for the staff only; never shown to the resident or their contacts

    def in_force(self, today: date) -> bool:
        return self.until is None or today <= self.until

    def describe(self) -> str:
        """'restriction: review all (until 2026-12-01)'."""
        what = f"restriction: {self.kind.value.replace('_', ' ')}"
        return f"{what} (until {self.until.isoformat()})" if self.until else what

    def to_json(self) -> dict[str, Any]:
        return {
            "resident_id": self.resident_id,
            "kind": self.kind.value,
            "until": self.until.isoformat() if self.until else None,
            "reason": self.reason,
        }


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
Window = tuple[int, int]  # minutes after local midnight: [start, end), end up to 24:00


@dataclass(frozen=True)
class VisitingHours:
    """When video visits may take place, in facility local time: for each day of the week
    (Monday first) its windows, in order, never overlapping."""

    days: tuple[tuple[Window, ...], ...]

    def on(self, weekday: int) -> tuple[Window, ...]:
        """The windows of a day, by `date.weekday()` (0 is Monday)."""
        return self.days[weekday]

    def to_json(self) -> dict[str, Any]:
        return {
            day: [[_clock_text(start), _clock_text(end)] for start, end in windows]
            for day, windows in zip(DAYS, self.days, strict=True)
        }


NINE_TO_FIVE: tuple[Window, ...] = ((9 * 60, 17 * 60),)
# A new facility: visits Monday to Saturday, nine to five; none on Sunday.
DEFAULT_VISITING_HOURS = VisitingHours(days=(NINE_TO_FIVE,) * 6 + ((),))
DEFAULT_REJECTION_REASONS = (
    "Threatens the safety of a person or of the facility",
    "Plans or discusses illegal activity",
    "Uses coded language or tries to hide its meaning",
    "Shares another person's private or case information",
    "Harassing, abusive or sexually explicit",
)


@dataclass(frozen=True)
class Policy:
    incoming: DeliveryRule = DeliveryRule()
    outgoing: DeliveryRule = DeliveryRule()
    photos: DeliveryRule = DeliveryRule()  # family -> resident only
    rules: tuple[ContentRule, ...] = ()
    restrictions: tuple[Restriction, ...] = ()
    rejection_reasons: tuple[str, ...] = DEFAULT_REJECTION_REASONS
    visiting_hours: VisitingHours = DEFAULT_VISITING_HOURS
    # The facility's IANA zone, kept on the facility row and filled in from it when the policy
    # is read; None in a document that did not say (an update then keeps the facility's zone).
    timezone: str | None = None

    def rule_for(self, direction: Direction) -> DeliveryRule:
        """The text rule of a direction."""
        return self.incoming if direction is Direction.INCOMING else self.outgoing

    def rules_for(self, direction: Direction, *, photo: bool = False) -> tuple[DeliveryRule, ...]:
        """Every rule a message must pass: its direction's, and for a message that carries
        photos the photos rule too (the stricter of the two decides: see `screen`)."""
        text = self.rule_for(direction)
        return (text, self.photos) if photo else (text,)

    def delay_minutes_for(self, direction: Direction, *, photo: bool = False) -> int:
        """The longest delay among the rules a message must pass (0: none)."""
        return max(
            (
                r.delay_minutes
                for r in self.rules_for(direction, photo=photo)
                if r.mode is DeliveryMode.DELAY
            ),
            default=0,
        )

    def restrictions_of(self, resident_id: int | None, *, today: date) -> list[Restriction]:
        """The restrictions in force on a resident on a (facility local) day."""
        return [r for r in self.restrictions if r.resident_id == resident_id and r.in_force(today)]

    def to_json(self) -> dict[str, Any]:
        return {
            "incoming": self.incoming.to_json(),
            "outgoing": self.outgoing.to_json(),
            "photos": self.photos.to_json(),
            "rules": [r.to_json() for r in self.rules],
            "restrictions": [r.to_json() for r in self.restrictions],
            "rejection_reasons": list(self.rejection_reasons),
            "visiting_hours": self.visiting_hours.to_json(),
            "timezone": self.timezone,
        }


DEFAULT_POLICY = Policy()


@lru_cache(maxsize=4096)
def compile_rule(kind: RuleKind, pattern: str) -> regex.Pattern[str]:
    """The compiled form of a rule (cached: every send screens with the same few rules).
    Raises regex.error for a regular expression that does not compile."""
    if kind is RuleKind.WORD:
        # Look-arounds rather than \b, so that a "word" such as "$$" or "c4$h" works too.
        return regex.compile(rf"(?<!\w){regex.escape(pattern)}(?!\w)", PATTERN_FLAGS)
    if kind is RuleKind.PHRASE:
        return regex.compile(r"\s+".join(regex.escape(p) for p in pattern.split()), PATTERN_FLAGS)
    return regex.compile(pattern, PATTERN_FLAGS)


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
