"""Visit blocks (pure): their lengths, their prices, the minutes billed, and the free starts of
a calendar. No I/O and no clock: `now` is always passed in, every datetime is timezone-aware.

Rules (DESIGN.md §1):
- a visit is one block of 15 or 30 minutes, booked from 1 hour to 14 days ahead (the lead and
  the horizon are facility settings, passed in; these are the defaults), inside the facility's
  visiting hours;
- a remote visit holds its block's full price at booking: the block's minutes times the
  facility's per-minute rate (`Tariff.remote_visit_cents_per_minute`); it is billed each
  started connected minute, never more than the block; what is not used is released;
- an on-site visit is priced by `Tariff.onsite_visit_cents_per_minute`, which is 0 (free) by
  default, and a privileged visit (legal counsel, abuse line) always costs nothing.

Slots start every `SLOT_STEP` from the start of a visiting-hours window, so that the times
offered read as a timetable (9:00, 9:15, 9:30...) whatever the block length.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from server.domain.tariff import Tariff
from server.errors import Conflict, FieldErrors

BLOCK_MINUTES = (15, 30)
SLOT_STEP = timedelta(minutes=15)
MIN_LEAD = timedelta(hours=1)
BOOKING_WINDOW = timedelta(days=14)

Interval = tuple[datetime, datetime]  # [start, end), timezone-aware


class VisitKind(StrEnum):
    REMOTE = "remote"  # the family member at home, the resident on a housing-unit station
    ONSITE = "onsite"  # the visitor at the facility's lobby station


@dataclass(frozen=True)
class Booking:
    """When a visit may be booked, relative to `now`."""

    min_lead: timedelta = MIN_LEAD
    booking_window: timedelta = BOOKING_WINDOW
    step: timedelta = SLOT_STEP

    def __post_init__(self) -> None:
        if self.step <= timedelta(0) or self.min_lead < timedelta(0):
            raise ValueError("the slot step must be positive and the lead not negative")
        if self.booking_window < self.min_lead:
            raise ValueError("the booking window must reach at least as far as the lead")


DEFAULT_BOOKING = Booking()


def check_block_minutes(value: object) -> int:
    """A block length in minutes (15 or 30), or `FieldErrors` on "block_minutes"."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in BLOCK_MINUTES:
        raise FieldErrors({"block_minutes": _block_problem()})
    return value


def rate_cents_per_minute(tariff: Tariff, *, kind: VisitKind, privileged: bool) -> int:
    """The per-minute rate of a visit: privileged visits are free whatever the tariff says."""
    if privileged:
        return 0
    if kind is VisitKind.REMOTE:
        return tariff.remote_visit_cents_per_minute
    return tariff.onsite_visit_cents_per_minute


def block_price_cents(
    tariff: Tariff, *, kind: VisitKind, block_minutes: int, privileged: bool
) -> int:
    """What booking a block holds: its minutes times the rate. The most a visit can cost."""
    minutes = check_block_minutes(block_minutes)
    return minutes * rate_cents_per_minute(tariff, kind=kind, privileged=privileged)


def billed_minutes(connected: timedelta, *, block_minutes: int) -> int:
    """The minutes billed for `connected` time: each started minute, never more than the
    block (a visit that never connected is 0)."""
    if connected < timedelta(0):
        raise ValueError("connected time cannot be negative")
    minute = timedelta(minutes=1)
    started = -(-connected // minute)  # ceiling, exact on microseconds
    return min(started, check_block_minutes(block_minutes))


def connected_price_cents(
    tariff: Tariff,
    *,
    kind: VisitKind,
    block_minutes: int,
    privileged: bool,
    connected: timedelta,
) -> int:
    """What a visit costs at its end: its billed minutes times the rate."""
    minutes = billed_minutes(connected, block_minutes=block_minutes)
    return minutes * rate_cents_per_minute(tariff, kind=kind, privileged=privileged)


def free_starts(
    *,
    windows: Iterable[Interval],
    busy: Iterable[Interval],
    block_minutes: int,
    now: datetime,
    booking: Booking = DEFAULT_BOOKING,
) -> list[datetime]:
    """The starts, in order, at which a block of `block_minutes` can be booked at `now`.

    `windows` are the visiting hours already resolved in UTC (they may touch or overlap:
    they are merged, so a block may run across the boundary of two touching windows);
    `busy` are the intervals already taken on the calendar asked about (a station, the
    resident, the family member: the caller joins those it needs). A start is offered when
    it lies on the step grid of its window, at least `min_lead` and at most
    `booking_window` after `now`, and the whole block is inside a window and free.
    """
    block = timedelta(minutes=check_block_minutes(block_minutes))
    _aware(now, "now")
    earliest, latest = now + booking.min_lead, now + booking.booking_window
    taken = _Taken(busy)
    starts: list[datetime] = []
    for window_start, window_end in _merged(windows, "windows"):
        if earliest <= window_start:
            start = window_start
        else:
            start = window_start + booking.step * -(-(earliest - window_start) // booking.step)
        while start + block <= window_end and start <= latest:
            if taken.is_free(start, start + block):
                starts.append(start)
            start += booking.step
    return starts


def check_start(
    starts_at: datetime,
    *,
    windows: Iterable[Interval],
    busy: Iterable[Interval],
    block_minutes: int,
    now: datetime,
    booking: Booking = DEFAULT_BOOKING,
) -> datetime:
    """`starts_at` (in UTC) if a block may be booked there at `now`, by the same rules as
    `free_starts`; otherwise `FieldErrors` on "starts_at"/"block_minutes" saying why, or
    `Conflict` ("slot_taken") when the time is right but already taken."""
    problems: dict[str, str] = {}
    if (
        isinstance(block_minutes, bool)
        or not isinstance(block_minutes, int)
        or block_minutes not in BLOCK_MINUTES
    ):
        problems["block_minutes"] = _block_problem()
    _aware(now, "now")
    if starts_at.tzinfo is None or starts_at.utcoffset() is None:
        problems["starts_at"] = "Give the time with its time zone (for example ...Z)."
    if problems:
        raise FieldErrors(problems)
    start = starts_at.astimezone(UTC)
    block = timedelta(minutes=block_minutes)
    if start < now + booking.min_lead:
        problem = f"Visits are booked at least {_duration(booking.min_lead)} ahead."
    elif start > now + booking.booking_window:
        problem = f"Visits are booked at most {_duration(booking.booking_window)} ahead."
    else:
        window = next((w for w in _merged(windows, "windows") if w[0] <= start < w[1]), None)
        if window is None or start + block > window[1]:
            problem = "The whole visit must be inside the facility's visiting hours."
        elif (start - window[0]) % booking.step:
            problem = (
                f"Visits start every {_duration(booking.step)} from the start of visiting "
                "hours; choose one of the free slots."
            )
        elif not _Taken(busy).is_free(start, start + block):
            raise Conflict("That time is no longer free; choose another slot.", code="slot_taken")
        else:
            return start
    raise FieldErrors({"starts_at": problem})


class _Taken:
    """Busy intervals, merged, with a binary search for "is [start, end) free?"."""

    def __init__(self, busy: Iterable[Interval]) -> None:
        self._intervals = _merged(busy, "busy")
        self._ends = [end for _, end in self._intervals]

    def is_free(self, start: datetime, end: datetime) -> bool:
        i = bisect.bisect_right(self._ends, start)  # the first interval ending after start
        return i == len(self._intervals) or self._intervals[i][0] >= end


def _merged(intervals: Iterable[Interval], name: str) -> list[Interval]:
    """In UTC, sorted, with overlapping or touching intervals joined; empty ones dropped."""
    cleaned: list[Interval] = []
    for start, end in intervals:
        _aware(start, name)
        _aware(end, name)
        if start < end:
            cleaned.append((start.astimezone(UTC), end.astimezone(UTC)))
    cleaned.sort()
    merged: list[Interval] = []
    for start, end in cleaned:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name}: datetimes must be timezone-aware")


def _block_problem() -> str:
    return f"A visit is a block of {' or '.join(str(m) for m in BLOCK_MINUTES)} minutes."


def _duration(span: timedelta) -> str:
    """'1 hour', '14 days', '15 minutes', '90 minutes'."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def overlaps(a: Interval, b: Interval) -> bool:
    """Whether two [start, end) intervals share any moment (an empty one shares none)."""
    return max(a[0], b[0]) < min(a[1], b[1])
