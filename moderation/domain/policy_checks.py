"""Checking a policy document (pure): `policy_from_json` turns a request's or a stored JSON
document into a `Policy`, or raises FieldErrors naming every wrong field by its path
("rules.3.pattern", "restrictions.0.until") with a sentence for the administrator. Regular
expressions that would be slow to compile are refused before compiling."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from itertools import pairwise
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import regex

from moderation.domain.policy import (
    DAYS,
    DEFAULT_REJECTION_REASONS,
    DEFAULT_VISITING_HOURS,
    MAX_DELAY_MINUTES,
    MAX_GROUP_DEPTH,
    MAX_NOTE_CHARS,
    MAX_PATTERN_CHARS,
    MAX_REJECTION_REASON_CHARS,
    MAX_REJECTION_REASONS,
    MAX_REPEAT_PRODUCT,
    MAX_RESTRICTION_REASON_CHARS,
    MAX_RESTRICTIONS,
    MAX_RULES,
    MAX_TIMEZONE_CHARS,
    MAX_WINDOWS_PER_DAY,
    ContentRule,
    DeliveryMode,
    DeliveryRule,
    Policy,
    Restriction,
    RestrictionKind,
    RuleKind,
    VisitingHours,
    Window,
    compile_rule,
)
from server.errors import FieldErrors

E = TypeVar("E", bound=StrEnum)


FIELDS = {
    "incoming",
    "outgoing",
    "photos",
    "rules",
    "restrictions",
    "rejection_reasons",
    "visiting_hours",
    "timezone",
    "reason",  # why the change was made: kept in the history, not in the policy
}


def policy_from_json(data: Any) -> Policy:
    """A policy from JSON (a request's or a stored one), or FieldErrors naming every wrong
    field. Only `incoming` and `outgoing` are required; every other field has its default."""
    if not isinstance(data, dict):
        raise FieldErrors({"policy": "Must be an object."})
    errors: dict[str, str] = {}
    for name in sorted(set(data) - FIELDS):
        errors[name] = "Unknown field."
    incoming = _delivery(data.get("incoming"), "incoming", errors, required=True)
    outgoing = _delivery(data.get("outgoing"), "outgoing", errors, required=True)
    photos = _delivery(data.get("photos"), "photos", errors, required=False)
    policy = Policy(
        incoming=incoming,
        outgoing=outgoing,
        photos=photos,
        rules=_rules(data.get("rules"), errors),
        restrictions=_restrictions(data.get("restrictions"), errors),
        rejection_reasons=_rejection_reasons(data.get("rejection_reasons"), errors),
        visiting_hours=_visiting_hours(data.get("visiting_hours"), errors),
        timezone=_timezone(data.get("timezone"), errors),
    )
    if errors:
        raise FieldErrors(errors)
    return policy


def _delivery(data: Any, name: str, errors: dict[str, str], *, required: bool) -> DeliveryRule:
    if data is None:
        if required:
            errors[name] = "Required: {mode, delay_minutes}."
        return DeliveryRule()
    if not isinstance(data, dict):
        errors[name] = "Must be an object {mode, delay_minutes}."
        return DeliveryRule()
    for extra in sorted(set(data) - {"mode", "delay_minutes"}):
        errors[f"{name}.{extra}"] = "Unknown field."
    mode = _choice(data.get("mode"), DeliveryMode, f"{name}.mode", errors)
    if mode is None:
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


def _rules(data: Any, errors: dict[str, str]) -> tuple[ContentRule, ...]:
    items = _list(data, "rules", errors, limit=MAX_RULES, what="rules")
    out: list[ContentRule] = []
    seen: dict[tuple[RuleKind, str], int] = {}
    for n, item in enumerate(items):
        path = f"rules.{n}"
        if not _object(item, path, {"kind", "pattern", "note"}, errors):
            continue
        kind = _choice(item.get("kind"), RuleKind, f"{path}.kind", errors)
        note = _text(item.get("note", ""), f"{path}.note", errors, limit=MAX_NOTE_CHARS)
        pattern = _pattern(kind, item.get("pattern"), f"{path}.pattern", errors)
        if kind is None or pattern is None or note is None:
            continue
        # Words and phrases ignore case; in a regular expression \w and \W differ.
        key = (kind, pattern if kind is RuleKind.REGEX else pattern.casefold())
        if key in seen:
            errors[f"{path}.pattern"] = f"The same rule is rules.{seen[key]} already."
            continue
        seen[key] = n
        out.append(ContentRule(kind=kind, pattern=pattern, note=note))
    return tuple(out)


def _pattern(kind: RuleKind | None, data: Any, path: str, errors: dict[str, str]) -> str | None:
    raw = _text(data, path, errors, limit=MAX_PATTERN_CHARS, required=True)
    if raw is None or kind is None:
        return None
    # Spaces around a word or phrase mean nothing to it; a regular expression keeps them.
    pattern = raw if kind is RuleKind.REGEX else raw.strip()
    if kind is RuleKind.WORD and len(pattern.split()) != 1:
        errors[path] = "A word rule takes one word; use a phrase rule for several words."
        return None
    if kind is RuleKind.REGEX and (too_costly := _compile_cost(pattern)):
        errors[path] = too_costly
        return None
    try:
        compiled = compile_rule(kind, pattern)
    except (regex.error, OverflowError, ValueError, RecursionError) as exc:
        errors[path] = f"Not a valid regular expression: {exc}."
        return None
    try:
        matches_empty = compiled.search("", timeout=0.1) is not None
    except TimeoutError:
        matches_empty = True
    if matches_empty:
        errors[path] = (
            "This pattern matches empty text, so it would flag every message; make sure it "
            "needs at least one character (for example a+ rather than a*)."
        )
        return None
    return pattern


def _restrictions(data: Any, errors: dict[str, str]) -> tuple[Restriction, ...]:
    items = _list(data, "restrictions", errors, limit=MAX_RESTRICTIONS, what="restrictions")
    out: list[Restriction] = []
    seen: dict[tuple[int, RestrictionKind], int] = {}
    for n, item in enumerate(items):
        path = f"restrictions.{n}"
        if not _object(item, path, {"resident_id", "kind", "until", "reason"}, errors):
            continue
        resident_id = item.get("resident_id")
        if isinstance(resident_id, bool) or not isinstance(resident_id, int) or resident_id < 1:
            errors[f"{path}.resident_id"] = "Must be a resident's id."
            resident_id = None
        kind = _choice(item.get("kind"), RestrictionKind, f"{path}.kind", errors)
        dated, until = _date(item.get("until"), f"{path}.until", errors)
        reason = _text(
            item.get("reason", ""), f"{path}.reason", errors, limit=MAX_RESTRICTION_REASON_CHARS
        )
        if resident_id is None or kind is None or not dated or reason is None:
            continue
        key = (resident_id, kind)
        if key in seen:
            errors[f"{path}.kind"] = (
                f"This resident has this restriction already (restrictions.{seen[key]})."
            )
            continue
        seen[key] = n
        out.append(Restriction(resident_id=resident_id, kind=kind, until=until, reason=reason))
    return tuple(out)


def _rejection_reasons(data: Any, errors: dict[str, str]) -> tuple[str, ...]:
    if data is None:
        return DEFAULT_REJECTION_REASONS
    items = _list(data, "rejection_reasons", errors, limit=MAX_REJECTION_REASONS, what="reasons")
    out: list[str] = []
    seen: dict[str, int] = {}
    for n, item in enumerate(items):
        path = f"rejection_reasons.{n}"
        text = _text(item, path, errors, limit=MAX_REJECTION_REASON_CHARS, required=True)
        if text is None:
            continue
        text = text.strip()
        if text.casefold() in seen:
            errors[path] = f"Listed already (rejection_reasons.{seen[text.casefold()]})."
            continue
        seen[text.casefold()] = n
        out.append(text)
    return tuple(out)


_CLOCK = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")  # ASCII digits only


def _visiting_hours(data: Any, errors: dict[str, str]) -> VisitingHours:
    """Days left out have no visiting hours: the document replaces the whole week."""
    if data is None:
        return DEFAULT_VISITING_HOURS
    if not _object(data, "visiting_hours", set(DAYS), errors):
        return DEFAULT_VISITING_HOURS
    days: list[tuple[Window, ...]] = []
    for day in DAYS:
        items = _list(data.get(day, []), f"visiting_hours.{day}", errors, limit=MAX_WINDOWS_PER_DAY)
        windows: list[tuple[Window, int]] = []
        for n, item in enumerate(items):
            path = f"visiting_hours.{day}.{n}"
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not all(isinstance(t, str) and _CLOCK.fullmatch(t) for t in item)
            ):
                errors[path] = 'Must be a window ["HH:MM", "HH:MM"] in 24-hour time.'
                continue
            start, end = (int(t[:2]) * 60 + int(t[3:]) for t in item)
            if start >= end:
                errors[path] = "A window must end after it starts (the latest end is 24:00)."
                continue
            windows.append(((start, end), n))
        windows.sort()
        for (before, _), (window, n) in pairwise(windows):
            if window[0] < before[1]:
                errors[f"visiting_hours.{day}.{n}"] = "Overlaps another window of the day."
        days.append(tuple(w for w, _ in windows))
    return VisitingHours(days=tuple(days))


def _timezone(data: Any, errors: dict[str, str]) -> str | None:
    if data is None:
        return None
    name = _text(data, "timezone", errors, limit=MAX_TIMEZONE_CHARS, required=True)
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = (
            f"Unknown time zone {name!r}; use an IANA name such as America/Chicago."
        )
        return None
    return name


_COUNTED = re.compile(r"\{(\d*)(?:,(\d*))?\}")


def _compile_cost(pattern: str) -> str | None:
    """Why compiling this regular expression could take long, or None. Reads the pattern
    without compiling it: group depth (parentheses outside character sets) and the product of
    its counted repeats ({n}, {m,n}, {m,}), a bound on how far the compiler unrolls them."""
    depth = deepest = 0
    product = 1
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _end_of_set(pattern, i)
            continue
        if c == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif c == ")":
            depth = max(0, depth - 1)
        elif c == "{" and (counted := _COUNTED.match(pattern, i)):
            low, high = counted.groups()
            bound = high or low  # {m,n} and {,n}: n; {n} and {m,}: the count
            product *= max(1, int(bound or 0))
            i = counted.end()
            continue
        i += 1
    if deepest > MAX_GROUP_DEPTH:
        return f"Groups can nest at most {MAX_GROUP_DEPTH} deep in a rule; simplify it."
    if product > MAX_REPEAT_PRODUCT:
        return (
            f"Counted repeats such as {{n}} multiply one another, and these come to more than "
            f"{MAX_REPEAT_PRODUCT:,}; use smaller counts, or + and *."
        )
    return None


def _end_of_set(pattern: str, start: int) -> int:
    """The index after the character set that opens at `start` ([...], [^...], []...])."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


# --- small checks ------------------------------------------------------------------------


def _list(data: Any, path: str, errors: dict[str, str], *, limit: int, what: str = "") -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, list):
        errors[path] = "Must be a list."
        return []
    if len(data) > limit:
        errors[path] = f"At most {limit} {what or 'items'}; this list has {len(data)}."
        return []
    return data


def _object(data: Any, path: str, allowed: set[str], errors: dict[str, str]) -> bool:
    if not isinstance(data, dict):
        errors[path] = "Must be an object."
        return False
    for extra in sorted(set(data) - allowed):
        errors[f"{path}.{extra}"] = "Unknown field."
    return True


def _choice(data: Any, enum: type[E], path: str, errors: dict[str, str]) -> E | None:
    if isinstance(data, str):
        try:
            return enum(data)
        except ValueError:
            pass
    errors[path] = f"Must be one of: {', '.join(m.value for m in enum)}."
    return None


def _text(
    data: Any, path: str, errors: dict[str, str], *, limit: int, required: bool = False
) -> str | None:
    if not isinstance(data, str):
        errors[path] = "Must be text."
        return None
    if "\x00" in data:
        # PostgreSQL text cannot hold U+0000.
        errors[path] = "Must not contain the NUL character."
        return None
    if required and not data.strip():
        errors[path] = "This field cannot be empty."
        return None
    if len(data) > limit:
        errors[path] = f"Use at most {limit} characters."
        return None
    return data


def _date(data: Any, path: str, errors: dict[str, str]) -> tuple[bool, date | None]:
    """(True, a YYYY-MM-DD date or None for none), or (False, None) with an error."""
    if data is None:
        return True, None
    if isinstance(data, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", data):
        try:
            return True, date.fromisoformat(data)
        except ValueError:
            pass
    errors[path] = "Must be a date YYYY-MM-DD, or null for no end date."
    return False, None
