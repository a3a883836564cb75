"""The tariff in the console (#/tariff): the facility admin sees the rate-cap check's warnings,
brings the remote visit rate down to the video cap with a reason, and the warning goes; amounts
are dollars on screen and cents on the wire. Reviewers and global support staff read it only.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.liveserver import LiveServer
from tests.story import CONTROL_LABELS, REQUIRE_BROWSER, console_sign_in, shot

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

pytestmark = pytest.mark.browser
_sync_api: Any = (
    importlib.import_module("playwright.sync_api")
    if REQUIRE_BROWSER
    else pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
)
expect = _sync_api.expect

# The demo facility keeps the default tariff: size class "prison" (video cap 16¢), remote
# visits at 20¢ a minute, and fees on deposits to calling accounts, which the profile bans.
VIDEO_WARNING = "Remote video visits cost 20¢ a minute; the video cap for a prison is 16¢."
ENABLED_CONTROLS = """form => [...form.querySelectorAll("input, select, textarea")]
    .filter(c => !c.disabled).map(c => c.name)"""


def open_tariff(page: Page) -> Locator:
    page.get_by_role("navigation").get_by_role("link", name="Tariff").click()
    expect(page.get_by_role("heading", name="Tariff", exact=True)).to_be_focused()
    expect(page.locator("#tariff-body")).to_be_visible()
    return page.locator("#tariff-form")


def warnings(page: Page) -> Locator:
    return page.get_by_role("region", name="Rate-cap check").get_by_role("listitem")


def test_admin_brings_the_remote_visit_rate_under_the_video_cap(
    new_context: Callable[[], BrowserContext], live_server: LiveServer
) -> None:
    page = new_context().new_page()
    console_sign_in(page, "admin", "demo-admin-pass")
    form = open_tariff(page)
    expect(page.locator("#tariff-meta")).to_contain_text(
        f"(facility {live_server.facility_id}). The default tariff"
    )
    video = warnings(page).filter(has_text="video cap")
    expect(video.locator(".badge")).to_have_text("Error")
    expect(video.get_by_role("button")).to_have_text("Remote video visit, per minute")
    expect(video.locator(".message")).to_have_text(VIDEO_WARNING)
    expect(warnings(page).filter(has_text="calling accounts")).to_have_count(4)
    expect(page.locator("#ratecap-summary")).to_have_text(
        "6 problems with the rate caps: 5 errors, 1 warning."
    )

    labels = form.evaluate(CONTROL_LABELS)
    assert len(labels) == 45 and set(labels.values()) == {1}, labels
    remote = form.get_by_label("Remote visit, per minute")
    expect(remote).to_have_value("0.20")  # 20 cents, shown in dollars
    expect(remote).to_have_accessible_description(re.compile(re.escape(VIDEO_WARNING)))
    expect(form.get_by_label("Online payment, tier 4: up to")).to_have_value("1,000.00")
    expect(form.get_by_label("Size class")).to_have_value("prison")
    shot(page, "console-tariff")

    video.get_by_role("button", name="Remote video visit, per minute").click()
    expect(remote).to_be_focused()  # the warning leads to its field

    # Checked here first: not an amount of dollars and cents; tiers that do not rise.
    remote.fill("0.165")
    second_tier = form.get_by_label("Online payment, tier 2: up to")
    second_tier.fill("10.00")  # below tier 1's $20.00
    save = form.get_by_role("button", name="Save the tariff")
    save.click()
    expect(remote).to_have_attribute("aria-invalid", "true")
    expect(remote).to_be_focused()
    expect(remote).to_have_accessible_description(re.compile("Enter dollars and cents"))
    expect(second_tier).to_have_accessible_description(re.compile(r"more than \$20\.00"))

    # Then by the server (a trust fee above $50.00), its error next to the tier's input.
    remote.fill("0.16")
    second_tier.fill("100.00")
    second_fee = form.get_by_label("Online payment, tier 2: fee")
    second_fee.fill("60.00")
    save.click()
    expect(second_fee).to_have_attribute("aria-invalid", "true")
    expect(second_fee).to_be_focused()
    expect(second_fee).to_have_accessible_description(re.compile(r"\$0\.00 to \$50\.00"))
    expect(remote).not_to_have_attribute("aria-invalid", "true")
    expect(second_tier).not_to_have_attribute("aria-invalid", "true")
    expect(form.locator(":scope > .form-status")).to_have_text("Some fields need attention.")
    expect(video).to_have_count(1)  # nothing saved
    shot(page, "console-tariff-errors")

    # A tier row comes and goes, the keyboard focus following.
    form.get_by_role("button", name="Add a tier: mail").click()
    expect(form.get_by_label("Mail, tier 2: up to")).to_be_focused()
    form.get_by_role("button", name="Remove tier 2: mail").click()
    expect(form.get_by_label("Mail, tier 2: up to")).to_have_count(0)
    expect(form.get_by_role("button", name="Add a tier: mail")).to_be_focused()

    second_fee.fill("4.95")
    form.get_by_label("Reason for the change").fill("Remote visits down to the FCC video cap.")
    save.click()
    expect(form.locator(":scope > .form-status")).to_have_text(
        "Saved. 5 problems with the rate caps: 4 errors, 1 warning."
    )
    expect(page.locator("#tariff-warnings")).not_to_contain_text("video cap")
    expect(warnings(page)).to_have_count(5)  # the fees on deposits remain
    expect(remote).to_have_value("0.16")
    expect(remote).not_to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Reason for the change")).to_have_value("")
    expect(page.locator("#tariff-meta")).to_contain_text("Last changed")
    expect(page.locator("#tariff-meta")).to_contain_text("by you")
    stored = live_server.api("GET", f"/api/v1/facilities/{live_server.facility_id}/tariff")
    assert stored["tariff"]["remote_visit_cents_per_minute"] == 16  # whole cents, no float
    assert stored["tariff"]["trust_deposit_fee_tiers"]["online"][1] == {
        "up_to_cents": 10_000,
        "fee_cents": 495,
    }
    audit = page.request.get("/api/v1/staff/audit?action=tariff.update")  # the admin's session
    assert audit.ok, audit.text()
    [entry] = audit.json()["entries"]
    assert entry["reason"] == "Remote visits down to the FCC video cap."
    assert entry["details"]["changed"] == ["remote_visit_cents_per_minute"]  # nothing else moved

    page.reload()
    expect(page.locator("#tariff-body")).to_be_visible()
    expect(form.get_by_label("Remote visit, per minute")).to_have_value("0.16")
    expect(form.get_by_label("Online payment, tier 2: up to")).to_have_value("100.00")
    expect(page.locator("#tariff-warnings")).not_to_contain_text("video cap")
    shot(page, "console-tariff-saved")

    form.get_by_label("Remote visit, per minute").press("Enter")  # the same tariff again
    expect(form.locator(":scope > .form-status")).to_have_text(
        "Nothing has changed, so there is nothing to save."
    )


def test_reviewer_sees_the_tariff_read_only(
    new_context: Callable[[], BrowserContext], live_server: LiveServer
) -> None:
    page = new_context().new_page()
    console_sign_in(page, "reviewer", "demo-reviewer-pass")
    form = open_tariff(page)
    expect(page.locator("#tariff-readonly")).to_contain_text(
        "Only the facility's administrators can change it."
    )
    expect(warnings(page).filter(has_text="calling accounts")).to_have_count(4)
    expect(warnings(page).get_by_role("button")).to_have_count(0)
    expect(form.get_by_label("Remote visit, per minute")).to_be_disabled()
    expect(form.get_by_label("Remote visit, per minute")).not_to_have_value("")
    expect(form.get_by_label("Size class")).to_be_disabled()
    assert form.evaluate(ENABLED_CONTROLS) == []
    expect(form.get_by_role("button")).to_have_count(0)  # no Save, no adding or removing tiers
    expect(form.get_by_label("Reason for the change")).to_be_hidden()
    shot(page, "console-tariff-reviewer")


def test_global_support_picks_the_facility_and_reads_only(
    new_context: Callable[[], BrowserContext], live_server: LiveServer
) -> None:
    page = new_context().new_page()
    console_sign_in(page, "support", "demo-support-pass")
    form = open_tariff(page)
    picker = page.get_by_role("form", name="Choose a facility").get_by_label("Facility")
    expect(picker).to_have_value(str(live_server.facility_id))
    expect(page.locator("#tariff-meta")).to_contain_text(f"(facility {live_server.facility_id})")
    expect(warnings(page).first).to_be_visible()
    assert form.evaluate(ENABLED_CONTROLS) == []
    expect(form.get_by_role("button")).to_have_count(0)
