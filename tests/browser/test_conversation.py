"""A conversation in two real browsers side by side: the family sees the price before sending
(first that nobody can pay, then, live, 50¢ from the wallet once money arrives), sends emoji
and non-Latin text; the tablet sees it arrive live with an unread badge, opens it, and the
family sees "Read"; the resident answers (the family pays, as the recipient) and the family
sees it live. The character counter takes exactly 30,000 code points and refuses 30,001. A
send that fails offline is retried with the same client_id and stored once; messages sent
while the family is offline arrive through the reconnect's sync; nothing is lost or shown
twice, before or after a reload. Under a facility's review and delay rules the sender sees
"pending review", then live the rejection with its reason and the refund, and "scheduled for".
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.liveserver import LiveServer
from tests.story import (
    CONTROL_LABELS,
    DANA,
    MARCUS,
    REQUIRE_BROWSER,
    Scene,
    approved_family,
    family_sign_in,
    live_deposit,
    message,
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

HELLO = "Hello Marcus 👋🏽 — Привет! 你好, مرحبا, नमस्ते 🇺🇸\nSecond line."
ANSWER = "Thank you 🙏 Ça va très bien. 좋아요!"
WHILE_AWAY = "Sent while you were offline 🌙"
RETRIED = "Sent once, retried after the network came back 🔁"
MOST = 30_000


@pytest.fixture(scope="module")
def scene(live_server: LiveServer) -> Scene:
    """A family approved by Marcus, with no money yet, at a facility where no message is free
    (the Saturday rule would otherwise make the price depend on the day the test runs)."""
    found = approved_family(live_server, "chat.family", MARCUS)
    path = f"/api/v1/staff/facilities/{live_server.facility_id}/tariff"
    tariff = live_server.api("GET", path, token=found.admin_token)["tariff"]
    tariff["free_saturday_messages"] = 0
    live_server.api(
        "PUT",
        path,
        {**tariff, "reason": "Browser test: every message costs"},
        token=found.admin_token,
    )
    return found


def set_incoming(live_server: LiveServer, scene: Scene, mode: str, delay: int = 0) -> None:
    """The facility's rule for family-to-resident messages."""
    live_server.api(
        "PUT",
        f"/api/v1/staff/facilities/{live_server.facility_id}/policy",
        {
            "incoming": {"mode": mode, "delay_minutes": delay},
            "outgoing": {"mode": "instant", "delay_minutes": 0},
            "reason": "Browser test",
        },
        token=scene.admin_token,
    )


def history(live_server: LiveServer, scene: Scene) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = live_server.api(
        "GET", f"/api/v1/messages?contact_id={scene.contact_id}&limit=100", token=scene.family_token
    )["messages"]
    return messages


def shown_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("#conv-list > li").evaluate_all(
        "items => items.map(item => item.dataset.messageId)"
    )
    return ids


def test_family_and_resident_talk_live_and_nothing_is_lost_or_doubled(
    new_context: Callable[[], BrowserContext], live_server: LiveServer, scene: Scene
) -> None:
    family_context = new_context()
    family = family_context.new_page()
    family_sign_in(family, scene.family_username)
    marcus = family.locator("#contacts-list > li").filter(has_text=MARCUS.name)
    marcus.get_by_role("link", name=f"Messages with {MARCUS.name}").click()
    expect(family).to_have_url(f"{live_server.url}/#/messages/{scene.contact_id}")
    heading = family.get_by_role("heading", name=f"Messages with {MARCUS.name}")
    expect(heading).to_be_focused()
    expect(family.locator("#conv-empty")).to_be_visible()
    form = family.locator("#conv-form")
    assert form.evaluate(CONTROL_LABELS) == {"body": 1}
    box = form.get_by_label(f"Your message to {MARCUS.name}")

    # The price before sending: nobody can pay yet, then money arrives and the page follows.
    price = family.locator("#conv-price")
    expect(price).to_contain_text("You cannot send a message now")
    expect(price.get_by_role("link", name="Add money to your wallet")).to_have_attribute(
        "href", "#/wallet"
    )
    live_deposit(live_server, scene, 500)
    expect(price).to_have_text("Price: 50¢ from your wallet")

    tablet = new_context().new_page()
    tablet_sign_in(tablet, live_server, MARCUS)
    casey = tablet.locator("#approved-list > li").filter(has_text="Casey Lane")
    casey_link = casey.get_by_role("link", name="Messages with Casey Lane")
    badge = casey.locator("[data-unread-for]")
    expect(badge).to_be_hidden()

    box.fill(HELLO)
    expect(family.locator("#conv-count")).to_have_text(
        f"{len(HELLO)} / 30,000 characters"  # Python counts code points, as the server does
    )
    form.get_by_role("button", name="Send").click()
    expect(form.locator("#conv-form-status")).to_have_text("Sent.")
    expect(box).to_have_value("")
    hello = message(family, HELLO)
    expect(hello.locator(".badge")).to_have_text("Delivered")
    expect(hello.locator(".msg-paid")).to_have_text("You paid 50¢")

    # The tablet hears of it live, opens it, and the family sees it read.
    expect(badge).to_have_text("1 unread")
    expect(casey_link).to_have_accessible_name("Messages with Casey Lane 1 unread")
    shot(tablet, "tablet-unread")
    casey_link.click()
    expect(tablet.get_by_role("heading", name="Messages with Casey Lane")).to_be_focused()
    arrived = message(tablet, HELLO)
    expect(arrived.locator(".msg-from")).to_have_text("Casey Lane")
    expect(arrived.locator(".msg-paid")).to_have_text("Casey Lane paid 50¢")
    expect(hello.locator(".badge")).to_have_text("Read")

    # The resident has no money: the family pays, as the recipient, and sees the answer live.
    tablet_form = tablet.locator("#conv-form")
    expect(tablet.locator("#conv-price")).to_contain_text("the recipient pays")
    tablet_box = tablet_form.get_by_label("Your message to Casey Lane")
    tablet_box.fill(ANSWER)
    tablet_box.press("Control+Enter")  # the keyboard sends too
    expect(tablet_form.locator("#conv-form-status")).to_have_text("Sent.")
    answer = message(family, ANSWER)
    expect(answer.locator(".msg-from")).to_have_text(MARCUS.name)
    expect(answer.locator(".msg-paid")).to_have_text("You paid 50¢")
    expect(family.locator("#conv-announce")).to_contain_text(f"New message from {MARCUS.name}")
    expect(message(tablet, ANSWER).locator(".badge")).to_have_text("Read")  # the family has it open
    shot(family, "family-conversation")
    shot(tablet, "tablet-conversation")
    tablet.get_by_role("link", name="Back to contacts").click()
    expect(badge).to_be_hidden()

    # The counter counts code points: 30,000 emoji are 60,000 UTF-16 units, and still fit.
    counter = family.locator("#conv-count")
    box.fill("😀" * MOST)
    expect(counter).to_have_text("30,000 / 30,000 characters")
    expect(box).not_to_have_attribute("aria-invalid", "true")
    box.press("End")
    box.press("x")
    expect(counter).to_have_text("30,001 / 30,000 characters: 1 too many")
    expect(box).to_have_attribute("aria-invalid", "true")
    form.get_by_role("button", name="Send").click()
    expect(form.locator("#conv-form-status")).to_have_text(
        "A message can be at most 30,000 characters; this one has 30,001. Remove 1 to send it."
    )
    expect(box).to_be_focused()
    box.press("Backspace")
    expect(counter).to_have_text("30,000 / 30,000 characters")
    form.get_by_role("button", name="Send").click()
    expect(form.locator("#conv-form-status")).to_have_text("Sent.")
    expect(family.locator("#conv-list > li")).to_have_count(3)
    assert len(history(live_server, scene)) == 3

    # Offline: a send cannot be confirmed; the tablet writes meanwhile.
    family_context.set_offline(True)
    expect(family.locator("#live")).to_have_text("Offline, reconnecting…")
    box.fill(RETRIED)
    form.get_by_role("button", name="Send").click()
    expect(form.locator("#conv-form-status")).to_contain_text("it will not be sent twice")
    tablet.goto(f"/tablet#/messages/{scene.contact_id}")
    tablet_box.fill(WHILE_AWAY)
    tablet_form.get_by_role("button", name="Send").click()
    expect(message(tablet, WHILE_AWAY)).to_have_count(1)

    # Back online: the sync brings what was missed, the retry reuses its client_id.
    family_context.set_offline(False)
    expect(family.locator("#live")).to_have_text("Live")
    expect(message(family, WHILE_AWAY)).to_have_count(1)
    form.get_by_role("button", name="Send").click()
    expect(form.locator("#conv-form-status")).to_have_text("Sent.")
    expect(message(family, RETRIED)).to_have_count(1)
    expect(message(tablet, RETRIED)).to_have_count(1)

    stored = [str(m["id"]) for m in reversed(history(live_server, scene))]
    assert len(stored) == 5, "the retried message was stored twice or lost"
    expect(family.locator("#conv-list > li")).to_have_count(5)
    assert shown_ids(family) == stored
    expect(tablet.locator("#conv-list > li")).to_have_count(5)
    assert shown_ids(tablet) == stored

    # A reload shows the same five, once each; a message deleted for me stays gone for me.
    family.reload()
    expect(heading).to_be_visible()
    expect(family.locator("#conv-list > li")).to_have_count(5)
    assert shown_ids(family) == stored
    big = family.locator("#conv-list > li").nth(2)
    big.get_by_role("button", name="Delete for me").click()
    family.get_by_role("button", name="Yes, delete").click()
    expect(family.locator("#conv-status")).to_have_text("Message deleted for you.")
    expect(family.locator("#conv-list > li")).to_have_count(4)
    expect(tablet.locator("#conv-list > li")).to_have_count(5)  # the resident keeps it
    family.reload()
    expect(family.locator("#conv-list > li")).to_have_count(4)
    assert shown_ids(family) == [i for i in stored if i != stored[2]]

    # The downloads hold the conversation as the family sees it.
    txt = family.get_by_role("link", name="Download as text")
    expect(txt).to_have_attribute(
        "href", f"/api/v1/messages/export?contact_id={scene.contact_id}&format=txt"
    )
    export = family.request.get(txt.get_attribute("href") or "")
    assert export.ok
    assert "attachment" in export.headers["content-disposition"]
    assert HELLO.splitlines()[0] in export.text() and ANSWER in export.text()
    json_link = family.get_by_role("link", name="Download as JSON")
    assert family.request.get(json_link.get_attribute("href") or "").ok


def test_sender_follows_review_rejection_refund_and_schedule_live(
    new_context: Callable[[], BrowserContext], live_server: LiveServer, scene: Scene
) -> None:
    held = approved_family(live_server, "held.family", DANA)
    live_deposit(live_server, held, 500)
    family = new_context().new_page()
    family_sign_in(family, held.family_username)
    family.goto(f"/#/messages/{held.contact_id}")
    form = family.locator("#conv-form")
    box = form.get_by_label(f"Your message to {DANA.name}")
    expect(family.locator("#conv-price")).to_have_text("Price: 50¢ from your wallet")

    set_incoming(live_server, scene, "review_all")
    try:
        box.fill("Is this allowed?")
        form.get_by_role("button", name="Send").click()
        expect(form.locator("#conv-form-status")).to_have_text(
            f"Sent. Staff review it before {DANA.name} sees it."
        )
        pending = message(family, "Is this allowed?")
        expect(pending.locator(".badge")).to_have_text("Pending review by staff")
        expect(pending.locator(".msg-paid")).to_have_text("You paid 50¢")

        reviewer = live_server.api(
            "POST",
            "/api/v1/staff/sessions",
            {"username": "reviewer", "password": "demo-reviewer-pass", "session": "bearer"},
        )["token"]
        queue = live_server.api("GET", "/api/v1/staff/review", token=reviewer)["items"]
        item = next(i for i in queue if i["body"] == "Is this allowed?")
        live_server.api(
            "POST",
            f"/api/v1/staff/review/{item['id']}/reject",
            {"reason": "Plans to pass contraband."},
            token=reviewer,
        )
        expect(pending.locator(".badge")).to_have_text("Rejected by staff")
        expect(pending.locator(".msg-reason")).to_have_text("Reason: Plans to pass contraband.")
        expect(pending.locator(".msg-refund")).to_have_text("50¢ refunded to you")
        expect(family.locator("#conv-announce")).to_contain_text("Rejected by staff")

        set_incoming(live_server, scene, "delay", 90)
        box.fill("See you at the visit.")
        box.press("Control+Enter")
        expect(form.locator("#conv-form-status")).to_contain_text("Sent. It will be delivered at")
        later = message(family, "See you at the visit.")
        expect(later.locator(".badge")).to_have_text(re.compile(r"^Scheduled for .*\d:\d\d"))
        shot(family, "family-review-and-delay")
    finally:
        set_incoming(live_server, scene, "instant")


def test_older_messages_load_by_cursor_oldest_first(
    new_context: Callable[[], BrowserContext], live_server: LiveServer
) -> None:
    paged = approved_family(live_server, "paged.family", DANA)
    live_deposit(live_server, paged, 2000)
    for n in range(1, 36):
        live_server.api(
            "POST",
            "/api/v1/messages",
            {"contact_id": paged.contact_id, "body": f"Note {n}", "client_id": f"note-{n}"},
            token=paged.family_token,
        )
    family = new_context().new_page()
    family_sign_in(family, paged.family_username)
    family.goto(f"/#/messages/{paged.contact_id}")
    items = family.locator("#conv-list > li")
    expect(items).to_have_count(30)
    expect(items.first.locator(".msg-body")).to_have_text("Note 6")
    expect(items.last.locator(".msg-body")).to_have_text("Note 35")

    older = family.get_by_role("button", name="Older messages")
    older.focus()
    older.press("Enter")
    expect(items).to_have_count(35)
    expect(items.first.locator(".msg-body")).to_have_text("Note 1")
    expect(family.locator("#conv-status")).to_have_text("5 older messages shown.")
    expect(older).to_be_hidden()
    expect(family.get_by_role("heading", name=f"Messages with {DANA.name}")).to_be_focused()
