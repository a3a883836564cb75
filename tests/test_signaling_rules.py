"""Video-visit rules without a server: the `/visits` payloads (SDP, ICE candidates, connection
states) and the block arithmetic (lengths, prices, billed minutes, free slots)."""

from __future__ import annotations

import contextlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.tariff import DEFAULT_TARIFF, Tariff
from server.errors import BadRequest, Conflict, FieldErrors
from signaling.domain.blocks import (
    BOOKING_WINDOW,
    MIN_LEAD,
    SLOT_STEP,
    Booking,
    Interval,
    VisitKind,
    billed_minutes,
    block_price_cents,
    check_block_minutes,
    check_start,
    connected_price_cents,
    free_starts,
    overlaps,
)
from signaling.domain.signals import (
    MAX_CANDIDATE_CHARS,
    MAX_ID,
    MAX_M_LINE_INDEX,
    MAX_SDP_CHARS,
    CandidateSignal,
    ConnectionState,
    DescriptionSignal,
    SdpType,
    check_signal,
    check_state,
)
from tests.story import impure_imports

OFFER = (
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\n"
    "a=ice-ufrag:EsAw\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
)
CANDIDATE = "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0"


def _sdp_of(chars: int) -> str:
    """A well-formed SDP of exactly `chars` characters (CRLF line ends)."""
    head = "v=0\r\ns=-\r\n"
    padding = chars - len(head) - len("a=\r\n")
    assert padding >= 0
    return head + "a=" + "x" * padding + "\r\n"


def _errors(payload: object) -> dict[str, str]:
    with pytest.raises(FieldErrors) as err:
        check_signal(payload)
    assert all(err.value.fields.values())  # every field has a sentence
    return err.value.fields


# --- descriptions ---------------------------------------------------------------------------


def test_an_offer_is_checked_into_a_typed_signal_and_relayed_as_sent() -> None:
    signal = check_signal({"visit_id": 7, "description": {"type": "offer", "sdp": OFFER}})
    assert isinstance(signal, DescriptionSignal)
    assert signal.visit_id == 7
    assert signal.description.type is SdpType.OFFER
    assert signal.description.sdp == OFFER
    assert signal.relay_json() == {"visit_id": 7, "description": {"type": "offer", "sdp": OFFER}}


def test_an_answer_with_lf_line_ends_and_no_final_newline_is_accepted() -> None:
    sdp = OFFER.replace("\r\n", "\n").rstrip("\n")
    signal = check_signal({"visit_id": 1, "description": {"type": "answer", "sdp": sdp}})
    assert isinstance(signal, DescriptionSignal)
    assert signal.description.type is SdpType.ANSWER


def test_unknown_keys_are_not_relayed() -> None:
    signal = check_signal(
        {
            "visit_id": 7,
            "to": "everyone",
            "description": {"type": "offer", "sdp": OFFER, "extra": "<script>"},
        }
    )
    assert signal.relay_json() == {"visit_id": 7, "description": {"type": "offer", "sdp": OFFER}}


def test_sdp_of_65536_chars_is_accepted() -> None:
    sdp = _sdp_of(MAX_SDP_CHARS)
    assert len(sdp) == 65_536
    signal = check_signal({"visit_id": 1, "description": {"type": "offer", "sdp": sdp}})
    assert isinstance(signal, DescriptionSignal)


def test_sdp_of_65537_chars_is_refused() -> None:
    sdp = _sdp_of(MAX_SDP_CHARS + 1)
    fields = _errors({"visit_id": 1, "description": {"type": "offer", "sdp": sdp}})
    assert "65,537" in fields["description.sdp"]


@pytest.mark.parametrize(
    "sdp",
    [
        "",
        "o=- 1 2 IN IP4 127.0.0.1\r\nv=0\r\n",  # not first
        "v=1\r\ns=-\r\n",
        "v=0 \r\n",
        "V=0\r\n",
        "<html>v=0",
        "v=0\r\ns=-\r\n\r\nt=0 0\r\n",  # blank line inside
        "v=0\r\ns=-\r\n\r\n",  # blank line at the end
        "v=0\r\ns=-\x00\r\n",  # NUL
        "v=0\r\ns=-\x1b[31m\r\n",  # escape sequence
        "v=0\r\ns=-\rt=0 0\r\n",  # a lone CR
        "v=0\r\ns=café\r\n",  # not ASCII
        "v=0\r\ns=-\u2028t=0 0\r\n",  # a Unicode line separator
        "v=0\r\nsession\r\n",  # no "x="
        "v=0\r\nS=-\r\n",  # type letters are lowercase
        "v=0\r\n=-\r\n",
    ],
)
def test_text_that_is_not_sdp_is_refused(sdp: str) -> None:
    fields = _errors({"visit_id": 1, "description": {"type": "offer", "sdp": sdp}})
    assert set(fields) == {"description.sdp"}


@pytest.mark.parametrize("kind", ["pranswer", "rollback", "OFFER", "", None, 1])
def test_description_types_other_than_offer_and_answer_are_refused(kind: object) -> None:
    fields = _errors({"visit_id": 1, "description": {"type": kind, "sdp": OFFER}})
    assert set(fields) == {"description.type"}


@pytest.mark.parametrize("description", ["v=0", ["offer", OFFER], 5, True])
def test_a_description_that_is_not_an_object_is_refused(description: object) -> None:
    assert set(_errors({"visit_id": 1, "description": description})) == {"description"}


def test_a_description_with_no_sdp_is_refused() -> None:
    assert set(_errors({"visit_id": 1, "description": {"type": "offer"}})) == {"description.sdp"}


# --- candidates -----------------------------------------------------------------------------


def test_a_candidate_is_checked_into_a_typed_signal() -> None:
    init = {"candidate": CANDIDATE, "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "EsAw"}
    signal = check_signal({"visit_id": 9, "candidate": init})
    assert isinstance(signal, CandidateSignal)
    assert signal.candidate.candidate == CANDIDATE
    assert signal.candidate.sdp_mid == "0"
    assert signal.candidate.sdp_m_line_index == 0
    assert signal.candidate.username_fragment == "EsAw"
    assert not signal.candidate.end_of_candidates
    assert signal.relay_json() == {"visit_id": 9, "candidate": init}


def test_the_end_of_candidates_marker_is_accepted_without_a_media_section() -> None:
    signal = check_signal({"visit_id": 9, "candidate": {"candidate": ""}})
    assert isinstance(signal, CandidateSignal)
    assert signal.candidate.end_of_candidates
    assert signal.relay_json()["candidate"] == {
        "candidate": "",
        "sdpMid": None,
        "sdpMLineIndex": None,
        "usernameFragment": None,
    }


def test_a_candidate_with_only_sdp_m_line_index_is_accepted() -> None:
    signal = check_signal(
        {"visit_id": 9, "candidate": {"candidate": CANDIDATE, "sdpMLineIndex": MAX_M_LINE_INDEX}}
    )
    assert isinstance(signal, CandidateSignal)
    assert signal.candidate.sdp_mid is None


def test_a_candidate_without_a_media_section_is_refused() -> None:
    fields = _errors({"visit_id": 9, "candidate": {"candidate": CANDIDATE}})
    assert set(fields) == {"candidate"}
    assert "sdpMid" in fields["candidate"]


def test_candidate_of_1024_chars_is_accepted_and_1025_refused() -> None:
    def payload(chars: int) -> dict[str, Any]:
        text = CANDIDATE + " x" + "x" * (chars - len(CANDIDATE) - 2)
        assert len(text) == chars
        return {"visit_id": 1, "candidate": {"candidate": text, "sdpMid": "0"}}

    assert isinstance(check_signal(payload(MAX_CANDIDATE_CHARS)), CandidateSignal)
    assert set(_errors(payload(MAX_CANDIDATE_CHARS + 1))) == {"candidate.candidate"}


@pytest.mark.parametrize(
    ("init", "field"),
    [
        ({"candidate": "a=" + CANDIDATE, "sdpMid": "0"}, "candidate.candidate"),
        ({"candidate": "842163049 1 udp", "sdpMid": "0"}, "candidate.candidate"),
        ({"candidate": CANDIDATE + "\r\na=evil", "sdpMid": "0"}, "candidate.candidate"),
        ({"candidate": CANDIDATE + "\x00", "sdpMid": "0"}, "candidate.candidate"),
        ({"candidate": None, "sdpMid": "0"}, "candidate.candidate"),
        ({"sdpMid": "0"}, "candidate.candidate"),
        ({"candidate": 5, "sdpMid": "0"}, "candidate.candidate"),
        ({"candidate": CANDIDATE, "sdpMid": ""}, "candidate.sdpMid"),
        ({"candidate": CANDIDATE, "sdpMid": "a b"}, "candidate.sdpMid"),
        ({"candidate": CANDIDATE, "sdpMid": "x" * 257}, "candidate.sdpMid"),
        ({"candidate": CANDIDATE, "sdpMid": 0}, "candidate.sdpMid"),
        ({"candidate": CANDIDATE, "sdpMLineIndex": -1}, "candidate.sdpMLineIndex"),
        ({"candidate": CANDIDATE, "sdpMLineIndex": 64}, "candidate.sdpMLineIndex"),
        ({"candidate": CANDIDATE, "sdpMLineIndex": True}, "candidate.sdpMLineIndex"),
        ({"candidate": CANDIDATE, "sdpMLineIndex": 0.5}, "candidate.sdpMLineIndex"),
        ({"candidate": CANDIDATE, "sdpMLineIndex": "0"}, "candidate.sdpMLineIndex"),
        (
            {"candidate": CANDIDATE, "sdpMid": "0", "usernameFragment": "abc"},
            "candidate.usernameFragment",
        ),
        (
            {"candidate": CANDIDATE, "sdpMid": "0", "usernameFragment": "a" * 257},
            "candidate.usernameFragment",
        ),
        (
            {"candidate": CANDIDATE, "sdpMid": "0", "usernameFragment": "ab:cd"},
            "candidate.usernameFragment",
        ),
    ],
)
def test_bad_candidates_are_refused_field_by_field(init: dict[str, Any], field: str) -> None:
    assert set(_errors({"visit_id": 1, "candidate": init})) == {field}


def test_ufrags_of_4_and_256_ice_chars_are_accepted() -> None:
    for ufrag in ("a+/9", "Z" * 256):
        init = {"candidate": CANDIDATE, "sdpMid": "0", "usernameFragment": ufrag}
        assert isinstance(check_signal({"visit_id": 1, "candidate": init}), CandidateSignal)


# --- the envelope ---------------------------------------------------------------------------


def test_a_signal_with_both_a_description_and_a_candidate_is_refused() -> None:
    fields = _errors(
        {
            "visit_id": 1,
            "description": {"type": "offer", "sdp": OFFER},
            "candidate": {"candidate": ""},
        }
    )
    assert set(fields) == {"candidate"}


@pytest.mark.parametrize("payload", [{"visit_id": 1}, {"visit_id": 1, "description": None}])
def test_a_signal_with_neither_is_refused(payload: dict[str, Any]) -> None:
    assert set(_errors(payload)) == {"description"}


@pytest.mark.parametrize("visit_id", [0, -1, MAX_ID + 1, True, "7", 7.0, None])
def test_visit_ids_outside_1_to_2_63_minus_1_are_refused(visit_id: object) -> None:
    fields = _errors({"visit_id": visit_id, "candidate": {"candidate": ""}})
    assert set(fields) == {"visit_id"}


def test_every_problem_is_reported_at_once() -> None:
    fields = _errors({"visit_id": 0, "description": {"type": "x", "sdp": "y"}})
    assert set(fields) == {"visit_id", "description.type", "description.sdp"}


@pytest.mark.parametrize("payload", [None, [], "signal", 7])
def test_a_payload_that_is_not_an_object_is_a_bad_request(payload: object) -> None:
    with pytest.raises(BadRequest):
        check_signal(payload)
    with pytest.raises(BadRequest):
        check_state(payload)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@given(
    st.dictionaries(st.sampled_from(["visit_id", "description", "candidate", "type", "sdp"]), _json)
    | _json
)
def test_any_json_is_either_a_signal_or_a_named_error(payload: object) -> None:
    with contextlib.suppress(FieldErrors, BadRequest):
        check_signal(payload)


# --- state ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(ConnectionState))
def test_every_peer_connection_state_is_accepted(state: ConnectionState) -> None:
    report = check_state({"visit_id": 3, "connection": state.value})
    assert report.visit_id == 3
    assert report.connection is state


@pytest.mark.parametrize("connection", ["Connected", "checking", "", None, 1, ["connected"]])
def test_other_connection_states_are_refused(connection: object) -> None:
    with pytest.raises(FieldErrors) as err:
        check_state({"visit_id": 3, "connection": connection})
    assert set(err.value.fields) == {"connection"}


def test_a_state_report_without_a_visit_is_refused() -> None:
    with pytest.raises(FieldErrors) as err:
        check_state({"connection": "connected"})
    assert set(err.value.fields) == {"visit_id"}


# --- block lengths and prices ---------------------------------------------------------------


@pytest.mark.parametrize("minutes", [15, 30])
def test_blocks_of_15_and_30_minutes_are_accepted(minutes: int) -> None:
    assert check_block_minutes(minutes) == minutes


@pytest.mark.parametrize("minutes", [0, 14, 16, 29, 31, 45, 60, -15, True, 15.0, "15", None])
def test_other_block_lengths_are_refused(minutes: object) -> None:
    with pytest.raises(FieldErrors) as err:
        check_block_minutes(minutes)
    assert err.value.fields["block_minutes"] == "A visit is a block of 15 or 30 minutes."


def test_a_remote_block_holds_its_minutes_at_the_tariffs_rate() -> None:
    price = block_price_cents(
        DEFAULT_TARIFF, kind=VisitKind.REMOTE, block_minutes=30, privileged=False
    )
    assert price == 30 * DEFAULT_TARIFF.remote_visit_cents_per_minute == 600
    cheaper = Tariff(remote_visit_cents_per_minute=16)
    assert (
        block_price_cents(cheaper, kind=VisitKind.REMOTE, block_minutes=15, privileged=False) == 240
    )


def test_onsite_visits_are_free_by_default_and_privileged_visits_always() -> None:
    assert (
        block_price_cents(DEFAULT_TARIFF, kind=VisitKind.ONSITE, block_minutes=30, privileged=False)
        == 0
    )
    for kind in VisitKind:
        assert block_price_cents(DEFAULT_TARIFF, kind=kind, block_minutes=30, privileged=True) == 0


@pytest.mark.parametrize(
    ("connected", "minutes"),
    [
        (timedelta(0), 0),
        (timedelta(microseconds=1), 1),
        (timedelta(seconds=59, microseconds=999_999), 1),
        (timedelta(seconds=60), 1),
        (timedelta(seconds=60, microseconds=1), 2),
        (timedelta(minutes=14, seconds=1), 15),
        (timedelta(minutes=15), 15),
        (timedelta(minutes=15, seconds=1), 15),  # never more than the block
        (timedelta(hours=3), 15),
    ],
)
def test_each_started_minute_is_billed_up_to_the_block(connected: timedelta, minutes: int) -> None:
    assert billed_minutes(connected, block_minutes=15) == minutes


def test_negative_connected_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        billed_minutes(timedelta(seconds=-1), block_minutes=15)


@given(
    seconds=st.integers(min_value=0, max_value=10_000),
    block=st.sampled_from([15, 30]),
    rate=st.integers(min_value=0, max_value=500),
    kind=st.sampled_from(list(VisitKind)),
    privileged=st.booleans(),
)
def test_a_visit_never_costs_more_than_its_hold(
    seconds: int, block: int, rate: int, kind: VisitKind, privileged: bool
) -> None:
    tariff = Tariff(remote_visit_cents_per_minute=rate, onsite_visit_cents_per_minute=rate)
    held = block_price_cents(tariff, kind=kind, block_minutes=block, privileged=privileged)
    charged = connected_price_cents(
        tariff,
        kind=kind,
        block_minutes=block,
        privileged=privileged,
        connected=timedelta(seconds=seconds),
    )
    assert 0 <= charged <= held
    minutes = billed_minutes(timedelta(seconds=seconds), block_minutes=block)
    assert charged == (0 if privileged else minutes * rate)
    assert held == (0 if privileged else block * rate)


# --- slots ----------------------------------------------------------------------------------

NOW = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)  # a Wednesday, 08:00 UTC
DAY = datetime(2026, 11, 19, tzinfo=UTC)


def _window(day: datetime, start_hour: float, end_hour: float) -> Interval:
    return day + timedelta(hours=start_hour), day + timedelta(hours=end_hour)


def test_a_free_day_offers_every_quarter_hour_that_fits() -> None:
    starts = free_starts(windows=[_window(DAY, 9, 11)], busy=[], block_minutes=30, now=NOW)
    assert starts[0] == DAY + timedelta(hours=9)
    assert starts[-1] == DAY + timedelta(hours=10, minutes=30)  # ends at 11:00
    assert len(starts) == 7
    assert all(b - a == SLOT_STEP for a, b in itertools.pairwise(starts))


def test_busy_intervals_take_their_overlapping_starts() -> None:
    busy = [(DAY + timedelta(hours=9, minutes=30), DAY + timedelta(hours=10))]
    starts = free_starts(windows=[_window(DAY, 9, 11)], busy=busy, block_minutes=30, now=NOW)
    hours = [(s - DAY) / timedelta(minutes=1) for s in starts]
    # 9:00 ends as the busy one starts; 9:15 and 9:30/9:45 overlap; 10:00 starts as it ends.
    assert hours == [540, 600, 615, 630]


def test_touching_windows_are_one_stretch_of_visiting_hours() -> None:
    starts = free_starts(
        windows=[_window(DAY, 10, 11), _window(DAY, 9, 10)], busy=[], block_minutes=30, now=NOW
    )
    assert DAY + timedelta(hours=9, minutes=45) in starts  # 9:45 to 10:15


def test_a_start_60_minutes_ahead_is_offered_and_59_minutes_is_not() -> None:
    window = [(NOW, NOW + timedelta(hours=3))]
    starts = free_starts(windows=window, busy=[], block_minutes=15, now=NOW)
    assert starts[0] == NOW + MIN_LEAD
    late = NOW + timedelta(minutes=1)
    starts = free_starts(windows=window, busy=[], block_minutes=15, now=late)
    assert starts[0] == NOW + timedelta(minutes=75)  # the next quarter hour of the window
    assert check_start(NOW + MIN_LEAD, windows=window, busy=[], block_minutes=15, now=NOW)
    with pytest.raises(FieldErrors) as err:
        check_start(NOW + MIN_LEAD, windows=window, busy=[], block_minutes=15, now=late)
    assert err.value.fields["starts_at"] == "Visits are booked at least 1 hour ahead."


def test_a_start_14_days_ahead_is_offered_and_a_minute_later_is_not() -> None:
    edge = NOW + BOOKING_WINDOW
    window = [(edge - timedelta(hours=1), edge + timedelta(hours=1))]
    starts = free_starts(windows=window, busy=[], block_minutes=15, now=NOW)
    assert starts[-1] == edge
    assert check_start(edge, windows=window, busy=[], block_minutes=15, now=NOW) == edge
    with pytest.raises(FieldErrors) as err:
        check_start(edge, windows=window, busy=[], block_minutes=15, now=NOW - timedelta(minutes=1))
    assert err.value.fields["starts_at"] == "Visits are booked at most 14 days ahead."


def test_a_start_outside_visiting_hours_or_off_the_grid_is_refused() -> None:
    windows = [_window(DAY, 9, 11)]

    def problem(start: datetime, minutes: int = 30) -> str:
        with pytest.raises(FieldErrors) as err:
            check_start(start, windows=windows, busy=[], block_minutes=minutes, now=NOW)
        return err.value.fields["starts_at"]

    assert "inside the facility's visiting hours" in problem(DAY + timedelta(hours=8))
    assert "inside the facility's visiting hours" in problem(DAY + timedelta(hours=10, minutes=45))
    assert "every 15 minutes" in problem(DAY + timedelta(hours=9, minutes=10))
    assert check_start(
        DAY + timedelta(hours=10, minutes=45), windows=windows, busy=[], block_minutes=15, now=NOW
    )


def test_a_taken_start_is_a_conflict() -> None:
    busy = [(DAY + timedelta(hours=9), DAY + timedelta(hours=9, minutes=15))]
    with pytest.raises(Conflict) as err:
        check_start(
            DAY + timedelta(hours=9),
            windows=[_window(DAY, 9, 11)],
            busy=busy,
            block_minutes=15,
            now=NOW,
        )
    assert err.value.code == "slot_taken"


def test_a_start_in_another_time_zone_is_the_same_moment() -> None:
    from zoneinfo import ZoneInfo

    local = (DAY + timedelta(hours=9)).astimezone(ZoneInfo("America/Chicago"))
    start = check_start(local, windows=[_window(DAY, 9, 11)], busy=[], block_minutes=15, now=NOW)
    assert start == DAY + timedelta(hours=9)
    assert start.tzinfo is UTC


def test_a_naive_start_and_a_bad_block_are_named_fields() -> None:
    with pytest.raises(FieldErrors) as err:
        check_start(datetime(2026, 11, 19, 9), windows=[], busy=[], block_minutes=20, now=NOW)
    assert set(err.value.fields) == {"starts_at", "block_minutes"}


def test_naive_windows_or_now_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        free_starts(windows=[], busy=[], block_minutes=15, now=datetime(2026, 11, 18))
    with pytest.raises(ValueError, match="timezone-aware"):
        free_starts(
            windows=[(datetime(2026, 11, 19, 9), datetime(2026, 11, 19, 10))],
            busy=[],
            block_minutes=15,
            now=NOW,
        )


def test_facility_settings_change_the_lead_window_and_step() -> None:
    booking = Booking(
        min_lead=timedelta(hours=2), booking_window=timedelta(days=1), step=timedelta(minutes=30)
    )
    starts = free_starts(
        windows=[(NOW, NOW + timedelta(days=3))],
        busy=[],
        block_minutes=30,
        now=NOW,
        booking=booking,
    )
    assert starts[0] == NOW + timedelta(hours=2)
    assert starts[-1] == NOW + timedelta(days=1)
    assert all((s - NOW) % timedelta(minutes=30) == timedelta(0) for s in starts)
    with pytest.raises(ValueError):
        Booking(step=timedelta(0))
    with pytest.raises(ValueError):
        Booking(min_lead=timedelta(days=2), booking_window=timedelta(days=1))


_quarter = st.integers(min_value=0, max_value=4 * 24 * 3).map(
    lambda q: NOW + q * timedelta(minutes=5)
)
_intervals = st.lists(
    st.tuples(_quarter, st.integers(min_value=0, max_value=48)).map(
        lambda t: (t[0], t[0] + t[1] * timedelta(minutes=5))
    ),
    max_size=6,
)


@given(
    windows=_intervals,
    busy=_intervals,
    block=st.sampled_from([15, 30]),
    now_offset=st.integers(min_value=-120, max_value=24 * 60),
)
def test_free_starts_are_exactly_the_starts_check_start_accepts(
    windows: list[Interval], busy: list[Interval], block: int, now_offset: int
) -> None:
    now = NOW + timedelta(minutes=now_offset)
    booking = Booking(booking_window=timedelta(days=1))
    starts = free_starts(windows=windows, busy=busy, block_minutes=block, now=now, booking=booking)
    assert starts == sorted(set(starts))
    length = timedelta(minutes=block)
    for start in starts:
        assert now + booking.min_lead <= start <= now + booking.booking_window
        assert not any(overlaps((start, start + length), b) for b in busy)
        for minute in range(0, block, 5):  # every 5 minutes of the block is visiting hours
            moment = start + timedelta(minutes=minute)
            assert any(w[0] <= moment < w[1] for w in windows)
        check_start(
            start, windows=windows, busy=busy, block_minutes=block, now=now, booking=booking
        )
    # Every 5-minute moment of the period that check_start accepts is offered.
    offered = set(starts)
    moment = NOW - timedelta(hours=3)
    while moment <= NOW + timedelta(days=2):
        try:
            check_start(
                moment, windows=windows, busy=busy, block_minutes=block, now=now, booking=booking
            )
        except (FieldErrors, Conflict):
            assert moment not in offered
        else:
            assert moment in offered
        moment += timedelta(minutes=5)


def test_intervals_overlap_only_when_they_share_a_moment() -> None:
    nine, ten, eleven = (DAY + timedelta(hours=h) for h in (9, 10, 11))
    assert overlaps((nine, eleven), (ten, ten + SLOT_STEP))
    assert not overlaps((nine, ten), (ten, eleven))  # one ends as the other starts
    assert not overlaps((nine, eleven), (ten, ten))  # an empty interval holds no moment


# --- purity ---------------------------------------------------------------------------------


def test_signaling_rules_import_no_io() -> None:
    assert impure_imports("signaling") == []
