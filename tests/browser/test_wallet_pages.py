"""Money in a real browser: a family member adds $20.00 seeing the $1.50 fee before confirming,
sees the balance and the statement line; support staff find the family in the console and
credit $3.00 with a reason, and the family's wallet then shows $23.00. Above the facility's
limit a credit waits in the console for a second staff member.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.liveserver import LiveServer
from tests.story import (
    CONTROL_LABELS,
    MARCUS,
    REQUIRE_BROWSER,
    connected_family,
    console_sign_in,
    family_sign_in,
    shot,
    tablet_sign_in,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.browser
_sync_api: Any = (
    importlib.import_module("playwright.sync_api")
    if REQUIRE_BROWSER
    else pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
)
expect = _sync_api.expect


def open_family_in_console(page: Page, username: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Customer care").click()
    expect(page.get_by_role("heading", name="Customer care")).to_be_focused()
    search = page.get_by_role("search", name="Find a family account")
    search.get_by_label("Username, e-mail, name or account number").fill(username)
    search.get_by_role("button", name="Search").click()
    expect(search.locator(".form-status")).to_have_text("1 account found.")
    page.get_by_role("button", name="Open Casey Lane's account").click()
    expect(page.locator("#account-heading")).to_be_focused()


def test_family_adds_money_and_support_credits_it(
    new_context: Callable[[], BrowserContext], live_server: LiveServer
) -> None:
    connected_family(live_server, username="wallet.family", resident=MARCUS)

    family = new_context().new_page()
    family_sign_in(family, "wallet.family")
    family.get_by_role("navigation").get_by_role("link", name="Wallet").click()
    expect(family.get_by_role("heading", name="Wallet", exact=True)).to_be_focused()
    expect(family.locator("#wallet-available")).to_have_text("$0.00")
    expect(family.locator("#wallet-held")).to_have_text("$0.00")
    expect(family.locator("#statement-empty")).to_be_visible()

    form = family.locator("#deposit-form")
    labels = form.evaluate(CONTROL_LABELS)
    assert labels == {"amount": 1, "payment_token": 1}
    form.get_by_label("Amount in dollars").fill("4.99")
    form.get_by_label("Card").select_option(label="Test card that is approved")
    form.get_by_role("button", name="Review the deposit").click()
    amount = form.get_by_label("Amount in dollars")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_be_focused()
    expect(form.locator(".field-error")).to_contain_text("5.00")

    amount.fill("20.00")
    amount.press("Enter")  # the keyboard works as well as the mouse
    review = family.get_by_role("group", name="Check, then pay")
    expect(review).to_be_visible()
    expect(family.locator("#review-heading")).to_be_focused()
    expect(review.locator("#review-amount")).to_have_text("$20.00")
    expect(review.locator("#review-fee")).to_have_text("$1.50")
    expect(review.locator("#review-total")).to_have_text("$21.50")
    expect(family.locator("#wallet-available")).to_have_text("$0.00")  # nothing paid yet
    shot(family, "wallet-review")

    review.get_by_role("button", name="Confirm and pay $21.50").click()
    receipt = family.get_by_role("group", name="Receipt")
    expect(receipt).to_be_visible()
    expect(receipt.locator("#receipt-total")).to_have_text("$21.50")
    expect(family.locator("#wallet-status")).to_have_text("$20.00 added to your wallet.")
    expect(family.locator("#wallet-available")).to_have_text("$20.00")
    rows = family.locator("#statement-rows > tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Deposit")
    expect(rows.first.locator("td").nth(2)).to_have_text("$20.00")
    shot(family, "wallet-receipt")

    csv_link = family.get_by_role("link", name="Download CSV")
    expect(csv_link).to_have_attribute("href", "/api/v1/wallet/statement?format=csv")
    csv = family.request.get(csv_link.get_attribute("href") or "")
    assert csv.ok and csv.text().splitlines()[0].startswith("date,")

    console = new_context().new_page()
    console_sign_in(console, "support", "demo-support-pass")
    open_family_in_console(console, "wallet.family")
    expect(console.locator("#account-available")).to_have_text("$20.00")
    issue = console.locator("#issue-form")
    issue.get_by_label("What").select_option("credit")
    issue.get_by_label("Amount in dollars").fill("3.00")
    issue.get_by_label("Reason").fill("Goodwill: the 11/20 visit dropped twice.")
    issue.get_by_role("button", name="Issue").click()
    expect(issue.locator(".form-status")).to_have_text("Done: $3.00 credit for Casey Lane.")
    expect(console.locator("#account-available")).to_have_text("$23.00")
    expect(console.locator("#care-statement-rows > tr").first).to_contain_text("Goodwill")
    shot(console, "console-care")

    family.get_by_role("button", name="Refresh").click()
    expect(family.locator("#wallet-available")).to_have_text("$23.00")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Credit")
    expect(rows.first.locator("td").nth(2)).to_have_text("$3.00")

    tablet_page = new_context().new_page()
    tablet_sign_in(tablet_page, live_server, MARCUS)
    expect(tablet_page.get_by_role("heading", name="My money")).to_be_visible()
    expect(tablet_page.locator("#money-wallet")).to_have_text("$0.00")
    shot(tablet_page, "tablet-money")


def test_a_credit_above_the_limit_waits_for_a_second_staff_member(
    new_context: Callable[[], BrowserContext], live_server: LiveServer
) -> None:
    connected_family(live_server, username="care.family", resident=MARCUS)

    admin = new_context().new_page()
    console_sign_in(admin, "admin", "demo-admin-pass")
    open_family_in_console(admin, "care.family")
    issue = admin.locator("#issue-form")
    issue.get_by_label("Amount in dollars").fill("30.00")
    issue.get_by_label("Reason").fill("Three visits lost to the outage.")
    issue.get_by_role("button", name="Issue").click()
    expect(issue.locator(".form-status")).to_contain_text("Pending approval")
    expect(admin.locator("#account-available")).to_have_text("$0.00")
    mine = admin.locator("#care-queue > li").filter(has_text="Casey Lane")
    expect(mine).to_contain_text("Your request")
    expect(mine.get_by_role("button", name="Approve")).to_have_count(0)

    support = new_context().new_page()
    console_sign_in(support, "support", "demo-support-pass")
    support.get_by_role("navigation").get_by_role("link", name="Customer care").click()
    waiting = support.locator("#care-queue > li").filter(has_text="Casey Lane")
    expect(waiting).to_contain_text("Credit of $30.00")
    expect(waiting).to_contain_text("Three visits lost to the outage.")
    shot(support, "console-queue")
    waiting.get_by_role("button", name="Approve: Credit of $30.00 for Casey Lane").click()
    yes = waiting.get_by_role("button", name="Yes, approve")
    expect(yes).to_be_focused()
    yes.click()
    expect(support.locator("#queue-status")).to_contain_text("Approved")
    expect(support.locator("#care-queue-empty")).to_be_visible()

    family = new_context().new_page()
    family_sign_in(family, "care.family")
    family.goto("/#/wallet")
    expect(family.locator("#wallet-available")).to_have_text("$30.00")


def test_a_deposit_retried_after_a_processor_timeout_is_paid_once(
    new_context: Callable[[], BrowserContext], live_server: LiveServer
) -> None:
    connected_family(live_server, username="retry.family", resident=MARCUS)
    family = new_context().new_page()
    family_sign_in(family, "retry.family")
    family.goto("/#/wallet")
    form = family.locator("#deposit-form")
    form.get_by_label("Amount in dollars").fill("$5")
    form.get_by_label("Card").select_option(label="Test card: processor charges, then times out")
    form.get_by_role("button", name="Review the deposit").click()
    review = family.get_by_role("group", name="Check, then pay")
    expect(review.locator("#review-total")).to_have_text("$6.50")

    review.get_by_role("button", name="Confirm and pay $6.50").click()
    expect(family.locator("#review-status")).to_contain_text("you will not be charged twice")
    expect(family.locator("#wallet-available")).to_have_text("$0.00")
    shot(family, "wallet-timeout")

    review.get_by_role("button", name="Confirm and pay $6.50").click()  # the same client_id
    expect(family.get_by_role("group", name="Receipt")).to_be_visible()
    expect(family.locator("#wallet-available")).to_have_text("$5.00")
    expect(family.locator("#statement-rows > tr")).to_have_count(1)
