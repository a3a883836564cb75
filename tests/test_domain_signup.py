"""The sign-up form's rules, as pure functions: `today` is passed in, nothing else is read."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.signup import (
    MAX_AGE_YEARS,
    MIN_AGE_YEARS,
    SignupForm,
    check_signup_form,
    email_problem,
    parse_date_of_birth,
    password_problem,
)

TODAY = date(2026, 11, 18)
GOOD = SignupForm(
    username="jane",
    password="correct horse battery",
    password_confirm="correct horse battery",
    first_name="Jane",
    last_name="Reed",
    address_line1="12 Elm Street",
    address_line2="",
    city="Albany",
    state="NY",
    postal_code="12207",
    country="US",
    date_of_birth="1970-04-01",
    gender="female",
    email="jane@example.com",
    email_confirm="jane@example.com",
    accept_terms=True,
)


def problems(**changes: object) -> dict[str, str]:
    return check_signup_form(replace(GOOD, **changes), today=TODAY)  # type: ignore[arg-type]


def test_a_complete_form_has_no_problems() -> None:
    assert check_signup_form(GOOD, today=TODAY) == {}


def test_every_problem_is_reported_at_once() -> None:
    found = problems(username="1x", password_confirm="other", gender="?", accept_terms=False)
    assert set(found) == {"username", "password_confirm", "gender", "accept_terms"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": "ja"}, "username"),
        ({"username": "j" * 33}, "username"),
        ({"username": "9jane"}, "username"),
        ({"username": "jane doe"}, "username"),
        ({"password": "short", "password_confirm": "short"}, "password"),
        ({"password_confirm": "correct horse batterY"}, "password_confirm"),
        ({"first_name": "   "}, "first_name"),
        ({"last_name": ""}, "last_name"),
        ({"first_name": "J" * 101}, "first_name"),
        ({"address_line1": ""}, "address_line1"),
        ({"address_line2": "x" * 201}, "address_line2"),
        ({"city": " "}, "city"),
        ({"state": "XX"}, "state"),
        ({"postal_code": "1220"}, "postal_code"),
        ({"postal_code": "12207-12"}, "postal_code"),
        ({"country": "USA"}, "country"),
        ({"date_of_birth": "01/04/1970"}, "date_of_birth"),
        ({"gender": "unknown"}, "gender"),
        ({"email": "jane@", "email_confirm": "jane@"}, "email"),
        ({"email": "jane doe@example.com", "email_confirm": "jane doe@example.com"}, "email"),
        ({"email_confirm": "jane@example.org"}, "email_confirm"),
        ({"accept_terms": False}, "accept_terms"),
    ],
)
def test_each_bad_field_is_named(changes: dict[str, object], field: str) -> None:
    found = problems(**changes)
    assert set(found) == {field}, found
    assert found[field].endswith(".")


def test_us_state_and_zip_plus_four_are_accepted_in_any_case() -> None:
    assert problems(state="ny", postal_code="12207-1234") == {}


def test_email_confirmation_ignores_case_and_spaces() -> None:
    assert problems(email_confirm=" JANE@example.com ") == {}


# --- e-mail: one plain mailbox, parsed by the standard library ----------------------------


@pytest.mark.parametrize(
    "email",
    [
        "nobody,victim@example.com",
        "jane@example.com,victim@example.com",
        "nobody;victim@example.com",
        "jane@example.com;",
        "<jane@example.com>",
        "jane@example.com>",
        "Jane Reed <jane@example.com>",
        '"Jane Reed" <jane@example.com>',
        '"nobody,victim"@example.com',
        '"jane"@example.com',
        "jane(comment)@example.com",
        "jane@example.com\r\nBcc: victim@example.com",
        "jane@example.com\n",
        "jane\r@example.com",
        " jane@example.com",
        "jane@example.com ",
        "jané@example.com",
        "jane@exämple.com",
        "jane@[192.0.2.1]",
        "jane@localhost",
        "jane..reed@example.com",
        "a@b@example.com",
        "=?utf-8?q?jane?=@example.com",
        "",
    ],
    ids=[
        "comma_in_local_part",
        "two_addresses",
        "semicolon_in_local_part",
        "trailing_semicolon",
        "angle_brackets",
        "closing_angle_bracket",
        "display_name",
        "quoted_display_name",
        "quoted_local_part_with_comma",
        "quoted_local_part",
        "comment",
        "crlf_header_injection",
        "trailing_lf",
        "cr_in_local_part",
        "leading_space",
        "trailing_space",
        "non_ascii_local_part",
        "non_ascii_domain",
        "ip_literal",
        "no_dot_in_domain",
        "double_dot",
        "two_at_signs",
        "encoded_word",
        "empty",
    ],
)
def test_email_that_is_not_one_plain_mailbox_is_refused(email: str) -> None:
    assert email_problem(email) is not None
    assert set(problems(email=email, email_confirm=email)) == {"email"}


@pytest.mark.parametrize(
    "email",
    [
        "jane+homeline@example.com",
        "jane.reed@mail.example.co.uk",
        "o'brien@example.com",
        "Jane@Example.COM",
        "x@example.io",
    ],
    ids=["plus_address", "dots_and_subdomains", "apostrophe", "mixed_case", "one_letter"],
)
def test_plain_email_is_accepted(email: str) -> None:
    assert email_problem(email) is None
    assert problems(email=email, email_confirm=email) == {}


def test_email_local_part_of_64_chars_is_accepted() -> None:
    assert email_problem("j" * 64 + "@example.com") is None


def test_email_local_part_of_65_chars_is_refused() -> None:
    assert email_problem("j" * 65 + "@example.com") is not None


def test_email_of_254_chars_is_accepted() -> None:
    email = "j" * 64 + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 57 + ".com"
    assert len(email) == 254
    assert email_problem(email) is None


def test_email_of_255_chars_is_refused() -> None:
    email = "j" * 64 + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 58 + ".com"
    assert len(email) == 255
    assert email_problem(email) is not None


def test_foreign_address_needs_a_region_but_not_a_zip() -> None:
    assert problems(country="CA", state="Ontario", postal_code="K1A 0B1") == {}
    assert problems(country="GB", state="Kent", postal_code="") == {}
    assert set(problems(country="CA", state=" ", postal_code="K1A 0B1")) == {"state"}
    assert set(problems(country="CA", state="Ontario", postal_code="K1A_0B1")) == {"postal_code"}


def test_password_of_8_to_128_chars_is_accepted() -> None:
    assert password_problem("q" * 7 + "!") is None
    assert password_problem("q" * 128) is None


def test_password_under_8_chars_is_refused() -> None:
    assert password_problem("q" * 7) == "Use at least 8 characters."


def test_password_over_128_chars_is_refused() -> None:
    assert password_problem("q" * 129) == "Use at most 128 characters."


def test_common_password_is_refused_in_any_case() -> None:
    assert password_problem("PassWord123") is not None
    assert "common" in (password_problem("12345678") or "")


def test_password_equal_to_username_or_email_is_refused() -> None:
    assert password_problem("JaneDoe1", username="janedoe1") is not None
    assert password_problem("Jane@Example.com", email="jane@example.com") is not None
    assert password_problem("janedoe1!", username="janedoe1") is None


def test_date_of_birth_must_be_iso() -> None:
    for value in ("1970-4-1", "01/04/1970", "19700401", "", "1970-04-01T00:00", "1970-04-01\n"):
        born, problem = parse_date_of_birth(value, today=TODAY)
        assert born is None and problem == "Enter the date as YYYY-MM-DD.", value


def test_date_of_birth_must_be_a_real_date() -> None:
    assert parse_date_of_birth("1990-02-30", today=TODAY) == (
        None,
        "This is not a real calendar date.",
    )


def test_date_of_birth_in_the_future_is_refused() -> None:
    born, problem = parse_date_of_birth("2026-11-19", today=TODAY)
    assert born is None and problem and "future" in problem


def test_under_18_is_refused_and_18th_birthday_is_accepted() -> None:
    assert parse_date_of_birth("2008-11-18", today=TODAY) == (date(2008, 11, 18), None)
    born, problem = parse_date_of_birth("2008-11-19", today=TODAY)
    assert born is None and problem and "18" in problem


def test_over_130_is_refused() -> None:
    assert parse_date_of_birth("1895-11-19", today=TODAY) == (date(1895, 11, 19), None)
    born, problem = parse_date_of_birth("1895-11-18", today=TODAY)
    assert born is None and problem == "Check the year of birth."


def test_leap_day_birthday_turns_18_on_march_1_in_a_common_year() -> None:
    # Ages compare (month, day): someone born on 29 February has had their birthday once
    # 1 March has come, and not on 28 February.
    assert parse_date_of_birth("2008-02-29", today=date(2026, 2, 28))[0] is None
    assert parse_date_of_birth("2008-02-29", today=date(2026, 3, 1)) == (date(2008, 2, 29), None)


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@st.composite
def adult_birth(draw: st.DrawFn) -> tuple[date, date]:
    today = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
    youngest = years_before(today, MIN_AGE_YEARS)
    oldest = years_before(today, MAX_AGE_YEARS + 1) + timedelta(days=1)
    return today, draw(st.dates(min_value=oldest, max_value=youngest))


@given(adult_birth())
def test_any_age_from_18_to_130_is_accepted(case: tuple[date, date]) -> None:
    today, born = case
    assert parse_date_of_birth(born.isoformat(), today=today) == (born, None)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_the_day_after_the_18th_birthday_limit_is_refused(today: date) -> None:
    too_young = years_before(today, MIN_AGE_YEARS) + timedelta(days=1)
    too_old = years_before(today, MAX_AGE_YEARS + 1)
    assert parse_date_of_birth(too_young.isoformat(), today=today)[0] is None
    assert parse_date_of_birth(too_old.isoformat(), today=today)[0] is None
