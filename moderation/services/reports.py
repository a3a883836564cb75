"""Message reports for a facility's staff: per facility-local day, how many messages were
sent, how many of those were held for review, and the review decisions taken that day with the
median time from sending to decision.

The rules (each a count of messages of the facility):
- `sent`: messages created that day (facility-local calendar day; 23 or 25 hours long when the
  clocks change);
- `held`: of those, the ones the policy held for review: still `pending_review`, or decided by
  a reviewer (`reviewed_at` is set only by a decision, and a decision is taken only on a held
  message). `screening` is not used: a delayed message has screening notes too, but was never
  held;
- `approved` / `rejected`: decisions taken that day (by `reviewed_at`), whatever day the
  message was sent; a rejection counts as rejected even if an appeal later overturned it (the
  message has an appeal, and only rejected messages can be appealed);
- `median_review_seconds`: the median of `reviewed_at - created_at` over that day's decisions,
  in whole seconds; null when there were none.

Messages on privileged contacts (legal counsel, abuse lines) are not counted, nor those sent
while a since-revoked privilege was in force: staff see only that such a contact exists, not
how much it is used.

Two queries whatever the range: one grouped count of the messages sent in it (the day is worked
out in SQL from the day boundaries computed here, so time zones and daylight saving need no
database support), and one list of the decisions taken in it (people decide them one by one,
so there are few; the median needs each one). The rest is `aggregate`, pure.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, false, func, or_, select

from server.domain.messages import MessageStatus
from server.domain.permissions import Action
from server.domain.tariff import local_day_bounds
from server.errors import FieldErrors, Forbidden, NotFound
from server.services.context import Principal, Services
from server.storage.case_models import Appeal, sent_while_privileged
from server.storage.message_models import Message
from server.storage.models import Contact, Facility

MAX_DAYS = 92
DEFAULT_DAYS = 14
NOT_FOUND = "No such facility."
HELD = MessageStatus.PENDING_REVIEW.value
REJECTED = MessageStatus.REJECTED.value


# --- pure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayWindow:
    """One facility-local day as [start, end) in UTC."""

    day: date
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SentCount:
    sent: int
    held: int


@dataclass(frozen=True)
class Decision:
    created_at: datetime
    reviewed_at: datetime
    rejected: bool


@dataclass(frozen=True)
class DayReport:
    day: date
    sent: int
    held: int
    approved: int
    rejected: int
    median_review_seconds: int | None


@dataclass(frozen=True)
class MessageReport:
    facility_id: int
    timezone: str
    first: date
    last: date
    days: list[DayReport]


def check_range(first: date | None, last: date | None, *, today: date) -> tuple[date, date]:
    """The days asked for, first to last inclusive: `last` defaults to today (the facility's),
    `first` to 13 days before `last`. Refuses a reversed range or one over MAX_DAYS days."""
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise FieldErrors(
            {"from": f"Must be on or before the end date, {last.isoformat()}."},
            message="The report's start date is after its end date.",
        )
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise FieldErrors(
            {"to": f"A report covers at most {MAX_DAYS} days; this range has {days}."},
            message=f"A report covers at most {MAX_DAYS} days; ask for a shorter range.",
        )
    return first, last


def facility_today(now_utc: datetime, tz_name: str) -> date:
    return now_utc.astimezone(ZoneInfo(tz_name)).date()


def day_windows(first: date, last: date, tz_name: str) -> list[DayWindow]:
    """Each facility-local day from `first` to `last`, with its bounds in UTC."""
    tz = ZoneInfo(tz_name)
    windows = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        # Local noon always exists, whatever the clocks do at midnight.
        noon = datetime.combine(day, time(12), tzinfo=tz).astimezone(UTC)
        start, end = local_day_bounds(noon, tz_name)
        windows.append(DayWindow(day, start, end))
    return windows


def day_index(windows: Sequence[DayWindow], at: datetime) -> int | None:
    """The position of the window holding `at`, or None outside them all."""
    i = bisect.bisect_right([w.start for w in windows], at) - 1
    return i if 0 <= i < len(windows) and at < windows[i].end else None


def median_seconds(durations: Iterable[timedelta]) -> int | None:
    seconds = [d.total_seconds() for d in durations]
    return round(statistics.median(seconds)) if seconds else None


def aggregate(
    windows: Sequence[DayWindow], *, sent: Mapping[date, SentCount], decisions: Iterable[Decision]
) -> list[DayReport]:
    """One report line per window, in order: the sent/held counts as given, the decisions
    counted on the day they were taken and the median of their review times."""
    decided: list[list[Decision]] = [[] for _ in windows]
    for d in decisions:
        i = day_index(windows, d.reviewed_at)
        if i is not None:
            decided[i].append(d)
    lines = []
    for w, those in zip(windows, decided, strict=True):
        counted = sent.get(w.day, SentCount(0, 0))
        rejected = sum(1 for d in those if d.rejected)
        lines.append(
            DayReport(
                day=w.day,
                sent=counted.sent,
                held=counted.held,
                approved=len(those) - rejected,
                rejected=rejected,
                median_review_seconds=median_seconds(d.reviewed_at - d.created_at for d in those),
            )
        )
    return lines


# --- the service --------------------------------------------------------------------------


async def access_message_report(
    svc: Services,
    actor: Principal,
    *,
    facility_id: int,
    first: date | None = None,
    last: date | None = None,
) -> MessageReport:
    """The report for staff of the facility (reviewers, admins) and support; anyone else, or a
    facility that does not exist, is not found."""
    if not actor.may_staff(facility_id):
        raise NotFound(NOT_FOUND)
    if not actor.may(Action.REPORT_READ):
        raise Forbidden("Only the facility's staff read its reports.")
    async with svc.db.read() as tx:
        facility = await tx.get(Facility, facility_id)
        if facility is None:
            raise NotFound(NOT_FOUND)
        tz_name = facility.timezone
        first, last = check_range(first, last, today=facility_today(svc.clock.now(), tz_name))
        windows = day_windows(first, last, tz_name)
        start, end = windows[0].start, windows[-1].end
        visible = and_(
            Message.facility_id == facility_id,
            Contact.privileged == false(),
            ~sent_while_privileged(),
        )

        # The day of each message, from the boundaries: a CASE portable to every database.
        day = case(
            *((Message.created_at < w.end, i) for i, w in enumerate(windows)), else_=None
        ).label("day")
        was_held = case(
            (or_(Message.status == HELD, Message.reviewed_at.is_not(None)), 1), else_=0
        ).label("held")
        created = (
            select(day, was_held)
            .select_from(Message)
            .join(Contact, Contact.id == Message.contact_id)
            .where(visible, Message.created_at >= start, Message.created_at < end)
            .subquery()
        )
        counted = await tx.execute(
            select(created.c.day, func.count(), func.sum(created.c.held)).group_by(created.c.day)
        )
        sent = {
            windows[i].day: SentCount(int(n), int(held or 0))
            for i, n, held in counted.all()
            if i is not None
        }

        rejected = or_(
            Message.status == REJECTED,
            Message.rejection_reason.is_not(None),
            Message.id.in_(select(Appeal.message_id).where(Appeal.facility_id == facility_id)),
        )
        rows = await tx.execute(
            select(Message.created_at, Message.reviewed_at, case((rejected, 1), else_=0))
            .select_from(Message)
            .join(Contact, Contact.id == Message.contact_id)
            .where(visible, Message.reviewed_at >= start, Message.reviewed_at < end)
        )
        decisions = [
            Decision(created_at=c, reviewed_at=r, rejected=bool(x))
            for c, r, x in rows.all()
            if r is not None
        ]
    return MessageReport(
        facility_id=facility_id,
        timezone=tz_name,
        first=first,
        last=last,
        days=aggregate(windows, sent=sent, decisions=decisions),
    )
