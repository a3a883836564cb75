"""The story in a real browser: a family member signs up, activates, finds a person in custody
and asks to connect; the resident approves on the tablet; staff block the contact in the console.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.liveserver import LiveServer
from tests.story import (
    CONTROL_LABELS,
    DANA,
    MARCUS,
    PASSWORD,
    REQUIRE_BROWSER,
    connected_family,
    family_sign_in,
    tablet_sign_in,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator

pytestmark = pytest.mark.browser
# Without Playwright the module is skipped, except in CI (REQUIRE_BROWSER=1), where it fails.
_sync_api: Any = (
    importlib.import_module("playwright.sync_api")
    if REQUIRE_BROWSER
    else pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
)
expect = _sync_api.expect

SIGNUP_FIELDS = {
    "username",
    "password",
    "password_confirm",
    "first_name",
    "last_name",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "date_of_birth",
    "gender",
    "email",
    "email_confirm",
    "accept_terms",
}


def fill_signup(form: Locator, *, username: str, email: str, password_confirm: str) -> None:
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Password again").fill(password_confirm)
    form.get_by_label("First name").fill("Jordan")
    form.get_by_label("Last name").fill("Reed")
    form.get_by_label("Date of birth").fill("1984-07-09")
    form.get_by_label("Gender").select_option("nonbinary")
    form.get_by_label("Street address").fill("12 Elm Street")
    form.get_by_label("City").fill("Albany")
    form.get_by_label("State, region or province").fill("NY")
    form.get_by_label("ZIP or postal code").fill("12207")
    form.get_by_label("E-mail address", exact=True).fill(email)
    form.get_by_label("E-mail address again").fill(email)
    form.get_by_label("I accept the terms of service.").check()


def test_family_signs_up_and_resident_approves_the_request(
    new_context: Callable[[], BrowserContext], live_server: LiveServer
) -> None:
    family = new_context().new_page()
    family.goto("/#/signup")
    form = family.locator("#signup-form")
    expect(family.get_by_role("heading", name="Create an account")).to_be_visible()
    labels = form.evaluate(CONTROL_LABELS)
    assert set(labels) == SIGNUP_FIELDS
    assert [name for name, count in labels.items() if count < 1] == []
    expect(form.get_by_label("Country")).to_have_value("US")

    address = "jordan.reed@example.org"
    fill_signup(form, username="jordan.reed", email=address, password_confirm="something else")
    family.get_by_role("button", name="Create account").click()

    confirm = form.get_by_label("Password again")
    expect(family.locator("#signup-form-password_confirm-error")).to_have_text(
        "The passwords do not match."
    )
    expect(confirm).to_have_attribute("aria-invalid", "true")
    expect(confirm).to_have_attribute(
        "aria-describedby", "su-password-confirm-hint signup-form-password_confirm-error"
    )
    expect(confirm).to_be_focused()
    expect(form.locator(".form-status")).to_have_text("Some fields need attention.")

    confirm.fill(PASSWORD)
    family.get_by_role("button", name="Create account").click()
    activate = family.locator("#activate-form")
    expect(family.get_by_role("heading", name="Activate your account")).to_be_visible()
    expect(activate.get_by_label("E-mail address")).to_have_value(address)

    activate.get_by_label("Activation code").fill(live_server.activation_code(address))
    activate.get_by_role("button", name="Activate").click()
    expect(family.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(family.locator("#page-status")).to_contain_text("Your account is active.")

    family_sign_in(family, "jordan.reed")
    expect(family.locator("#whoami")).to_have_text("Signed in as Jordan Reed")
    expect(family.locator("#live")).to_have_text("Live")  # socket.io accepted the cookie
    expect(family.locator("#contacts-empty")).to_be_visible()

    family.get_by_role("navigation").get_by_role("link", name="Find a person").click()
    search = family.get_by_role("search")
    search.get_by_label("Facility").select_option(str(live_server.facility_id))
    search.get_by_label("Name or resident number").fill("Reed")
    search.get_by_role("button", name="Search").click()
    results = family.locator("#find-results > li")
    expect(results).to_have_count(2)  # Marcus and Tamika Reed
    marcus = results.filter(has_text=MARCUS.name)
    marcus.get_by_label("Your relationship to Marcus").select_option("sibling")
    marcus.get_by_role("button", name="Ask to connect").click()
    expect(marcus.locator(".form-status")).to_contain_text("Request sent.")

    family.get_by_role("navigation").get_by_role("link", name="My contacts").click()
    contact = family.locator("#contacts-list > li").filter(has_text=MARCUS.name)
    expect(contact).to_have_attribute("data-status", "pending")

    tablet = new_context().new_page()
    tablet_sign_in(tablet, live_server, MARCUS)
    request = tablet.locator("#pending-list > li").filter(has_text="Jordan Reed")
    expect(request).to_contain_text("sibling")
    tablet.get_by_role("button", name="Approve Jordan Reed").click()
    expect(tablet.locator("#approved-list > li").filter(has_text="Jordan Reed")).to_be_visible()
    expect(tablet.locator("#pending-empty")).to_be_visible()

    family.locator("#view-contacts").get_by_role("button", name="Refresh").click()
    expect(contact).to_have_attribute("data-status", "approved")
    expect(contact.locator(".badge")).to_have_text("Approved")


def test_staff_block_a_contact_with_a_reason_and_the_family_sees_it(
    new_context: Callable[[], BrowserContext], live_server: LiveServer
) -> None:
    connected_family(live_server, username="casey.lane", resident=DANA)

    console = new_context().new_page()
    console.goto("/console")
    login = console.locator("#login-form")
    login.get_by_label("Username").fill("admin")
    login.get_by_label("Password").fill("demo-admin-pass")
    login.get_by_role("button", name="Sign in").click()
    expect(console.locator("#whoami")).to_have_text("Alex Admin (facility admin)")
    row = console.locator("#contacts-list > li").filter(has_text="Casey Lane")
    expect(row).to_have_attribute("data-status", "approved")

    row.get_by_role("button", name="Block").click()
    dialog = console.get_by_role("dialog", name="Block contact")
    expect(dialog).to_be_visible()
    reason = dialog.get_by_label("Reason")
    expect(reason).to_be_focused()
    reason.fill("no")
    dialog.get_by_role("button", name="Block").click()
    expect(console.locator("#block-form-reason-error")).to_contain_text("at least 3 characters")
    reason.fill("Contraband discussed during the call on 11/20.")
    dialog.get_by_role("button", name="Block").click()
    expect(dialog).to_be_hidden()
    expect(row).to_have_attribute("data-status", "blocked")
    expect(row).to_contain_text("Reason: Contraband discussed during the call on 11/20.")
    expect(row.get_by_role("button", name="Block")).to_have_count(0)

    family = new_context().new_page()
    family_sign_in(family, "casey.lane")
    contact = family.locator("#contacts-list > li").filter(has_text=DANA.name)
    expect(contact).to_have_attribute("data-status", "blocked")
    expect(contact.locator(".badge")).to_have_text("Blocked by the facility")
    expect(contact.get_by_role("button", name="Remove")).to_have_count(0)
