"""In the browser, against `tests.liveserver.LiveServer`: residents, sign-ins on each
page, and scenes set through the API."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.liveserver.process import request
from tests.story.stage import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from tests.liveserver import LiveServer


REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"


@dataclass(frozen=True)
class Resident:
    number: str
    pin: str
    name: str


MARCUS = Resident("A1001", "2468", "Marcus Reed")
DANA = Resident("A1002", "1357", "Dana Whitfield")


# Each visible control's name, and how many <label>s point at it.
CONTROL_LABELS = """form => Object.fromEntries([...form.querySelectorAll("input, select, textarea")]
    .filter(c => c.type !== "hidden" && c.getClientRects().length > 0)
    .map(c => [c.name, c.labels.length]))"""


SCREENSHOTS = os.environ.get("HOMELINE_SCREENSHOTS")  # a folder, to look at the pages


def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)


def tablet_sign_in(page: Page, live_server: LiveServer, resident: Resident) -> None:
    page.goto("/tablet")
    form = page.locator("#login-form")
    form.get_by_label("Facility").select_option(str(live_server.facility_id))
    form.get_by_label("Resident number").fill(resident.number)
    form.get_by_label("PIN").fill(resident.pin)
    form.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Requests to connect").wait_for()


def family_sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/#/login")
    form = page.locator("#login-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="My contacts").wait_for()


def console_sign_in(page: Page, username: str, password: str) -> None:
    from playwright.sync_api import expect  # only the browser tests have Playwright

    page.goto("/console")
    login = page.locator("#login-form")
    login.get_by_label("Username").fill(username)
    login.get_by_label("Password").fill(password)
    login.get_by_role("button", name="Sign in").click()
    expect(page.locator("#whoami")).not_to_be_empty()


def connected_family(live_server: LiveServer, *, username: str, resident: Resident) -> str:
    """A family member (through the API) whose request `resident` has approved; their address."""
    address = f"{username}@example.org"
    live_server.api(
        "POST",
        "/api/v1/accounts",
        {
            "username": username,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "first_name": "Casey",
            "last_name": "Lane",
            "address_line1": "3 Oak Road",
            "city": "Troy",
            "state": "NY",
            "postal_code": "12180",
            "date_of_birth": "1979-02-03",
            "gender": "female",
            "email": address,
            "email_confirm": address,
            "accept_terms": True,
        },
    )
    code = live_server.activation_code(address)
    live_server.api("POST", "/api/v1/accounts/activate", {"email": address, "code": code})
    family = live_server.api(
        "POST",
        "/api/v1/sessions",
        {"username": username, "password": PASSWORD, "session": "bearer"},
    )["token"]
    match = live_server.api(
        "GET", f"/api/v1/residents?facility_id={live_server.facility_id}&q={resident.number}"
    )["residents"][0]
    contact = live_server.api(
        "POST", "/api/v1/contacts", {"resident_id": match["id"]}, token=family
    )
    tablet = live_server.api(
        "POST",
        "/api/v1/tablet/sessions",
        {
            "facility_id": live_server.facility_id,
            "resident_number": resident.number,
            "pin": resident.pin,
        },
    )["token"]
    live_server.api("POST", f"/api/v1/contacts/{contact['id']}/approve", token=tablet)
    return address


@dataclass(frozen=True)
class Scene:
    family_username: str
    family_token: str
    contact_id: int
    admin_token: str


def approved_family(live_server: LiveServer, username: str, resident: Resident) -> Scene:
    connected_family(live_server, username=username, resident=resident)
    token = live_server.api(
        "POST",
        "/api/v1/sessions",
        {"username": username, "password": PASSWORD, "session": "bearer"},
    )["token"]
    contact = live_server.api("GET", "/api/v1/contacts", token=token)["contacts"][0]
    admin = live_server.api(
        "POST",
        "/api/v1/staff/sessions",
        {"username": "admin", "password": "demo-admin-pass", "session": "bearer"},
    )["token"]
    return Scene(username, token, int(contact["id"]), admin)


def live_deposit(live_server: LiveServer, scene: Scene, cents: int) -> None:
    live_server.api(
        "POST",
        "/api/v1/deposits",
        {
            "account": {"type": "wallet"},
            "amount_cents": cents,
            "channel": "online",
            "payment_token": "tok_sandbox_ok",
            "client_id": f"conversation-test-{cents}",
        },
        token=scene.family_token,
    )


def live_upload(
    live_server: LiveServer,
    scene: Scene,
    data: bytes,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> int:
    """An unsent photo uploaded by the scene's family (POST /api/v1/photos, multipart with
    contact_id first, as the family page sends it); its id."""
    boundary = f"homeline-{secrets.token_hex(8)}"
    body = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="contact_id"\r\n\r\n'
            f"{scene.contact_id}\r\n".encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Authorization": f"Bearer {scene.family_token}",
    }
    status, raw = request(live_server.port, "POST", "/api/v1/photos", body, headers)
    if status != 201:
        raise AssertionError(f"POST /api/v1/photos: {status} {raw.decode(errors='replace')}")
    return int(json.loads(raw)["id"])


def message(page: Page, text: str) -> Locator:
    return page.locator("#conv-list > li").filter(has=page.get_by_text(text, exact=True))
