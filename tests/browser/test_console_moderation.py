"""The moderation console in real browsers, as the issue tells it. The facility admin holds
every family message for review on the policy page (which first puts the server's refusal of
a 20,000-minute delay next to its field) and adds a word rule; a reviewer keeps the review
queue open; a family sends a message on the family page and it arrives in the queue live,
announced, its rule's word marked; the reviewer reads the conversation and rejects the message
with one of the facility's reasons, and the family page shows the reason and the refund.

Then: a reviewer approves with the keyboard alone and is told when another reviewer decided
first; reports and the audit log (searched, and downloaded as CSV) show what happened; the
admin overturns an appeal, marks a contact privileged, and blocks and unblocks a family account.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from tests.liveserver import LiveServer, request
from tests.story import (
    CONTROL_LABELS,
    DANA,
    MARCUS,
    REQUIRE_BROWSER,
    Scene,
    approved_family,
    console_sign_in,
    family_sign_in,
    live_deposit,
    message,
    shot,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

pytestmark = pytest.mark.browser
_sync_api: Any = (
    importlib.import_module("playwright.sync_api")
    if REQUIRE_BROWSER
    else pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
)
expect = _sync_api.expect

HELD = "Meet me by the east gate at noon on Sunday."
REASON = "Plans or discusses illegal activity"
OWN_WORDS = "Meeting places are not allowed."
FIRST = "Happy birthday, Dana! 🎂"
SECOND = "Did the parcel arrive?"
APPEALED = "The gate is where the visitor bus stops, honest."
REVIEW = re.compile(r"^Review( \(\d+\))?$")  # with the queue's count when there is one
ADMIN_NAV = [REVIEW, "Contacts", "Customer care", "Policy", "Appeals", "Blocks", "Audit"]
REVIEWER_NAV = [REVIEW, "Contacts", "Policy", "Reports", "Tariff"]


@pytest.fixture(scope="module")
def scene(live_server: LiveServer) -> Scene:
    """A family approved by Dana with $5.00 in the wallet, at a facility where no message is
    free (the Saturday rule would make the price, and so the refund, depend on the day)."""
    found = approved_family(live_server, "moderated.family", DANA)
    live_deposit(live_server, found, 500)
    path = f"/api/v1/staff/facilities/{live_server.facility_id}/tariff"
    tariff = live_server.api("GET", path, token=found.admin_token)["tariff"]
    tariff["free_saturday_messages"] = 0
    live_server.api("PUT", path, {**tariff, "reason": "Browser test"}, token=found.admin_token)
    return found


def staff_token(live_server: LiveServer, username: str, password: str) -> str:
    token: str = live_server.api(
        "POST",
        "/api/v1/staff/sessions",
        {"username": username, "password": password, "session": "bearer"},
    )["token"]
    return token


def review_everything(live_server: LiveServer, scene: Scene) -> None:
    live_server.api(
        "PUT",
        f"/api/v1/staff/facilities/{live_server.facility_id}/policy",
        {
            "incoming": {"mode": "review_all", "delay_minutes": 0},
            "outgoing": {"mode": "instant", "delay_minutes": 0},
            "reason": "Browser test: hold every family message",
        },
        token=scene.admin_token,
    )


def send(live_server: LiveServer, scene: Scene, body: str) -> int:
    sent = live_server.api(
        "POST",
        "/api/v1/messages",
        {"contact_id": scene.contact_id, "body": body, "client_id": f"moderation-{len(body)}"},
        token=scene.family_token,
    )
    return int(sent["id"])


def queued(page: Page, text: str) -> Locator:
    return page.locator("#review-list > li").filter(has_text=text)


def nav_links(page: Page) -> Locator:
    return page.get_by_role("navigation").get_by_role("link")


def test_admin_holds_messages_and_a_reviewer_rejects_one_live(
    new_context: Callable[[], BrowserContext], live_server: LiveServer, scene: Scene
) -> None:
    admin = new_context().new_page()
    console_sign_in(admin, "admin", "demo-admin-pass")
    expect(nav_links(admin)).to_have_text([*ADMIN_NAV, "Reports", "Tariff"])
    nav_links(admin).filter(has_text="Policy").click()
    expect(admin.get_by_role("heading", name="Message policy")).to_be_focused()
    form = admin.locator("#policy-form")
    expect(admin.locator("#policy-meta")).to_contain_text("The default policy")
    expect(form.get_by_label("Rejection reason 2", exact=True)).to_have_value(REASON)
    expect(form.get_by_label("Monday")).to_have_value("09:00-17:00")
    expect(form.get_by_label("The facility's time zone")).to_have_value("America/New_York")
    assert set(form.evaluate(CONTROL_LABELS).values()) == {1}  # every control has its label
    expect(admin.get_by_role("link", name="tariff page")).to_have_attribute("href", "#/tariff")

    # The server refuses a delay of 20,000 minutes: its sentence goes next to the field.
    incoming = form.get_by_role("group", name="Family to resident")
    incoming.get_by_label("Delivery").select_option("delay")
    delay = incoming.get_by_label("Delay in minutes")
    expect(delay).to_be_focused()
    delay.fill("20000")
    save = form.get_by_role("button", name="Save the policy")
    save.click()
    expect(delay).to_have_attribute("aria-invalid", "true")
    expect(delay).to_be_focused()
    expect(delay).to_have_accessible_description(re.compile("between 1 and 10,080 minutes"))
    expect(admin.locator("#policy-history-empty")).to_be_visible()  # nothing saved

    incoming.get_by_label("Delivery").select_option("review_all")
    expect(delay).to_be_hidden()
    form.get_by_role("button", name="Add a rule").click()
    expect(form.get_by_label("Rule 1: kind")).to_be_focused()
    form.get_by_label("Rule 1: word, phrase or pattern").fill("gate")
    form.get_by_label("Rule 1: note").fill("Meeting points")
    form.get_by_role("button", name="Add a reason").click()
    expect(form.get_by_label("Rejection reason 6", exact=True)).to_be_focused()
    form.get_by_role("button", name="Remove rejection reason 6").click()
    expect(form.get_by_label("Rejection reason 6", exact=True)).to_have_count(0)
    expect(form.get_by_role("button", name="Add a reason")).to_be_focused()
    finder = form.get_by_role("search", name="Find a resident to restrict")
    finder.get_by_label("Find a resident by name or number").fill("Ortega")
    finder.get_by_role("button", name="Search").click()
    finder.get_by_role("button", name="Restrict Luis Ortega (#A1003)").click()
    restriction = form.get_by_label("Luis Ortega · #A1003: restriction")
    expect(restriction).to_be_focused()
    restriction.select_option("no_messaging")
    form.get_by_label("Luis Ortega · #A1003: until (optional)").fill("2099-12-31")
    form.get_by_label("Luis Ortega · #A1003: reason").fill("Court order")
    form.get_by_label("Reason for the change").fill("Hold family messages this week.")
    save.click()
    expect(form.locator(":scope > .form-status")).to_have_text(
        "Saved: version 1. It applies to the next message sent."
    )
    history = admin.locator("#policy-history > li")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("Version 1")
    expect(history.first).to_contain_text("by you")
    expect(history.first).to_contain_text("Family to resident: review all")
    expect(history.first).to_contain_text("1 rule · 1 restriction")
    expect(form.locator("#policy-restrictions tbody th")).to_have_text(["Luis Ortega · #A1003"])
    expect(history.first).to_contain_text("Reason: Hold family messages this week.")
    shot(admin, "console-policy")

    reviewer = new_context().new_page()
    console_sign_in(reviewer, "reviewer", "demo-reviewer-pass")
    expect(reviewer.get_by_role("heading", name="Review queue")).to_be_visible()
    expect(nav_links(reviewer)).to_have_text(REVIEWER_NAV)
    expect(reviewer.locator("#review-empty")).to_be_visible()
    expect(reviewer.locator("#review-live-note")).to_have_text(
        "Live: held messages appear here as they arrive."
    )

    family = new_context().new_page()
    family_sign_in(family, scene.family_username)
    family.goto(f"/#/messages/{scene.contact_id}")
    conv = family.locator("#conv-form")
    conv.get_by_label(f"Your message to {DANA.name}").fill(HELD)
    conv.get_by_role("button", name="Send").click()
    expect(conv.locator("#conv-form-status")).to_have_text(
        f"Sent. Staff review it before {DANA.name} sees it."
    )

    # Live, without a reload: the item, its announcement, why it was held, the word marked.
    item = queued(reviewer, HELD)
    expect(item).to_have_count(1)
    expect(reviewer.locator("#review-announce")).to_have_text(
        f"New message held for review: from Casey Lane to {DANA.name}."
    )
    expect(item.get_by_role("heading")).to_have_text(f"Casey Lane → {DANA.name}")
    expect(item.locator(".matched")).to_contain_text("incoming: review all")
    expect(item.locator(".matched")).to_contain_text('word "gate"')
    expect(item.locator("mark")).to_have_text(["gate"])
    expect(item.locator(".review-body")).to_have_text(HELD)
    expect(nav_links(reviewer).first).to_have_text("Review (1)")

    show = item.get_by_role("button", name="Show the conversation")
    show.click()
    expect(item.get_by_role("button", name="Hide the conversation")).to_have_attribute(
        "aria-expanded", "true"
    )
    expect(item.locator(".context-list > li").last).to_contain_text("(this message)")
    shot(reviewer, "console-review")

    item.get_by_role("button", name="Reject").click()
    dialog = reviewer.get_by_role("dialog", name="Reject message")
    choice = dialog.get_by_label("Reason")
    expect(choice).to_be_focused()
    choice.select_option(label=REASON)
    dialog.get_by_label("In your own words").fill(OWN_WORDS)
    shot(reviewer, "console-review-reject")
    dialog.get_by_role("button", name="Reject and refund").click()
    expect(dialog).to_be_hidden()
    expect(item).to_have_count(0)
    expect(reviewer.locator("#review-status")).to_have_text(
        f"Rejected the message from Casey Lane to {DANA.name}. The sender sees: "
        f"“{REASON}: {OWN_WORDS}”. $0.50 refunded."
    )
    expect(reviewer.locator("#review-empty")).to_be_visible()
    expect(reviewer.get_by_role("heading", name="Review queue")).to_be_focused()

    sent = message(family, HELD)
    expect(sent.locator(".badge")).to_have_text("Rejected by staff")
    expect(sent.locator(".msg-reason")).to_have_text(f"Reason: {REASON}: {OWN_WORDS}")
    expect(sent.locator(".msg-refund")).to_have_text("50¢ refunded to you")


def test_keyboard_approval_and_another_reviewer_deciding_first(
    new_context: Callable[[], BrowserContext], live_server: LiveServer, scene: Scene
) -> None:
    review_everything(live_server, scene)
    reviewer = new_context().new_page()
    console_sign_in(reviewer, "reviewer", "demo-reviewer-pass")
    expect(reviewer.locator("#review-live-note")).to_contain_text("Live")
    first_id = send(live_server, scene, FIRST)
    send(live_server, scene, SECOND)
    first, second = queued(reviewer, FIRST), queued(reviewer, SECOND)
    expect(second).to_have_count(1)
    expect(reviewer.locator("#review-list > li")).to_have_count(2)  # oldest first
    expect(reviewer.locator("#review-list > li").first).to_contain_text(FIRST)

    # Keyboard only: from the heading, Tab to the first item's Approve and press Enter.
    reviewer.get_by_role("heading", name="Review queue").focus()
    approve = first.get_by_role("button", name="Approve")
    for _ in range(5):
        reviewer.keyboard.press("Tab")
        if approve.evaluate("b => b === document.activeElement"):
            break
    expect(approve).to_be_focused()
    reviewer.keyboard.press("Enter")
    expect(first).to_have_count(0)
    expect(reviewer.locator("#review-status")).to_have_text(
        f"Approved the message from Casey Lane to {DANA.name}: it is delivered."
    )
    expect(second.get_by_role("button", name="Approve")).to_be_focused()  # focus moves on
    delivered = live_server.api(
        "GET", f"/api/v1/messages?contact_id={scene.contact_id}", token=scene.family_token
    )["messages"]
    assert next(m for m in delivered if m["id"] == first_id)["status"] == "delivered"

    # Another reviewer decides while the reject dialog is open: the page says who, and how.
    reviewer.keyboard.press("Tab")
    reviewer.keyboard.press("Enter")
    dialog = reviewer.get_by_role("dialog", name="Reject message")
    expect(dialog).to_be_visible()
    admin = staff_token(live_server, "admin", "demo-admin-pass")
    second_id = int(second.get_attribute("data-message-id") or 0)
    live_server.api("POST", f"/api/v1/staff/review/{second_id}/approve", token=admin)
    expect(dialog).to_be_hidden()
    expect(reviewer.locator("#review-status")).to_have_text(
        f"Alex Admin already approved the message from Casey Lane to {DANA.name}; "
        "your rejection was not sent."
    )
    expect(second).to_have_count(0)
    expect(reviewer.locator("#review-announce")).to_have_text(
        f"Alex Admin approved the message from Casey Lane to {DANA.name}."
    )

    # Read only for a reviewer: the contacts and the policy.
    nav_links(reviewer).filter(has_text="Contacts").click()
    expect(reviewer.locator("#contacts-list > li")).not_to_have_count(0)
    expect(reviewer.locator("#contacts-list").get_by_role("button")).to_have_count(0)
    nav_links(reviewer).filter(has_text="Policy").click()
    expect(reviewer.locator("#policy-readonly")).to_be_visible()
    expect(reviewer.locator("#policy-form").get_by_role("button")).to_have_count(0)

    # Reports: today (in the facility's zone) has the messages, in the table and the chart.
    nav_links(reviewer).filter(has_text="Reports").click()
    expect(reviewer.get_by_role("heading", name="Message reports")).to_be_focused()
    today = datetime.now(ZoneInfo("America/New_York")).date().isoformat()
    row = reviewer.locator(f'#reports-rows > tr[data-date="{today}"]')
    cells = row.locator("td")
    expect(cells).to_have_count(5)
    expect(cells.nth(0)).to_have_text(re.compile(r"^[1-9]"))  # sent
    expect(cells.nth(1)).to_have_text(re.compile(r"^[1-9]"))  # held
    expect(cells.nth(2)).to_have_text(re.compile(r"^[1-9]"))  # approved
    expect(cells.nth(4)).to_have_text(re.compile(r"\d+ (s|min|h)"))  # median time in review
    chart = reviewer.get_by_role("img", name=re.compile("Bar chart of messages by day"))
    expect(chart).to_be_visible()
    expect(chart.locator("rect")).not_to_have_count(0)
    shot(reviewer, "console-reports")


def test_admin_audit_appeal_privilege_and_family_block(
    new_context: Callable[[], BrowserContext], live_server: LiveServer, scene: Scene
) -> None:
    review_everything(live_server, scene)
    reviewer = staff_token(live_server, "reviewer", "demo-reviewer-pass")
    rejected = send(live_server, scene, APPEALED)
    live_server.api(
        "POST",
        f"/api/v1/staff/review/{rejected}/reject",
        {"reason": "Uses coded language or tries to hide its meaning"},
        token=reviewer,
    )
    counsel = approved_family(live_server, "counsel.office", MARCUS)

    admin = new_context().new_page()
    console_sign_in(admin, "admin", "demo-admin-pass")

    # The audit log: search, the table, and the same search as CSV.
    nav_links(admin).filter(has_text="Audit").click()
    expect(admin.get_by_role("heading", name="Audit log")).to_be_focused()
    search = admin.get_by_role("search", name="Search the audit log")
    search.get_by_label("Search").fill("coded language")
    search.get_by_role("button", name="Search").click()
    expect(search.locator(".form-status")).to_have_text("1 entry shown.")
    rows = admin.locator("#audit-rows > tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("review.reject")
    expect(rows.first).to_contain_text("Riley Reviewer")
    csv_link = admin.get_by_role("link", name="Download CSV")
    expect(csv_link).to_have_attribute("href", re.compile(r"q=coded\+language.*format=csv"))
    csv = admin.request.get(csv_link.get_attribute("href") or "")
    assert csv.ok, csv.text()
    lines = csv.text().splitlines()
    assert len(lines) == 2 and "review.reject" in lines[1], lines
    shot(admin, "console-audit")

    # The family appeals; the admin sees it live and overturns it: the message is delivered.
    nav_links(admin).filter(has_text="Appeals").click()
    expect(admin.locator("#appeals-empty")).to_be_visible()
    live_server.api(
        "POST",
        f"/api/v1/messages/{rejected}/appeal",
        {"text": "It is the bus stop for visitors."},
        token=scene.family_token,
    )
    appeal = admin.locator("#appeals-list > li").filter(has_text=APPEALED)
    expect(appeal).to_contain_text("The sender says: It is the bus stop for visitors.")
    expect(appeal).to_contain_text("Uses coded language")
    shot(admin, "console-appeals")
    appeal.get_by_role("button", name="Overturn").click()
    reasons = admin.get_by_role("dialog", name="Overturn the rejection")
    expect(reasons.get_by_label("Reason")).to_be_focused()
    reasons.get_by_label("Reason").fill("The visitor bus stops at the east gate.")
    reasons.get_by_role("button", name="Overturn and deliver").click()
    expect(admin.locator("#appeals-status")).to_have_text(
        "Overturned: the message from Casey Lane is delivered."
    )
    expect(admin.locator("#appeals-empty")).to_be_visible()
    mine = live_server.api(
        "GET", f"/api/v1/messages?contact_id={scene.contact_id}", token=scene.family_token
    )["messages"]
    assert next(m for m in mine if m["id"] == rejected)["status"] == "delivered"

    # A contact marked privileged, with its bar number; staff see the credentials.
    nav_links(admin).filter(has_text="Contacts").click()
    row = admin.locator("#contacts-list > li").filter(has_text=MARCUS.name)
    row.get_by_role("button", name="Mark as privileged").click()
    dialog = admin.get_by_role("dialog", name="Mark as privileged")
    dialog.get_by_label("Bar number").fill("NY-4471902")
    dialog.get_by_label("Bar state").fill("ny")
    dialog.get_by_role("button", name="Mark as privileged").click()
    expect(dialog).to_be_hidden()
    expect(row.locator(".badge").first).to_have_text("Privileged")
    expect(row.locator(".privilege")).to_contain_text("NY-4471902")
    shot(admin, "console-contacts")

    # The family account blocked for the facility, from the contact's link, then lifted.
    account = admin.locator("#contacts-list > li").filter(has_text=DANA.name)
    family_id = re.search(r"account (\d+)", account.locator(".meta").inner_text())
    assert family_id
    account.get_by_role("link", name=f"Block family account {family_id.group(1)}").click()
    blocks = admin.locator("#blocks-form")
    expect(blocks.get_by_label("Family account number")).to_have_value(family_id.group(1))
    expect(blocks.get_by_label("Reason")).to_be_focused()
    blocks.get_by_label("Reason").fill("Threats made to staff on the phone.")
    blocks.get_by_role("button", name="Block the account").click()
    blocked = admin.locator("#blocks-list > li")
    expect(blocked).to_have_count(1)
    expect(blocked).to_contain_text("Casey Lane")
    expect(blocked).to_contain_text("no end date")
    status, raw = request(  # the family's sends are refused meanwhile
        live_server.port,
        "POST",
        "/api/v1/messages",
        json.dumps(
            {"contact_id": scene.contact_id, "body": "Hello?", "client_id": "blocked"}
        ).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {scene.family_token}"},
    )
    assert status == 403 and json.loads(raw)["error"]["code"] == "blocked", raw
    shot(admin, "console-blocks")
    blocked.get_by_role("button", name="Lift").click()
    lift = admin.get_by_role("dialog", name="Lift the block")
    lift.get_by_label("Reason").fill("Apologised in writing.")
    lift.get_by_role("button", name="Lift the block").click()
    expect(admin.locator("#blocks-empty")).to_be_visible()
    expect(admin.locator("#blocks-status")).to_contain_text("Lifted the block")
    assert counsel.contact_id != scene.contact_id


def test_global_support_sees_care_audit_reports_and_reads_the_policy(
    new_context: Callable[[], BrowserContext], live_server: LiveServer, scene: Scene
) -> None:
    support = new_context().new_page()
    console_sign_in(support, "support", "demo-support-pass")
    # The pages the permission table gives global support (README: "Who may do what").
    expect(nav_links(support)).to_have_text(
        ["Contacts", "Customer care", "Policy", "Appeals", "Blocks", "Audit", "Reports", "Tariff"]
    )
    expect(support.get_by_role("heading", name="Customer care")).to_be_visible()
    nav_links(support).filter(has_text="Reports").click()
    reports = support.get_by_role("form", name="Choose the days")
    expect(reports.get_by_label("Facility")).to_have_value(str(live_server.facility_id))
    expect(support.locator("#reports-rows > tr")).to_have_count(14)  # the last 14 days
    nav_links(support).filter(has_text="Policy").click()
    picker = support.get_by_role("form", name="Choose a facility for the policy")
    expect(picker.get_by_label("Facility")).to_have_value(str(live_server.facility_id))
    expect(support.locator("#policy-readonly")).to_be_visible()
    expect(support.locator("#policy-form").get_by_role("button")).to_have_count(0)
    # Appeals: read, not decided. Blocks: for the facility they choose.
    nav_links(support).filter(has_text="Appeals").click()
    expect(support.get_by_role("heading", name="Appeals")).to_be_visible()
    expect(support.locator("#appeals-list").get_by_role("button")).to_have_count(0)
    nav_links(support).filter(has_text="Blocks").click()
    picker = support.get_by_role("form", name="Choose a facility for its blocks")
    expect(picker.get_by_label("Facility")).to_have_value(str(live_server.facility_id))
    expect(support.get_by_role("button", name="Block the account")).to_be_visible()
    support.goto("/console#/review")  # not theirs: the console shows their first page
    expect(support.get_by_role("heading", name="Customer care")).to_be_visible()
