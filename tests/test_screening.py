"""Screening is pure: (message, policy, now) -> verdict, with no database and no clock. The
policy document is checked field by field, and its rules are quick to search."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderation.domain.policy import (
    DEFAULT_POLICY,
    DEFAULT_REJECTION_REASONS,
    DEFAULT_VISITING_HOURS,
    MAX_DELAY_MINUTES,
    MAX_PATTERN_CHARS,
    MAX_REJECTION_REASON_CHARS,
    MAX_REJECTION_REASONS,
    MAX_RESTRICTIONS,
    MAX_RULES,
    ContentRule,
    DeliveryMode,
    DeliveryRule,
    Direction,
    Policy,
    Restriction,
    RestrictionKind,
    RuleKind,
    VisitingHours,
)
from moderation.domain.policy_checks import policy_from_json
from moderation.domain.screening import (
    TOO_SLOW,
    Action,
    Screened,
    check_rules_are_quick,
    highlights,
    release_time,
    screen,
)
from server.errors import FieldErrors

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # 10:00 in New York
MARCUS = 7  # a resident's id
INSTANT = {"mode": "instant", "delay_minutes": 0}
FLAGGED = DeliveryRule(mode=DeliveryMode.REVIEW_FLAGGED)
SLOW_REGEX = "(a+)+$"  # exponential backtracking on a run of a's that does not end the text

delivery_rules = st.one_of(
    st.just(DeliveryRule()),
    st.builds(
        DeliveryRule,
        mode=st.just(DeliveryMode.DELAY),
        delay_minutes=st.integers(1, MAX_DELAY_MINUTES),
    ),
    st.just(DeliveryRule(mode=DeliveryMode.REVIEW_ALL)),
    st.just(FLAGGED),
)
words = st.text(alphabet=string.ascii_letters, min_size=1, max_size=12)
content_rules = st.one_of(
    st.builds(ContentRule, kind=st.just(RuleKind.WORD), pattern=words),
    st.builds(
        ContentRule,
        kind=st.just(RuleKind.PHRASE),
        pattern=st.lists(words, min_size=1, max_size=3).map(" ".join),
    ),
    st.builds(
        ContentRule,
        kind=st.just(RuleKind.REGEX),
        pattern=st.sampled_from([r"b.*d", r"\d{3}-\d{4}", r"cash ?app", r"(kill|hurt)\w*"]),
    ),
)
restrictions = st.builds(
    Restriction,
    resident_id=st.integers(1, 9),
    kind=st.sampled_from(RestrictionKind),
    until=st.none() | st.dates(date(2026, 1, 1), date(2027, 12, 31)),
    reason=st.text(alphabet=string.printable, max_size=30),
)
reasons = st.text(alphabet=string.ascii_letters + " ,.'", min_size=1, max_size=60).map(str.strip)
windows = (
    st.lists(st.integers(0, 24 * 60), unique=True, max_size=8)
    .map(sorted)
    .map(lambda p: tuple(zip(p[0::2], p[1::2], strict=False)))
)
policies = st.builds(
    Policy,
    incoming=delivery_rules,
    outgoing=delivery_rules,
    photos=delivery_rules,
    rules=st.lists(
        content_rules, max_size=6, unique_by=lambda r: (r.kind, r.pattern.casefold())
    ).map(tuple),
    restrictions=st.lists(
        restrictions, max_size=6, unique_by=lambda r: (r.resident_id, r.kind)
    ).map(tuple),
    rejection_reasons=st.lists(reasons.filter(bool), max_size=5, unique_by=str.casefold).map(tuple),
    visiting_hours=st.lists(windows, min_size=7, max_size=7).map(
        lambda days: VisitingHours(days=tuple(days))
    ),
    timezone=st.sampled_from([None, "UTC", "America/New_York", "Pacific/Auckland"]),
)
messages = st.builds(
    Screened,
    body=st.text(min_size=1, max_size=200),
    direction=st.sampled_from(Direction),
    privileged=st.booleans(),
    resident_id=st.integers(1, 9),
)


def flagged(*rules: ContentRule, **changes: Any) -> Policy:
    return Policy(incoming=FLAGGED, outgoing=FLAGGED, rules=rules, **changes)


def word(pattern: str) -> ContentRule:
    return ContentRule(RuleKind.WORD, pattern)


def phrase(pattern: str) -> ContentRule:
    return ContentRule(RuleKind.PHRASE, pattern)


def regex_rule(pattern: str) -> ContentRule:
    return ContentRule(RuleKind.REGEX, pattern)


def sent(body: str, *, resident_id: int = MARCUS, privileged: bool = False) -> Screened:
    return Screened(body, Direction.INCOMING, privileged=privileged, resident_id=resident_id)


def restricted(kind: RestrictionKind, until: date | None, **changes: Any) -> Policy:
    changes.setdefault("timezone", "America/New_York")
    return Policy(restrictions=(Restriction(MARCUS, kind, until),), **changes)


# --- delivery modes -----------------------------------------------------------------------


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
def test_privileged_contacts_are_never_held_delayed_or_refused(
    message: Screened, policy: Policy
) -> None:
    privileged = Screened(
        body=message.body,
        direction=message.direction,
        privileged=True,
        resident_id=message.resident_id,
    )
    assert screen(privileged, policy, NOW) == screen(privileged, DEFAULT_POLICY, NOW)
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


def test_photos_follow_the_photos_rule() -> None:
    policy = Policy(photos=DeliveryRule(mode=DeliveryMode.REVIEW_ALL))
    photo = Screened("", Direction.INCOMING, privileged=False, photo=True)
    verdict = screen(photo, policy, NOW)
    assert verdict.action is Action.HOLD and verdict.matched == ("photos: review all",)
    assert screen(Screened("x", Direction.INCOMING, False), policy, NOW).action is Action.DELIVER


def test_a_message_with_photos_follows_the_stricter_of_its_two_rules() -> None:
    review_all = DeliveryRule(mode=DeliveryMode.REVIEW_ALL)
    # The text rule is stricter: a photo message is held by it.
    policy = Policy(incoming=review_all, photos=DeliveryRule(DeliveryMode.DELAY, 10))
    verdict = screen(Screened("", Direction.INCOMING, False, photo=True), policy, NOW)
    assert verdict.action is Action.HOLD and verdict.matched == ("incoming: review all",)
    # Two delays: the longer one.
    policy = Policy(
        incoming=DeliveryRule(DeliveryMode.DELAY, 30), photos=DeliveryRule(DeliveryMode.DELAY, 5)
    )
    verdict = screen(Screened("x", Direction.INCOMING, False, photo=True), policy, NOW)
    assert verdict.deliver_at == NOW + timedelta(minutes=30)
    assert verdict.matched == ("incoming: delay 30 min",)
    assert policy.delay_minutes_for(Direction.INCOMING, photo=True) == 30
    # review_flagged on either side flags a photo message's text by the rules.
    policy = Policy(photos=DeliveryRule(DeliveryMode.REVIEW_FLAGGED), rules=(word("knife"),))
    assert (
        screen(Screened("a knife", Direction.INCOMING, False, photo=True), policy, NOW).action
        is Action.HOLD
    )
    assert (
        screen(Screened("a knife", Direction.INCOMING, False), policy, NOW).action is Action.DELIVER
    )
    assert (
        screen(Screened("a fork", Direction.INCOMING, False, photo=True), policy, NOW).action
        is Action.DELIVER
    )


def test_an_approved_message_waits_only_for_what_is_left_of_its_delay() -> None:
    sent_at = NOW - timedelta(minutes=3)
    assert release_time(10, sent_at, NOW) == sent_at + timedelta(minutes=10)
    assert release_time(2, sent_at, NOW) is None
    assert release_time(0, sent_at, NOW) is None


# --- word, phrase and pattern rules -------------------------------------------------------

# Rules built of q, x and z only can never match text without those letters.
rare = st.text(alphabet="qxzQXZ", min_size=1, max_size=8)
rare_rules = st.lists(
    st.one_of(
        st.builds(word, rare),
        st.builds(phrase, st.lists(rare, min_size=1, max_size=3).map(" ".join)),
        st.builds(regex_rule, st.sampled_from(["q+", "x.*z", "(?:qz|zq)", r"\bqx\w*", "z{2,}"])),
    ),
    max_size=10,
)
plain_bodies = st.text(
    alphabet=st.characters(codec="ascii").filter(lambda c: c.lower() not in "qxz"), min_size=1
)


@given(plain_bodies, rare_rules, st.sampled_from(Direction))
def test_a_rule_set_that_matches_nothing_never_holds_a_message(
    body: str, rules: list[ContentRule], direction: Direction
) -> None:
    verdict = screen(Screened(body, direction, privileged=False), flagged(*rules), NOW)
    assert verdict == screen(Screened(body, direction, privileged=False), Policy(), NOW)
    assert highlights(body, flagged(*rules)) == []


@given(plain_bodies, rare_rules.filter(bool))
def test_review_flagged_holds_a_message_when_any_rule_matches(
    body: str, rules: list[ContentRule]
) -> None:
    first = rules[0]
    trigger = first.pattern if first.kind is not RuleKind.REGEX else "qqzz xz qxq"
    verdict = screen(sent(f"{body} {trigger} {body}"), flagged(*rules), NOW)
    assert verdict.action is Action.HOLD
    assert first.describe() in verdict.matched


def test_review_flagged_lists_every_matching_rule_readably() -> None:
    policy = flagged(word("knife"), phrase("meet me"), regex_rule("b.*d"), word("gun"))
    verdict = screen(sent("Bring the KNIFE bread when you MEET\n me"), policy, NOW)
    assert verdict.action is Action.HOLD
    assert verdict.matched == ('word "knife"', 'phrase "meet me"', "regex /b.*d/")


def test_a_word_rule_matches_whole_words_in_any_case() -> None:
    policy = flagged(word("knife"))
    assert screen(sent("A KNIFE!"), policy, NOW).action is Action.HOLD
    assert screen(sent("knife"), policy, NOW).action is Action.HOLD
    assert screen(sent("(Knife)"), policy, NOW).action is Action.HOLD
    assert screen(sent("my penknife"), policy, NOW).action is Action.DELIVER
    assert screen(sent("knives and knifed"), policy, NOW).action is Action.DELIVER
    dollars = flagged(word("$$"))
    assert screen(sent("send $$ now"), dollars, NOW).action is Action.HOLD
    assert screen(sent("send a$$ now"), dollars, NOW).action is Action.DELIVER


def test_a_phrase_rule_matches_anywhere_in_any_case_across_any_spaces() -> None:
    policy = flagged(phrase("knife"), phrase("meet me"))
    assert screen(sent("my PENKNIFE"), policy, NOW).matched == ('phrase "knife"',)
    assert screen(sent("MEET \t\n ME"), policy, NOW).matched == ('phrase "meet me"',)
    assert screen(sent("meetme"), policy, NOW).action is Action.DELIVER


def test_rules_ignore_case_in_any_script() -> None:
    assert screen(sent("STRASSE"), flagged(word("straße")), NOW).action is Action.HOLD
    assert screen(sent("ΣΊΓΜΑ"), flagged(phrase("σίγμα")), NOW).action is Action.HOLD
    assert screen(sent("CashApp me"), flagged(regex_rule("cash ?app")), NOW).action is Action.HOLD


def test_review_all_also_lists_the_rules_that_match() -> None:
    policy = Policy(incoming=DeliveryRule(mode=DeliveryMode.REVIEW_ALL), rules=(word("knife"),))
    assert screen(sent("a knife"), policy, NOW).matched == ("incoming: review all", 'word "knife"')


def test_rules_do_not_hold_messages_in_other_modes() -> None:
    policy = Policy(rules=(word("knife"),))
    assert screen(sent("a knife"), policy, NOW).action is Action.DELIVER


def test_a_regex_that_runs_out_of_time_holds_the_message_for_review() -> None:
    policy = flagged(regex_rule(SLOW_REGEX), word("hello"), regex_rule("b.*d"))
    verdict = screen(sent("hello " + "a" * 5000 + "!"), policy, NOW)
    assert verdict.action is Action.HOLD
    # The patterns after the slow one are not tried: the message is held whatever they say.
    assert verdict.matched == (f"regex /{SLOW_REGEX}/ (timed out)", 'word "hello"')


def test_a_regex_that_would_take_too_long_is_refused_when_checked() -> None:
    policy = flagged(regex_rule("b.*d"), regex_rule(SLOW_REGEX), word("aaaa"))
    with pytest.raises(FieldErrors) as caught:
        check_rules_are_quick(policy)
    assert caught.value.fields == {"rules.1.pattern": TOO_SLOW}
    assert TOO_SLOW.startswith("This pattern takes too long to check")


@pytest.mark.parametrize(
    "pattern",
    [r"b.*d", r"a.*b.*c", r"(https?://)?\S+\.(com|net)", r"(\w+)\s+\1", r"\d{3}[-. ]?\d{4}"],
)
def test_ordinary_regexes_are_quick_enough(pattern: str) -> None:
    check_rules_are_quick(flagged(regex_rule(pattern)))


@pytest.mark.parametrize("pattern", [SLOW_REGEX, r"(x+x+)+y", r"(\w+\s?)+$", r"^(a|aa)+$"])
def test_backtracking_regexes_are_too_slow(pattern: str) -> None:
    with pytest.raises(FieldErrors):
        check_rules_are_quick(flagged(regex_rule(pattern)))


# --- highlights ---------------------------------------------------------------------------


def test_highlights_mark_each_match_in_code_points() -> None:
    body = "😀 Knife, knife; BREAD"
    spans = highlights(body, flagged(word("knife"), regex_rule("b.*d")))
    assert [h.to_json() for h in spans] == [
        {"start": 2, "end": 7, "rule": 'word "knife"'},
        {"start": 9, "end": 14, "rule": 'word "knife"'},
        {"start": 16, "end": 21, "rule": "regex /b.*d/"},
    ]
    assert [body[h.start : h.end] for h in spans] == ["Knife", "knife", "BREAD"]


@given(st.text(max_size=300), policies)
def test_highlights_lie_within_the_body_in_order(body: str, policy: Policy) -> None:
    spans = highlights(body, policy)
    assert all(0 <= h.start < h.end <= len(body) for h in spans)
    assert spans == sorted(spans, key=lambda h: (h.start, h.end, h.rule))
    described = {r.describe() for r in policy.rules}
    assert {h.rule for h in spans} <= described


# --- restrictions -------------------------------------------------------------------------


def test_no_messaging_refuses_through_its_last_day_in_facility_time() -> None:
    policy = restricted(RestrictionKind.NO_MESSAGING, date(2026, 11, 18))
    verdict = screen(sent("hi"), policy, NOW)
    assert verdict.action is Action.REFUSE
    assert verdict.matched == ("restriction: no messaging (until 2026-11-18)",)
    assert verdict.refusal == (
        "The facility has suspended messaging with this resident through Wednesday, "
        "November 18, 2026."
    )
    eleven_pm_in_new_york = datetime(2026, 11, 19, 4, 59, tzinfo=UTC)
    assert screen(sent("hi"), policy, eleven_pm_in_new_york).action is Action.REFUSE
    next_day = datetime(2026, 11, 19, 5, 0, tzinfo=UTC)
    assert screen(sent("hi"), policy, next_day).action is Action.DELIVER


def test_no_messaging_without_an_end_tells_the_resident_so() -> None:
    policy = restricted(RestrictionKind.NO_MESSAGING, None)
    outgoing = Screened("hi", Direction.OUTGOING, privileged=False, resident_id=MARCUS)
    verdict = screen(outgoing, policy, NOW)
    assert verdict.action is Action.REFUSE
    assert verdict.refusal == "The facility has suspended your messaging until further notice."


@given(st.text(min_size=1, max_size=50), st.sampled_from(Direction))
def test_a_review_all_restriction_holds_everything_to_and_from_that_resident_only(
    body: str, direction: Direction
) -> None:
    policy = restricted(RestrictionKind.REVIEW_ALL, date(2026, 12, 1))
    mine = screen(Screened(body, direction, privileged=False, resident_id=MARCUS), policy, NOW)
    assert mine.action is Action.HOLD
    assert mine.matched == ("restriction: review all (until 2026-12-01)",)
    other = Screened(body, direction, privileged=False, resident_id=MARCUS + 1)
    assert screen(other, policy, NOW).action is Action.DELIVER


def test_restrictions_do_not_apply_to_privileged_contacts() -> None:
    for kind in RestrictionKind:
        policy = restricted(kind, None)
        assert screen(sent("hi", privileged=True), policy, NOW).action is Action.DELIVER


# --- the document -------------------------------------------------------------------------


@given(policies)
def test_a_policy_survives_its_json(policy: Policy) -> None:
    assert policy_from_json(policy.to_json()) == policy


def test_an_old_policy_of_two_directions_loads_with_the_defaults() -> None:
    policy = policy_from_json({"incoming": INSTANT, "outgoing": INSTANT})
    assert policy == DEFAULT_POLICY
    assert policy.rejection_reasons == DEFAULT_REJECTION_REASONS
    assert len(DEFAULT_REJECTION_REASONS) == 5
    assert policy.visiting_hours == DEFAULT_VISITING_HOURS
    assert policy.to_json()["visiting_hours"]["mon"] == [["09:00", "17:00"]]
    assert policy.to_json()["visiting_hours"]["sun"] == []


def test_visiting_hours_are_kept_in_order_and_a_day_left_out_has_none() -> None:
    policy = policy_from_json(
        {
            "incoming": INSTANT,
            "outgoing": INSTANT,
            "visiting_hours": {"sat": [["13:00", "24:00"], ["08:30", "12:00"]]},
        }
    )
    hours = policy.to_json()["visiting_hours"]
    assert hours["sat"] == [["08:30", "12:00"], ["13:00", "24:00"]]
    assert hours["mon"] == []


def test_words_and_phrases_lose_surrounding_spaces_but_regexes_keep_them() -> None:
    policy = policy_from_json(
        {
            "incoming": INSTANT,
            "outgoing": INSTANT,
            "rules": [
                {"kind": "word", "pattern": " knife "},
                {"kind": "regex", "pattern": " b.*d"},
            ],
        }
    )
    assert [r.pattern for r in policy.rules] == ["knife", " b.*d"]


def test_regexes_that_would_be_slow_to_compile_are_refused_before_compiling() -> None:
    deep = "(?:" * 5 + "a" + "){2}" * 5
    product = "(?:(?:(?:(?:a{10}){10}){10}){10})"
    policy = policy_from_json(rules_of(*({"kind": "regex", "pattern": p} for p in (deep, product))))
    assert len(policy.rules) == 2
    with pytest.raises(FieldErrors) as caught:
        policy_from_json(rules_of({"kind": "regex", "pattern": "(?:" + deep + ")"}))
    assert "nest at most 5 deep" in caught.value.fields["rules.0.pattern"]
    with pytest.raises(FieldErrors) as caught:
        policy_from_json(rules_of({"kind": "regex", "pattern": product + "{2}"}))
    assert "more than 10,000" in caught.value.fields["rules.0.pattern"]


def test_the_limits_themselves_are_allowed() -> None:
    policy = policy_from_json(
        {
            "incoming": INSTANT,
            "outgoing": INSTANT,
            "rules": [{"kind": "phrase", "pattern": "p" * MAX_PATTERN_CHARS}]
            + [{"kind": "word", "pattern": f"w{n}"} for n in range(MAX_RULES - 1)],
            "restrictions": [
                {"resident_id": n + 1, "kind": "review_all"} for n in range(MAX_RESTRICTIONS)
            ],
            "rejection_reasons": [
                f"{n:02d}" + "r" * (MAX_REJECTION_REASON_CHARS - 2)
                for n in range(MAX_REJECTION_REASONS)
            ],
        }
    )
    assert len(policy.rules) == MAX_RULES
    assert len(policy.restrictions) == MAX_RESTRICTIONS
    assert len(policy.rejection_reasons) == MAX_REJECTION_REASONS


def doc(**fields: Any) -> dict[str, Any]:
    return {"incoming": INSTANT, "outgoing": INSTANT, **fields}


def rules_of(*rules: dict[str, Any]) -> dict[str, Any]:
    return doc(rules=list(rules))


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
        (doc(photos={"mode": "never"}), "photos.mode"),
        (rules_of({"kind": "emoji", "pattern": "x"}), "rules.0.kind"),
        (rules_of({"kind": "word", "pattern": "  "}), "rules.0.pattern"),
        (rules_of({"kind": "word", "pattern": "x" * (MAX_PATTERN_CHARS + 1)}), "rules.0.pattern"),
        (rules_of({"kind": "word", "pattern": "two words"}), "rules.0.pattern"),
        (rules_of({"kind": "regex", "pattern": "(unclosed"}), "rules.0.pattern"),
        (rules_of({"kind": "regex", "pattern": "a*"}), "rules.0.pattern"),
        (rules_of({"kind": "regex", "pattern": "(?:a{1000}){1000}"}), "rules.0.pattern"),
        (rules_of({"kind": "regex", "pattern": "((((((a))))))"}), "rules.0.pattern"),
        (rules_of({"kind": "phrase", "pattern": "nul\x00"}), "rules.0.pattern"),
        (rules_of({"kind": "word", "pattern": "x", "note": 5}), "rules.0.note"),
        (rules_of({"kind": "word", "pattern": "x", "colour": "red"}), "rules.0.colour"),
        (
            rules_of({"kind": "word", "pattern": "Knife"}, {"kind": "word", "pattern": "knife"}),
            "rules.1.pattern",
        ),
        (doc(rules=[{"kind": "word", "pattern": f"w{n}"} for n in range(MAX_RULES + 1)]), "rules"),
        (doc(rules="knife"), "rules"),
        (
            doc(restrictions=[{"resident_id": 0, "kind": "review_all"}]),
            "restrictions.0.resident_id",
        ),
        (doc(restrictions=[{"resident_id": 3, "kind": "mute"}]), "restrictions.0.kind"),
        (
            doc(restrictions=[{"resident_id": 3, "kind": "review_all", "until": "2026-13-01"}]),
            "restrictions.0.until",
        ),
        (
            doc(restrictions=[{"resident_id": 3, "kind": "review_all", "until": "20261201"}]),
            "restrictions.0.until",
        ),
        (
            doc(restrictions=[{"resident_id": 3, "kind": "review_all"}] * 2),
            "restrictions.1.kind",
        ),
        (
            doc(
                restrictions=[
                    {"resident_id": n + 1, "kind": "review_all"}
                    for n in range(MAX_RESTRICTIONS + 1)
                ]
            ),
            "restrictions",
        ),
        (doc(rejection_reasons=["ok", " "]), "rejection_reasons.1"),
        (doc(rejection_reasons=["x" * (MAX_REJECTION_REASON_CHARS + 1)]), "rejection_reasons.0"),
        (doc(rejection_reasons=["Spam", "spam"]), "rejection_reasons.1"),
        (doc(rejection_reasons=["r"] * (MAX_REJECTION_REASONS + 1)), "rejection_reasons"),
        (doc(visiting_hours={"mon": [["9:00", "17:00"]]}), "visiting_hours.mon.0"),
        (doc(visiting_hours={"mon": [["17:00", "09:00"]]}), "visiting_hours.mon.0"),
        (
            doc(visiting_hours={"tue": [["09:00", "12:00"], ["11:00", "13:00"]]}),
            "visiting_hours.tue.1",
        ),
        (doc(visiting_hours={"someday": []}), "visiting_hours.someday"),
        (doc(timezone="Mars/Olympus_Mons"), "timezone"),
        (doc(timezone=""), "timezone"),
    ],
)
def test_a_bad_policy_names_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(FieldErrors) as caught:
        policy_from_json(document)
    assert field in caught.value.fields, caught.value.fields


def test_the_longest_delay_is_a_week() -> None:
    rule = {"mode": "delay", "delay_minutes": MAX_DELAY_MINUTES}
    policy = policy_from_json({"incoming": rule, "outgoing": {"mode": "instant"}})
    assert policy.incoming.delay_minutes == 7 * 24 * 60
