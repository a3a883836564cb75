"""Photos in real browsers, through the real app. A family attaches two photos on the family
page and watches each upload's progress bar reach 100 (the upload throttled through Chromium's
DevTools, so the bar is seen moving); the price shows $2.00 (two photos at $1.00, no text);
under the facility's rule "photos: review all" the message is held; a reviewer sees the photos
in the queue, opens one in the zoomable viewer and approves; the family sees it delivered, and
the resident's tablet shows the photos inline and opens the full-screen viewer, moves with the
arrow key and closes with Escape. Then: the tablet's gallery lists every photo received and its
viewer follows a swipe and the wheel; on the family page a sixth photo is refused by the page,
the server's refusal shows next to its photo, photos are removed with the keyboard (and deleted
on the server), and photos dropped on the composer or pasted into it are attached.
"""

from __future__ import annotations

import base64
import importlib
import io
import random
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from tests.liveserver import LiveServer, request, wait_until
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
    live_upload,
    shot,
    tablet_sign_in,
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

UPLOAD = 15_000  # ms: a throttled upload of a photo of noise
THROTTLED = 256 * 1024  # bytes per second up, so that progress is seen between 0 and 100

# Every aria-valuenow any progress bar of the tray takes, in order.
RECORD_PROGRESS = """() => {
  window.progressSeen = [];
  new MutationObserver((records) => {
    for (const r of records)
      window.progressSeen.push(Number(r.target.getAttribute("aria-valuenow")));
  }).observe(document.getElementById("conv-photos"),
             {subtree: true, attributes: true, attributeFilter: ["aria-valuenow"]});
}"""
LOADED = "img => img.complete && img.naturalWidth > 0"
# Files handed to the page as a drop on an element, or a paste into it, as the browser does.
_FILES = """(files) => {
  const data = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0));
    data.items.add(new File([bytes], f.name, {type: f.type}));
  }
  return data;
}"""
DROP = f"""(target, files) => {{
  const data = ({_FILES})(files);
  const init = {{dataTransfer: data, bubbles: true, cancelable: true}};
  for (const type of ["dragenter", "dragover", "drop"])
    target.dispatchEvent(new DragEvent(type, init));
}}"""
PASTE = f"""(target, files) => {{
  const data = ({_FILES})(files);
  const init = {{clipboardData: data, bubbles: true, cancelable: true}};
  target.dispatchEvent(new ClipboardEvent("paste", init));
}}"""


def photo(name: str, *, kind: str = "JPEG", size: tuple[int, int] = (96, 64), seed: int = 0) -> Any:
    """A real image file for Playwright's set_input_files. Random pixels do not compress, so a
    larger size makes an upload that takes a while on a throttled link."""
    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buffer, kind)
    mime = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}[kind]
    return {"name": name, "mimeType": mime, "buffer": buffer.getvalue()}


def as_js_file(file: Any) -> dict[str, str]:
    """A photo() for DROP and PASTE."""
    return {
        "name": file["name"],
        "type": file["mimeType"],
        "base64": base64.b64encode(file["buffer"]).decode(),
    }


def set_photo_rule(live_server: LiveServer, scene: Scene, mode: str) -> None:
    """Family messages instant; messages with photos under `mode`."""
    live_server.api(
        "PUT",
        f"/api/v1/staff/facilities/{live_server.facility_id}/policy",
        {
            "incoming": {"mode": "instant", "delay_minutes": 0},
            "outgoing": {"mode": "instant", "delay_minutes": 0},
            "photos": {"mode": mode, "delay_minutes": 0},
            "reason": f"Browser test: photos {mode}",
        },
        token=scene.admin_token,
    )


@pytest.fixture(scope="module")
def scene(live_server: LiveServer) -> Scene:
    """A family approved by Marcus with $5.00, at a facility where no message is free (the
    Saturday rule would make the text's price depend on the day the test runs)."""
    found = approved_family(live_server, "photo.family", MARCUS)
    live_deposit(live_server, found, 500)
    path = f"/api/v1/staff/facilities/{live_server.facility_id}/tariff"
    tariff = live_server.api("GET", path, token=found.admin_token)["tariff"]
    tariff["free_saturday_messages"] = 0
    live_server.api("PUT", path, {**tariff, "reason": "Browser test"}, token=found.admin_token)
    return found


def open_conversation(page: Page, scene: Scene) -> Locator:
    family_sign_in(page, scene.family_username)
    page.goto(f"/#/messages/{scene.contact_id}")
    form = page.locator("#conv-form")
    expect(page.locator("#conv-price")).not_to_have_text("Price: …")
    return form


def test_family_sends_two_photos_a_reviewer_approves_and_the_tablet_views_them(
    new_context: Callable[[], BrowserContext], live_server: LiveServer, scene: Scene
) -> None:
    set_photo_rule(live_server, scene, "review_all")
    try:
        reviewer = new_context().new_page()
        console_sign_in(reviewer, "reviewer", "demo-reviewer-pass")
        expect(reviewer.locator("#review-empty")).to_be_visible()

        family_context = new_context()
        family = family_context.new_page()
        form = open_conversation(family, scene)
        assert form.evaluate(CONTROL_LABELS) == {"body": 1}  # the file input is the button's
        expect(family.locator("#conv-price")).to_have_text("Price: 50¢ from your wallet")

        # Two photos of noise (about 200 kB each) on a throttled uplink: each bar moves.
        cdp = family_context.new_cdp_session(family)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 20,
                "downloadThroughput": -1,
                "uploadThroughput": THROTTLED,
            },
        )
        family.evaluate(RECORD_PROGRESS)
        form.get_by_role("button", name="Add photos").focus()
        form.locator("#conv-photos-input").set_input_files(
            [
                photo("garden.jpg", size=(300, 240), seed=1),
                photo("kitchen.png", kind="PNG", size=(240, 200), seed=2),
            ]
        )
        tiles = form.locator("#conv-photos > li")
        expect(tiles).to_have_count(2)
        send = form.get_by_role("button", name="Send")
        expect(send).to_be_disabled()  # while the photos upload
        first = form.get_by_role("progressbar", name="Photo 1 upload")
        second = form.get_by_role("progressbar", name="Photo 2 upload")
        expect(first).to_be_visible()
        expect(second).to_be_visible()
        expect(first).to_have_attribute("aria-valuenow", "100", timeout=UPLOAD)
        expect(second).to_have_attribute("aria-valuenow", "100", timeout=UPLOAD)
        expect(tiles.locator(".photo-state")).to_have_text(["Photo 1: ready", "Photo 2: ready"])
        seen: list[int] = family.evaluate("window.progressSeen")
        assert any(0 < value < 100 for value in seen), seen
        assert seen == sorted(seen) or len(set(seen)) > 2, seen
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        expect(send).to_be_enabled()

        # The price: two photos at $1.00; text would add 50¢; without text it is free.
        price = family.locator("#conv-price")
        expect(price).to_have_text(
            "Price: $2.00 from your wallet (2 photos at $1.00 each; no text, so nothing for text)"
        )
        box = form.get_by_label(f"Your message to {MARCUS.name}")
        box.fill("From the garden")
        expect(price).to_have_text(
            "Price: $2.50 from your wallet (2 photos at $1.00 each; text 50¢)"
        )
        box.fill("")
        expect(price).to_contain_text("Price: $2.00 from your wallet")
        shot(family, "family-photos-attached")

        send.click()
        expect(form.locator("#conv-form-status")).to_have_text(
            f"Sent. Staff review it before {MARCUS.name} sees it."
        )
        expect(tiles).to_have_count(0)
        sent = family.locator("#conv-list > li").filter(has=family.locator(".photo-strip"))
        expect(sent).to_have_count(1)
        expect(sent.locator(".badge")).to_have_text("Pending review by staff")
        expect(sent.locator(".msg-paid")).to_have_text("You paid $2.00")
        expect(sent.locator(".photo-thumb")).to_have_count(2)

        # The reviewer: the item arrives live with its photos, one opens zoomable.
        item = reviewer.locator("#review-list > li").filter(has_text=f"Casey Lane → {MARCUS.name}")
        expect(item).to_have_count(1)
        thumbs = item.locator(".photo-thumb")
        expect(thumbs).to_have_count(2)
        for n in range(2):
            expect(thumbs.nth(n)).to_have_js_property("complete", True)
            assert thumbs.nth(n).evaluate(LOADED)
        opener = item.get_by_role("button", name="Open photo 1 of 2, full screen")
        opener.click()
        viewer = reviewer.get_by_role(
            "dialog", name=f"Photos in the message from Casey Lane to {MARCUS.name}"
        )
        expect(viewer).to_be_visible()
        expect(viewer.locator(".pv-count")).to_have_text("1 of 2")
        viewer.get_by_role("button", name="Zoom in").click()
        expect(viewer.locator(".pv-zoom")).to_have_text("150%")
        shot(reviewer, "console-photo-viewer")
        reviewer.keyboard.press("Escape")
        expect(viewer).to_have_count(0)
        expect(opener).to_be_focused()
        item.get_by_role("button", name="Show the conversation").click()
        held = item.locator(".context-list > li").last
        expect(held).to_contain_text("(this message)")
        expect(held.locator(".photo-thumb")).to_have_count(2)
        item.get_by_role("button", name="Approve").click()
        expect(reviewer.locator("#review-status")).to_contain_text("Approved the message")
        expect(item).to_have_count(0)

        expect(sent.locator(".badge")).to_have_text("Delivered")

        # The tablet: the photos inline, the full-screen viewer by keyboard.
        tablet = new_context().new_page()
        tablet_sign_in(tablet, live_server, MARCUS)
        tablet.locator("#approved-list > li").filter(has_text="Casey Lane").get_by_role(
            "link", name="Messages with Casey Lane"
        ).click()
        expect(tablet.get_by_role("button", name="Add photos")).to_have_count(0)  # one-way
        arrived = tablet.locator("#conv-list > li").filter(has=tablet.locator(".photo-strip"))
        expect(arrived).to_have_count(1)
        expect(arrived.locator(".msg-body")).to_have_count(0)  # no text: only photos
        first_photo = arrived.get_by_role("button", name="Open photo 1 of 2, full screen")
        first_photo.click()
        full = tablet.get_by_role("dialog", name="Photos from Casey Lane")
        expect(full).to_be_visible()
        expect(full).to_have_attribute("aria-modal", "true")
        expect(full.locator(".pv-count")).to_have_text("1 of 2")
        expect(full.get_by_role("button", name="Close the photo viewer")).to_be_focused()
        tablet.keyboard.press("ArrowRight")
        expect(full.locator(".pv-count")).to_have_text("2 of 2")
        image = full.get_by_role("img", name="Photo 2 of 2")
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate(LOADED)
        assert image.evaluate("img => img.naturalWidth") == 240  # the PNG, never upscaled
        # The focus stays in the dialog: Tab from its last button comes back to its first.
        full.get_by_role("button", name="Next photo").focus()
        tablet.keyboard.press("Tab")
        expect(full.get_by_role("button", name="Close the photo viewer")).to_be_focused()
        shot(tablet, "tablet-photo-viewer")
        tablet.keyboard.press("Escape")
        expect(full).to_have_count(0)
        expect(first_photo).to_be_focused()
    finally:
        set_photo_rule(live_server, scene, "instant")


def test_tablet_gallery_lists_every_photo_received(
    new_context: Callable[[], BrowserContext], live_server: LiveServer, scene: Scene
) -> None:
    gallery_family = approved_family(live_server, "gallery.family", DANA)
    live_deposit(live_server, gallery_family, 1000)
    files = [photo(f"p{n}.jpg", size=(240, 160), seed=10 + n) for n in range(3)]
    ids = [live_upload(live_server, gallery_family, f["buffer"], f["name"]) for f in files]
    live_server.api(
        "POST",
        "/api/v1/messages",
        {
            "contact_id": gallery_family.contact_id,
            "body": "Three from the garden",
            "photo_ids": ids,
            "client_id": "gallery-three",
        },
        token=gallery_family.family_token,
    )

    tablet = new_context().new_page()
    tablet_sign_in(tablet, live_server, DANA)
    tablet.get_by_role("link", name="Photos").click()
    expect(tablet).to_have_url(f"{live_server.url}/tablet#/photos")
    expect(tablet.get_by_role("heading", name="Photos", exact=True)).to_be_focused()
    grid = tablet.locator("#photo-grid > li")
    expect(grid).to_have_count(3)
    expect(tablet.locator("#photos-status")).to_have_text("3 photos.")
    buttons = grid.get_by_role("button")
    for n in range(3):
        expect(buttons.nth(n)).to_have_attribute(
            "aria-label", re.compile(rf"^Open photo {n + 1} of 3, from Casey Lane, .+")
        )
    shown = buttons.evaluate_all("bs => bs.map(b => Number(b.dataset.photoId))")
    assert sorted(shown) == sorted(ids)  # every photo of the message, and no other
    shot(tablet, "tablet-gallery")

    # The viewer by pointer: a swipe to the left is the next photo, the wheel zooms.
    second = grid.nth(1).get_by_role("button")
    second.click()
    viewer = tablet.get_by_role("dialog", name="Your photos")
    count = viewer.locator(".pv-count")
    expect(count).to_have_text("2 of 3")
    stage = viewer.locator(".pv-stage").bounding_box()
    assert stage is not None
    x, y = stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2
    tablet.mouse.move(x + 150, y)
    tablet.mouse.down()
    tablet.mouse.move(x - 150, y, steps=6)
    tablet.mouse.up()
    expect(count).to_have_text("3 of 3")
    viewer.get_by_role("button", name="Previous photo").click()
    expect(count).to_have_text("2 of 3")
    tablet.mouse.move(x, y)
    tablet.mouse.wheel(0, -300)
    expect(viewer.locator(".pv-zoom")).not_to_have_text("100%")
    viewer.get_by_role("button", name="Zoom out").click()
    viewer.get_by_role("button", name="Zoom out").click()
    expect(viewer.locator(".pv-zoom")).to_have_text("100%")
    viewer.get_by_role("button", name="Close the photo viewer").click()
    expect(viewer).to_have_count(0)
    expect(second).to_be_focused()


def test_family_is_told_the_limit_and_the_refusal_and_removes_photos_by_keyboard(
    new_context: Callable[[], BrowserContext], live_server: LiveServer
) -> None:
    limited = approved_family(live_server, "limit.family", MARCUS)
    live_deposit(live_server, limited, 1000)
    family = new_context().new_page()
    form = open_conversation(family, limited)
    gif = photo("not-really.jpg", kind="GIF", seed=30)
    gif["mimeType"] = "image/jpeg"  # the server goes by the content, not by the name
    form.locator("#conv-photos-input").set_input_files(
        [photo(f"n{n}.jpg", seed=20 + n) for n in range(2)]
        + [gif]
        + [photo(f"m{n}.png", kind="PNG", seed=40 + n) for n in range(2)]
    )
    tiles = form.locator("#conv-photos > li")
    ready = form.locator("#conv-photos > li[data-state=ready]")
    expect(tiles).to_have_count(5)
    status = form.locator("#conv-photos-status")
    refused = tiles.nth(2)
    expect(refused).to_have_attribute("data-state", "failed")
    expect(refused.locator(".photo-state")).to_have_text(re.compile(r"^Photo 3: \w.+"))
    expect(refused.get_by_role("progressbar")).to_have_count(0)
    expect(ready).to_have_count(4)
    expect(status).to_contain_text("Photo 3 could not be added: ")

    # Sending waits for the refused photo to go.
    form.get_by_label(f"Your message to {MARCUS.name}").fill("Four of them")
    form.get_by_role("button", name="Send").click()
    expect(form.locator("#conv-form-status")).to_have_text(
        "Remove the photos that could not be added, then send."
    )

    # By keyboard: Enter on "Remove photo 3"; the focus moves to the next tile's button.
    form.get_by_role("button", name="Remove photo 3").focus()
    family.keyboard.press("Enter")
    expect(tiles).to_have_count(4)
    expect(form.get_by_role("button", name="Remove photo 3")).to_be_focused()
    expect(status).to_have_text("Photo 3 removed.")
    expect(family.locator("#conv-price")).to_contain_text("Price: $4.50 from your wallet")

    # Two more dropped on the composer, on top of four: only one fits.
    form.evaluate(DROP, [as_js_file(photo("x.jpg", seed=50)), as_js_file(photo("y.jpg", seed=51))])
    expect(tiles).to_have_count(5)
    expect(status).to_have_text("A message can carry at most 5 photos: 1 photo was not added.")
    expect(ready).to_have_count(5)
    expect(family.locator("#conv-price")).to_contain_text("Price: $5.50 from your wallet")

    # Removed before sending, one after the other from the keyboard: deleted on the server.
    ids = [int(i) for i in ready.evaluate_all("tiles => tiles.map(t => t.dataset.photoId)")]
    first = form.get_by_role("button", name="Remove photo 1")
    first.focus()
    for left in range(4, -1, -1):
        family.keyboard.press("Enter")
        expect(tiles).to_have_count(left)
    expect(form.get_by_role("button", name="Add photos")).to_be_focused()
    expect(family.locator("#conv-price")).to_have_text("Price: 50¢ from your wallet")
    bearer = {"Authorization": f"Bearer {limited.family_token}"}

    def all_gone() -> bool:
        paths = [f"/api/v1/photos/{photo_id}" for photo_id in ids]
        return all(request(live_server.port, "GET", p, None, bearer)[0] == 404 for p in paths)

    wait_until(all_gone, f"photos {ids} deleted on the server")

    # A photo pasted into the text box is attached too.
    form.get_by_label(f"Your message to {MARCUS.name}").evaluate(
        PASTE, [as_js_file(photo("pasted.png", kind="PNG", seed=60))]
    )
    expect(ready).to_have_count(1)
    expect(family.locator("#conv-price")).to_contain_text("Price: $1.50 from your wallet")
