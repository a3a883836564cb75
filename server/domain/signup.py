"""Rules for a family sign-up form, field by field. Pure: `today` is passed in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import getaddresses
from functools import cache
from importlib import resources

USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{2,31}$")
# An e-mail address is one plain mailbox, name@example.com, parsed by the standard library
# (email_problem). On top of what RFC 5322 allows, the local part must be a dot-atom of ASCII
# (no quoted strings, so no comma, semicolon, space or quote hides in it) and the domain a
# host name with a dot (no IP literals). Deliverability is proved by the activation mail.
EMAIL_LOCAL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$"
)
EMAIL_DOMAIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
EMAIL_MAX = 254
EMAIL_LOCAL_MAX = 64
ZIP_RE = re.compile(r"^\d{5}(?:-\d{4})?$")
FOREIGN_POSTAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{0,18}[A-Za-z0-9]$|^[A-Za-z0-9]$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PASSWORD_MIN = 8
PASSWORD_MAX = 128
MIN_AGE_YEARS = 18
MAX_AGE_YEARS = 130

US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "AS",
        "GU",
        "MP",
        "PR",
        "VI",
        "AA",
        "AE",
        "AP",
    ]
)
GENDERS = ("female", "male", "nonbinary", "other", "prefer_not_to_say")


@cache
def common_passwords() -> frozenset[str]:
    text = (
        resources.files("server.domain")
        .joinpath("data/common_passwords.txt")
        .read_text(encoding="utf-8")
    )
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


@dataclass(frozen=True)
class SignupForm:
    username: str
    password: str
    password_confirm: str
    first_name: str
    last_name: str
    address_line1: str
    address_line2: str
    city: str
    state: str
    postal_code: str
    country: str
    date_of_birth: str
    gender: str
    email: str
    email_confirm: str
    accept_terms: bool


def password_problem(password: str, *, username: str = "", email: str = "") -> str | None:
    """Why a password is unacceptable, or None. Shared by sign-up and reset."""
    if len(password) < PASSWORD_MIN:
        return f"Use at least {PASSWORD_MIN} characters."
    if len(password) > PASSWORD_MAX:
        return f"Use at most {PASSWORD_MAX} characters."
    lowered = password.lower()
    if lowered in common_passwords():
        return "This password is too common; choose one that is harder to guess."
    if username and lowered == username.lower():
        return "The password must not be your username."
    if email and lowered == email.lower():
        return "The password must not be your e-mail address."
    return None


def email_problem(value: str) -> str | None:
    """Why `value` is not one plain e-mail address, or None.

    It must parse, with the standard library's address parser, as exactly one addr-spec and
    nothing else: no display name, angle brackets, comments, lists (`a,b@example.com` would be
    two recipients in a To: header), line breaks or surrounding spaces.
    """
    problem = "Enter one e-mail address, such as name@example.com."
    if len(value) > EMAIL_MAX:
        return problem
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError, HeaderParseError):  # header defects are ValueErrors
        return problem
    if address.addr_spec != value or getaddresses([value]) != [("", value)]:
        return problem
    if len(address.username) > EMAIL_LOCAL_MAX or not EMAIL_LOCAL_RE.fullmatch(address.username):
        return problem
    if not EMAIL_DOMAIN_RE.fullmatch(address.domain):
        return problem
    return None


def parse_date_of_birth(value: str, *, today: date) -> tuple[date | None, str | None]:
    if not DATE_RE.fullmatch(value):
        return None, "Enter the date as YYYY-MM-DD."
    try:
        born = date.fromisoformat(value)
    except ValueError:
        return None, "This is not a real calendar date."
    if born > today:
        return None, "The date of birth cannot be in the future."
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age < MIN_AGE_YEARS:
        return None, f"You must be at least {MIN_AGE_YEARS} years old to open an account."
    if age > MAX_AGE_YEARS:
        return None, "Check the year of birth."
    return born, None


def _required(value: str, label: str, limit: int) -> str | None:
    if not value.strip():
        return f"Enter your {label}."
    if len(value) > limit:
        return f"Use at most {limit} characters."
    return None


def check_signup_form(form: SignupForm, *, today: date) -> dict[str, str]:
    """Every problem with the form, by field name. Empty when the form is acceptable."""
    errors: dict[str, str] = {}

    def put(name: str, problem: str | None) -> None:
        if problem:
            errors[name] = problem

    if not USERNAME_RE.fullmatch(form.username):
        errors["username"] = (
            "Use 3 to 32 characters: letters, digits, '.', '_' or '-', starting with a letter."
        )
    put("password", password_problem(form.password, username=form.username, email=form.email))
    if form.password_confirm != form.password:
        errors["password_confirm"] = "The passwords do not match."
    put("first_name", _required(form.first_name, "first name", 100))
    put("last_name", _required(form.last_name, "last name", 100))
    put("address_line1", _required(form.address_line1, "street address", 200))
    if len(form.address_line2) > 200:
        errors["address_line2"] = "Use at most 200 characters."
    put("city", _required(form.city, "city", 100))

    country = form.country.upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        errors["country"] = "Use a two-letter country code such as US."
    elif country == "US":
        if form.state.upper() not in US_STATES:
            errors["state"] = "Choose a US state or territory (two-letter code such as NY)."
        if not ZIP_RE.fullmatch(form.postal_code):
            errors["postal_code"] = "Enter a ZIP code such as 12345 or 12345-6789."
    else:
        put("state", _required(form.state, "region or province", 100))
        if form.postal_code and not FOREIGN_POSTAL_RE.fullmatch(form.postal_code):
            errors["postal_code"] = "Use letters, digits, spaces or '-' (at most 20)."

    _, dob_problem = parse_date_of_birth(form.date_of_birth, today=today)
    put("date_of_birth", dob_problem)
    if form.gender not in GENDERS:
        errors["gender"] = "Choose one of: " + ", ".join(GENDERS) + "."
    put("email", email_problem(form.email))
    if form.email_confirm.strip().lower() != form.email.strip().lower():
        errors["email_confirm"] = "The e-mail addresses do not match."
    if form.accept_terms is not True:
        errors["accept_terms"] = "You must accept the terms of service to open an account."
    return errors
