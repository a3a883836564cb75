"""Screening (pure): what happens to a message when it is sent, by the facility's policy.

`screen` reads nothing and writes nothing: the message, who sends it and the policy go in, a
verdict comes out. The only limit on time is the `regex` package's own search time limit, so
that no pattern can stall a send: a search that runs out of time holds the message for a
reviewer, who reads it whole.

Privileged contacts (legal counsel, abuse lines) are never held, delayed or refused, not even
by a restriction on the resident: a person in custody must always be able to reach their
lawyer or report abuse, and staff must not read those messages to decide on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from moderation.domain.policy import (
    ContentRule,
    DeliveryMode,
    Direction,
    Policy,
    RestrictionKind,
    RuleKind,
)
from server.errors import FieldErrors

# Per pattern and message. Patterns are probed when saved (below), so on ordinary text they
# take microseconds; this bounds what a crafted 30,000-character message can cost.
SEARCH_TIMEOUT = 0.1
# Probes are far shorter than the longest message: an exponential pattern such as (a+)+$ runs
# out of time on 500 characters already, while one that is merely quadratic or cubic on a long
# run of one letter (b.*d, a.*b.*c, \S+\.com) takes a few milliseconds there and is allowed; on
# a crafted 30,000-character message such a pattern times out and the message is held.
PROBE_CHARS = 500
PROBE_TIMEOUT = 0.05
MAX_HIGHLIGHTS = 1_000
TOO_SLOW = (
    "This pattern takes too long to check on some messages (for example a long run of one "
    "letter); simplify it: avoid nested repeats such as (a+)+ and repeats of groups that "
    "can match the same text in several ways."
)


class Action(StrEnum):
    DELIVER = "deliver"  # now
    SCHEDULE = "schedule"  # at `deliver_at`
    HOLD = "hold"  # for staff review
    REFUSE = "refuse"  # not sent at all: a restriction forbids messaging


@dataclass(frozen=True)
class Screened:
    """What screening looks at."""

    body: str
    direction: Direction
    privileged: bool
    resident_id: int | None = None  # the resident party, for the restrictions on them
    photo: bool = False  # carries photos: the photos rule applies as well as the text rule


@dataclass(frozen=True)
class Verdict:
    action: Action
    deliver_at: datetime | None = None
    matched: tuple[str, ...] = ()  # what decided it, for the reviewer
    refusal: str | None = None  # for REFUSE: what the sender is told


@dataclass(frozen=True)
class Highlight:
    """Where a rule matches a message, in code points (Python string offsets)."""

    start: int
    end: int
    rule: str  # the rule's description

    def to_json(self) -> dict[str, int | str]:
        return {"start": self.start, "end": self.end, "rule": self.rule}


def screen(message: Screened, policy: Policy, now: datetime) -> Verdict:
    """The verdict on one message. In order: privileged contacts are delivered now; a
    no-messaging restriction on the resident refuses; the direction's review-all mode or a
    review-all restriction holds; review_flagged holds when a rule matches; a delay schedules;
    anything else is delivered now. A held message lists every rule that matches it."""
    if message.privileged:
        return Verdict(Action.DELIVER)
    today = now.astimezone(ZoneInfo(policy.timezone or "UTC")).date()
    restrictions = policy.restrictions_of(message.resident_id, today=today)
    for r in restrictions:
        if r.kind is RestrictionKind.NO_MESSAGING:
            return Verdict(
                Action.REFUSE, matched=(r.describe(),), refusal=_refusal(message, r.until)
            )
    # A message with photos passes its direction's rule and the photos rule: the stricter
    # decides (review all > review flagged > the longer delay > instant).
    text_rule = policy.rule_for(message.direction)
    named = [(message.direction.value, text_rule)]
    if message.photo:
        named.append(("photos", policy.photos))
    modes = {rule.mode for _, rule in named}
    reasons = [
        f"{what}: review all" for what, rule in named if rule.mode is DeliveryMode.REVIEW_ALL
    ]
    reasons += [r.describe() for r in restrictions if r.kind is RestrictionKind.REVIEW_ALL]
    if reasons or DeliveryMode.REVIEW_FLAGGED in modes:
        flagged = matching_rules(message.body, policy.rules)
        if reasons or flagged:
            return Verdict(Action.HOLD, matched=(*reasons, *flagged))
    delays = [(rule.delay_minutes, what) for what, rule in named if rule.mode is DeliveryMode.DELAY]
    if delays:
        minutes, what = max(delays)
        return Verdict(
            Action.SCHEDULE,
            deliver_at=now + timedelta(minutes=minutes),
            matched=(f"{what}: delay {minutes} min",),
        )
    return Verdict(Action.DELIVER)


def matching_rules(body: str, rules: tuple[ContentRule, ...]) -> list[str]:
    """The descriptions of the rules that match `body`. A pattern that runs out of time
    counts as matching ('regex /.../ (timed out)'), and the regular expressions after it are
    not tried: the message is held whatever they would say."""
    found: list[str] = []
    gave_up = False
    for rule in rules:
        if gave_up and rule.kind is RuleKind.REGEX:
            continue
        try:
            if rule.compiled().search(body, timeout=SEARCH_TIMEOUT) is not None:
                found.append(rule.describe())
        except TimeoutError:
            found.append(f"{rule.describe()} (timed out)")
            gave_up = True
    return found


def highlights(body: str, policy: Policy) -> list[Highlight]:
    """Every place a rule of the policy matches `body`, ordered by position, for the review
    queue to mark (at most MAX_HIGHLIGHTS; spans of different rules may overlap). A pattern
    that runs out of time marks what it found until then."""
    spans: list[Highlight] = []
    for rule in policy.rules:
        try:
            for m in rule.compiled().finditer(body, timeout=SEARCH_TIMEOUT):
                if m.end() > m.start():
                    spans.append(Highlight(m.start(), m.end(), rule.describe()))
                if len(spans) >= MAX_HIGHLIGHTS:
                    break
        except TimeoutError:
            pass
        if len(spans) >= MAX_HIGHLIGHTS:
            break
    return sorted(spans, key=lambda h: (h.start, h.end, h.rule))


def check_rules_are_quick(policy: Policy) -> None:
    """FieldErrors ('rules.N.pattern') for every regular expression that runs out of time on
    the probe texts: when saved, so that a slow pattern is fixed by its author rather than
    found on a resident's message."""
    errors = {
        f"rules.{n}.pattern": TOO_SLOW
        for n, rule in enumerate(policy.rules)
        if rule.kind is RuleKind.REGEX and not _quick(rule)
    }
    if errors:
        raise FieldErrors(errors)


def _quick(rule: ContentRule) -> bool:
    compiled = rule.compiled()
    try:
        for text in probe_texts(rule.pattern):
            # concurrent: the probes run in a worker thread; let the event loop go on.
            compiled.search(text, timeout=PROBE_TIMEOUT, concurrent=True)
    except TimeoutError:
        return False
    return True


def probe_texts(pattern: str) -> list[str]:
    """Texts that make backtracking patterns slow: long runs of one character, with and
    without a final character that does not fit, of common characters and of those the
    pattern names; and mixed text of words, digits and punctuation."""
    named = [c for c in dict.fromkeys(pattern.casefold()) if c.isalnum()][:8]
    seeds = list(dict.fromkeys(["a", "1", " ", ".", *named]))
    runs = [c * PROBE_CHARS + tail for c in seeds for tail in ("!", "")]
    mixed = [
        "ab " * (PROBE_CHARS // 3) + "!",
        "word, word. 12 34-56 " * (PROBE_CHARS // 21) + "\n!",
        " ".join(named or ["a"]) * (PROBE_CHARS // max(1, 2 * len(named))) + "!",
        "".join(named or ["a"]) * (PROBE_CHARS // max(1, len(named))) + "!",
    ]
    return runs + mixed


def release_time(rule_delay_minutes: int, sent_at: datetime, now: datetime) -> datetime | None:
    """When an approved message is delivered: at its delay's time if that is still ahead,
    otherwise now (None)."""
    if rule_delay_minutes <= 0:
        return None
    due = sent_at + timedelta(minutes=rule_delay_minutes)
    return due if due > now else None


def _refusal(message: Screened, until: date | None) -> str:
    when = (
        f"through {until:%A}, {until:%B} {until.day}, {until.year}"
        if until is not None
        else "until further notice"
    )
    if message.direction is Direction.OUTGOING:
        return f"The facility has suspended your messaging {when}."
    return f"The facility has suspended messaging with this resident {when}."
