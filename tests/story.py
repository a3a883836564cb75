"""The actors and the scenes the tests share: one place to set the stage, so that no test
module imports from another (tests/test_story_layout.py keeps it that way). Fixtures stay in
the conftest files, which build on what is here.

- The stage: `START`, `PASSWORD`, `FAST_HASHER`, `World`, the test services' settings
  (`TEST_DATABASE_URL`, `TEST_REDIS_URL`, `REQUIRE_SERVICES`, `need_service`) and
  `reset_schema`.
- Actors: `Actor`, `signup_body`, `log_in`, `sign_up_and_activate`, `staff_sign_in`, and
  `assert_error` for the contract's error shape.
- Contacts and messages: `approved_contact`, `fund`, `balance`, `send`, `history`,
  `stored_messages`, `A_SATURDAY_AFTERNOON`; blocks: `post`, `block`, `block_family`.
- Facility rules and review: `INSTANT`, `REVIEW_ALL`, `delay`, `set_policy`, `document`,
  `path_of`, `mark_privileged`, `held_message`, `queue`.
- The event stream and sockets: `WAIT`, `events`, `events_of`, `settled` (the scheduler has
  run what is due), `wait_for_event`, `audit`,
  `ALLOWED_ORIGIN`, `url_of`, `connect`.
- Money: `OK`, `WALLET`, `new_key`, `call`, `deposit`, `connect_family`, `wallet_of`, `trust`,
  `compliant_body`.
- Password resets: `RESET`, `RESET_CONFIRM`, `NEW_PASSWORD`, `request_reset`, `reset_token`,
  `confirm`.
- The command line: `HOMELINE`, `Install`.
- The code's shape: `FORBIDDEN`, `FORBIDDEN_INSIDE`, `imported_modules`, `impure_imports`.
- In the browser (against `tests.liveserver.LiveServer`): `REQUIRE_BROWSER`, `Resident`,
  `MARCUS`, `DANA`, `CONTROL_LABELS`, `shot`, `tablet_sign_in`, `family_sign_in`,
  `console_sign_in`, `connected_family`, `Scene`, `approved_family`, `live_deposit`,
  `message`.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import os
import secrets
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import socketio
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, text, update

from server.appkeys import SCHEDULER
from server.domain.ledger import AccountRef, family_wallet
from server.domain.tariff import DEFAULT_TARIFF
from server.services import ledger
from server.services.context import Services
from server.services.passwords import Hasher
from server.storage.db import Database, create_engine
from server.storage.message_models import Message
from server.storage.models import Base, Contact, LedgerAccount
from tests.fakes import RecordingMailer, activation_code, link_token

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from tests.liveserver import LiveServer


# --- the stage ----------------------------------------------------------------------------


REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
START = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # a Wednesday afternoon
PASSWORD = "correct horse battery"


def need_service(url: str | None, what: str) -> str:
    """The URL, or a skip (a failure in CI, where REQUIRE_SERVICES=1)."""
    if url:
        return url
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in CI but its TEST_*_URL is not set")
    pytest.skip(f"{what} not configured (set {what.upper()}_URL to run)")


async def reset_schema(url: str) -> None:
    db = Database(create_engine(url))
    try:
        async with db.engine.begin() as conn:
            if db.dialect == "postgresql":
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await db.close()


# Cheap argon2id parameters keep the suite fast; production's are checked in test_passwords.
FAST_HASHER = Hasher(time_cost=1, memory_cost=1024)


@dataclass
class World:
    """The demo-like facility every story starts from."""

    facility_id: int
    other_facility_id: int
    residents: dict[str, int]  # resident_number -> id


# --- actors -------------------------------------------------------------------------------


@dataclass
class Actor:
    """A signed-in person: `headers` authenticate as a bearer client."""

    token: str
    principal: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> int:
        return int(self.principal["id"])


def signup_body(
    username: str = "jane", email: str = "jane@example.com", **changes: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": username,
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "first_name": "Jane",
        "last_name": "Reed",
        "address_line1": "12 Elm Street",
        "address_line2": "",
        "city": "Albany",
        "state": "NY",
        "postal_code": "12207",
        "date_of_birth": "1970-04-01",
        "gender": "female",
        "email": email,
        "email_confirm": email,
        "accept_terms": True,
    }
    body.update(changes)
    return body


async def log_in(client: TestClient[Any, Any], path: str, body: dict[str, Any]) -> Actor:
    resp = await client.post(path, json={**body, "session": "bearer"})
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    return Actor(token=data["token"], principal=data["principal"])


async def sign_up_and_activate(
    client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    username: str = "jane",
    email: str = "jane@example.com",
) -> Actor:
    resp = await client.post("/api/v1/accounts", json=signup_body(username, email))
    assert resp.status == 202, await resp.text()
    await services.mail.join()
    code = activation_code(mailer.last_text(email))
    resp = await client.post("/api/v1/accounts/activate", json={"email": email, "code": code})
    assert resp.status == 200, await resp.text()
    return await log_in(client, "/api/v1/sessions", {"username": username, "password": PASSWORD})


async def staff_sign_in(client: TestClient[Any, Any], username: str) -> Actor:
    return await log_in(
        client, "/api/v1/staff/sessions", {"username": username, "password": PASSWORD}
    )


def assert_error(data: dict[str, Any], code: str | None = None) -> None:
    """The contract's error shape."""
    assert set(data) == {"error"}, data
    assert isinstance(data["error"]["message"], str) and data["error"]["message"]
    if code is not None:
        assert data["error"]["code"] == code, data


# --- scenes through the API ---------------------------------------------------------------


A_SATURDAY_AFTERNOON = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)  # 15:00 in New York


async def approved_contact(
    client: TestClient[Any, Any], family: Actor, resident: Actor, world: World
) -> int:
    resp = await client.post(
        "/api/v1/contacts",
        json={"resident_id": world.residents["A1001"]},
        headers=family.headers,
    )
    assert resp.status == 201, await resp.text()
    contact_id = int((await resp.json())["id"])
    resp = await client.post(f"/api/v1/contacts/{contact_id}/approve", headers=resident.headers)
    assert resp.status == 200, await resp.text()
    return contact_id


async def fund(services: Services, target: AccountRef, cents: int) -> None:
    await ledger.do_deposit(
        services,
        target=target,
        amount_cents=cents,
        fee_cents=0,
        idem=ledger.Idempotency("test", f"fund:{target.owner_key}:{cents}", {}),
        facility_id=None,
        reference=None,
        details={"channel": "test"},
    )


async def balance(services: Services, target: AccountRef) -> int:
    async with services.db.read() as tx:
        cents = await tx.scalar(
            select(LedgerAccount.balance_cents).where(LedgerAccount.owner_key == target.owner_key)
        )
    return int(cents or 0)


async def send(
    client: TestClient[Any, Any],
    who: Actor,
    contact_id: int,
    body: str,
    client_id: str,
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        "/api/v1/messages",
        json={"contact_id": contact_id, "body": body, "client_id": client_id},
        headers=who.headers,
    )
    return resp.status, await resp.json()


async def history(client: TestClient[Any, Any], who: Actor, contact_id: int) -> Any:
    resp = await client.get(f"/api/v1/messages?contact_id={contact_id}", headers=who.headers)
    return resp.status, await resp.json()


async def stored_messages(services: Services) -> int:
    async with services.db.read() as tx:
        return int(await tx.scalar(select(func.count(Message.id))) or 0)


async def post(
    client: TestClient[Any, Any], path: str, who: Actor, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(path, json=body, headers=who.headers)
    return resp.status, await resp.json()


async def block(
    client: TestClient[Any, Any],
    who: Actor,
    contact_id: int,
    reason: str = "Threats made during a visit",
    until: str | None = None,
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"reason": reason}
    if until is not None:
        body["until"] = until
    return await post(client, f"/api/v1/contacts/{contact_id}/block", who, body)


async def block_family(
    client: TestClient[Any, Any],
    who: Actor,
    facility_id: int,
    family_account_id: int,
    reason: str = "Smuggling attempt",
    until: str | None = None,
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"family_account_id": family_account_id, "reason": reason}
    if until is not None:
        body["until"] = until
    return await post(client, f"/api/v1/staff/facilities/{facility_id}/blocks", who, body)


INSTANT = {"mode": "instant", "delay_minutes": 0}
REVIEW_ALL = {"mode": "review_all", "delay_minutes": 0}


def delay(minutes: int) -> dict[str, Any]:
    return {"mode": "delay", "delay_minutes": minutes}


async def set_policy(
    client: TestClient[Any, Any],
    admin: Actor,
    facility_id: int,
    *,
    incoming: dict[str, Any] = INSTANT,
    outgoing: dict[str, Any] = INSTANT,
) -> dict[str, Any]:
    resp = await client.put(
        f"/api/v1/staff/facilities/{facility_id}/policy",
        json={"incoming": incoming, "outgoing": outgoing, "reason": "test"},
        headers=admin.headers,
    )
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


def document(**fields: Any) -> dict[str, Any]:
    return {"incoming": INSTANT, "outgoing": INSTANT, **fields}


def path_of(world: World) -> str:
    return f"/api/v1/staff/facilities/{world.facility_id}/policy"


async def mark_privileged(services: Services, contact_id: int) -> None:
    # Marking (with credentials, by a facility admin) arrives with the moderation console;
    # here the flag is set directly to show what it does to messaging.
    async with services.db.transaction() as tx:
        await tx.execute(update(Contact).where(Contact.id == contact_id).values(privileged=True))


async def held_message(
    client: TestClient[Any, Any],
    services: Services,
    family: Actor,
    resident: Actor,
    admin: Actor,
    world: World,
    body: str = "Held for review",
) -> tuple[int, dict[str, Any]]:
    contact_id = await approved_contact(client, family, resident, world)
    await fund(services, family_wallet(family.id), 500)
    await set_policy(client, admin, world.facility_id, incoming=REVIEW_ALL)
    status, sent = await send(client, family, contact_id, body, "held-1")
    assert status == 201 and sent["status"] == "pending_review", sent
    return contact_id, sent


async def queue(client: TestClient[Any, Any], who: Actor) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/staff/review", headers=who.headers)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["items"])


WAIT = 5.0


async def events(client: TestClient[Any, Any], who: Actor, since: int = 0) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/events?since={since}", headers=who.headers)
    assert resp.status == 200
    return list((await resp.json())["events"])


async def events_of(
    client: TestClient[Any, Any], who: Actor, kind: str, message_id: int
) -> list[dict[str, Any]]:
    return [
        e
        for e in await events(client, who)
        if e["type"] == kind and e["data"].get("id") == message_id
    ]


async def settled(client: TestClient[Any, Any]) -> None:
    """Return once the app's scheduler has run everything due on the clock now."""
    async with asyncio.timeout(WAIT):
        await client.app[SCHEDULER].settled()


async def wait_for_event(
    client: TestClient[Any, Any], who: Actor, kind: str, message_id: int
) -> dict[str, Any]:
    """The event, once the app's scheduler has run everything due on the clock now."""
    await settled(client)
    found = await events_of(client, who, kind, message_id)
    assert found, f"no {kind} for message {message_id}"
    return found[0]


async def audit(client: TestClient[Any, Any], admin: Actor, action: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/staff/audit?action={action}", headers=admin.headers)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["entries"])


ALLOWED_ORIGIN = "http://127.0.0.1:8080"


def url_of(app_client: TestClient[Any, Any]) -> str:
    return str(app_client.make_url("/"))


async def connect(
    sio: socketio.AsyncClient,
    app_client: TestClient[Any, Any],
    *,
    token: str | None,
    headers: dict[str, str] | None = None,
) -> None:
    await sio.connect(
        url_of(app_client),
        auth={"token": token} if token is not None else None,
        headers=headers or {},
        transports=["websocket"],
        wait_timeout=WAIT,
    )


OK = "tok_sandbox_ok"
WALLET = {"type": "wallet"}


def new_key() -> str:
    return f"key-{secrets.token_hex(8)}"


async def call(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    actor: Actor,
    body: dict[str, Any] | None = None,
    *,
    key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    headers = dict(actor.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    resp = await client.request(method, path, json=body, headers=headers)
    data: dict[str, Any] = await resp.json()
    return resp.status, data


async def deposit(
    client: TestClient[Any, Any],
    actor: Actor,
    account: dict[str, Any],
    amount_cents: Any,
    *,
    token: str = OK,
    channel: str = "online",
    key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    body = {
        "account": account,
        "amount_cents": amount_cents,
        "channel": channel,
        "payment_token": token,
    }
    return await call(
        client, "POST", "/api/v1/deposits", actor, body, key=key if key is not None else new_key()
    )


async def connect_family(
    client: TestClient[Any, Any], family: Actor, resident: Actor, *, approve: bool = True
) -> int:
    """The family member asks to connect with the resident, who approves; the contact id."""
    status, contact = await call(
        client, "POST", "/api/v1/contacts", family, {"resident_id": resident.id}
    )
    assert status == 201, contact
    if approve:
        status, _ = await call(
            client, "POST", f"/api/v1/contacts/{contact['id']}/approve", resident
        )
        assert status == 200
    return int(contact["id"])


async def wallet_of(client: TestClient[Any, Any], actor: Actor) -> dict[str, Any]:
    status, data = await call(client, "GET", "/api/v1/wallet", actor)
    assert status == 200, data
    return data


def trust(world: World, **changes: Any) -> dict[str, Any]:
    account = {
        "type": "trust",
        "facility_id": world.facility_id,
        "resident_number": "A1001",
        "first_name": "Marcus",
        "last_name": "Reed",
    }
    account.update(changes)
    return account


RESET = "/api/v1/password-resets"
RESET_CONFIRM = "/api/v1/password-resets/confirm"
NEW_PASSWORD = "a brand new passphrase"


async def request_reset(client: TestClient[Any, Any], email: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post(RESET, json={"email": email})
    return resp.status, await resp.json()


async def reset_token(
    client: TestClient[Any, Any], mailer: RecordingMailer, services: Services
) -> str:
    status, _ = await request_reset(client, "jane@example.com")
    assert status == 202
    await services.mail.join()
    text_ = mailer.last_text("jane@example.com")
    assert "http://127.0.0.1:8080/reset-password?token=" in text_
    return link_token(text_)


async def confirm(
    client: TestClient[Any, Any], token: str, password: str = NEW_PASSWORD
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(RESET_CONFIRM, json={"token": token, "password": password})
    return resp.status, await resp.json()


def compliant_body() -> dict[str, Any]:
    """The default tariff brought within the FCC 2024 caps for a prison."""
    body = copy.deepcopy(DEFAULT_TARIFF.to_json())
    body["remote_visit_cents_per_minute"] = 16
    body["wallet_deposit_fee_cents"] = 0
    body["calling_deposit_fee_cents"] = {ch: 0 for ch in body["calling_deposit_fee_cents"]}
    return body


# --- the command line ---------------------------------------------------------------------


HOMELINE = Path(sys.executable).parent / "homeline"


@dataclass
class Install:
    """A Homeline installation: its var/ folder and SQLite database."""

    var: Path

    @property
    def db_path(self) -> Path:
        return self.var / "homeline.db"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABASE_", "REDIS_", "SMTP_", "HOMELINE_", "TEST_"))
        }
        env["HOMELINE_VAR"] = str(self.var)
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{self.db_path}"
        return env

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HOMELINE), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.var.parent,
            timeout=60,
        )

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(sql, params).fetchall()


# --- the code's shape ---------------------------------------------------------------------


FORBIDDEN = ("aiohttp", "socketio", "sqlalchemy", "redis", "PIL", "aiortc", "av")
FORBIDDEN_INSIDE = ("services", "storage", "http", "sockets")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def impure_imports(package: str) -> list[str]:
    found = []
    for path in sorted((Path(__file__).parent.parent / package / "domain").glob("*.py")):
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] in FORBIDDEN or any(p in FORBIDDEN_INSIDE for p in parts[1:]):
                found.append(f"{path.name}: {name}")
    return found


# --- in the browser -----------------------------------------------------------------------


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


def message(page: Page, text: str) -> Locator:
    return page.locator("#conv-list > li").filter(has=page.get_by_text(text, exact=True))
