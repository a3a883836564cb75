"""Who may do what: the README's table is the module's table, every authenticated route lets
in the kinds of account its action allows, and a walk through the API takes every action as
every role (family, resident, reviewer, facility admin, support of one facility, global
support): allowed is a success, refused is 403."""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from server.app import build_api
from server.domain.ledger import family_wallet
from server.domain.permissions import (
    DESCRIPTION,
    STAFF_ROLES,
    TABLE,
    Action,
    Role,
    actions_of,
    allowed,
    serves,
    staff_role,
)
from server.services.context import Principal, PrincipalKind, Services, StaffRole
from server.services.roster import RosterRow, do_add_staff, do_import_roster
from tests.story import PASSWORD, REVIEW_ALL, Actor, World, compliant_body, fund, log_in, picture
from tests.story.photos import photo_form

README = Path(__file__).resolve().parent.parent / "README.md"
COLUMNS = {
    "family": Role.FAMILY,
    "resident": Role.RESIDENT,
    "reviewer": Role.REVIEWER,
    "facility admin": Role.FACILITY_ADMIN,
    "support (facility)": Role.SUPPORT,
    "global support": Role.GLOBAL_SUPPORT,
}
Client = TestClient[Any, Any]


# --- the table itself ------------------------------------------------------------------------


def readme_table() -> dict[Action, frozenset[Role]]:
    """The table under the README's "Who may do what": action -> the roles marked yes."""
    text = README.read_text()
    start = text.index("\n## Who may do what\n")
    end = text.find("\n## ", start + 1)
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text[start:end].splitlines()
        if line.startswith("|")
    ]
    header, rows = rows[0], rows[2:]  # the second row is the alignment line
    assert header[0] == "action" and [COLUMNS[h] for h in header[1:]] == list(COLUMNS.values())
    table: dict[Action, frozenset[Role]] = {}
    for cells in rows:
        m = re.fullmatch(r"`([a-z._]+)`: (.+)", cells[0])
        assert m is not None, cells[0]
        action = Action(m.group(1))
        assert m.group(2) == DESCRIPTION[action], action
        assert action not in table, f"{action} twice"
        assert set(cells[1:]) <= {"yes", "no"}, cells
        table[action] = frozenset(
            role for role, cell in zip(COLUMNS.values(), cells[1:], strict=True) if cell == "yes"
        )
    return table


def markdown_table() -> str:
    """The README's table as the module says it should be (to paste, when they differ)."""
    lines = [
        "| action | " + " | ".join(COLUMNS) + " |",
        "| --- |" + " :-: |" * len(COLUMNS),
    ]
    for action in Action:
        marks = " | ".join("yes" if allowed(role, action) else "no" for role in COLUMNS.values())
        lines.append(f"| `{action.value}`: {DESCRIPTION[action]} | {marks} |")
    return "\n".join(lines)


def test_the_readme_table_is_the_permission_table() -> None:
    assert readme_table() == dict(TABLE), "README's table is out of date:\n" + markdown_table()
    assert list(readme_table()) == list(Action), "the README lists the actions in table order"


def test_every_action_has_a_row_and_a_description() -> None:
    assert set(TABLE) == set(Action) == set(DESCRIPTION)
    assert actions_of(None) == []
    assert all(not allowed(None, action) for action in Action)


def test_blocks_are_for_facility_admins_and_global_support_only() -> None:
    for action in (Action.CONTACT_BLOCK, Action.FAMILY_BLOCK):
        assert TABLE[action] == {Role.FACILITY_ADMIN, Role.GLOBAL_SUPPORT}


def test_staff_act_for_their_own_facility_and_global_support_for_every_one() -> None:
    for role in STAFF_ROLES - {Role.GLOBAL_SUPPORT}:
        assert serves(role, own_facility_id=3, facility_id=3)
        assert not serves(role, own_facility_id=3, facility_id=4)
        assert not serves(role, own_facility_id=None, facility_id=3)
    assert serves(Role.GLOBAL_SUPPORT, own_facility_id=None, facility_id=4)
    for role in (Role.FAMILY, Role.RESIDENT, None):
        assert not serves(role, own_facility_id=3, facility_id=3)


def test_a_staff_members_role_in_the_table() -> None:
    assert staff_role("support", facility_id=None) is Role.GLOBAL_SUPPORT
    assert staff_role("support", facility_id=2) is Role.SUPPORT
    assert staff_role("reviewer", facility_id=2) is Role.REVIEWER
    assert staff_role("facility_admin", facility_id=2) is Role.FACILITY_ADMIN
    assert staff_role("janitor", facility_id=2) is None
    assert staff_role(None, facility_id=2) is None
    staff = Principal(PrincipalKind.STAFF, 1, "S", facility_id=None, role=StaffRole.SUPPORT)
    assert staff.acting_role is Role.GLOBAL_SUPPORT and staff.may(Action.FAMILY_BLOCK)
    family = Principal(PrincipalKind.FAMILY, 1, "F")
    assert family.acting_role is Role.FAMILY and not family.may_staff(1)


# --- the routes let in the kinds of account their action allows -----------------------------

# Every authenticated route and the action it takes (None: the caller's own session, account
# or event stream, which every signed-in person has). A new route must be added here.
ROUTE_ACTIONS: dict[tuple[str, str], Action | None] = {
    ("GET", "/api/v1/accounts/me"): None,
    ("DELETE", "/api/v1/sessions/current"): None,
    ("GET", "/api/v1/events"): None,
    ("POST", "/api/v1/contacts"): Action.CONTACT_REQUEST,
    ("GET", "/api/v1/contacts"): Action.CONTACT_READ,
    ("GET", "/api/v1/contacts/{id}"): Action.CONTACT_READ,
    ("POST", "/api/v1/contacts/{id}/approve"): Action.CONTACT_ANSWER,
    ("POST", "/api/v1/contacts/{id}/deny"): Action.CONTACT_ANSWER,
    ("POST", "/api/v1/contacts/{id}/remove"): Action.CONTACT_REMOVE,
    ("POST", "/api/v1/contacts/{id}/block"): Action.CONTACT_BLOCK,
    ("POST", "/api/v1/contacts/{id}/unblock"): Action.CONTACT_BLOCK,
    ("POST", "/api/v1/messages"): Action.MESSAGE_SEND,
    ("GET", "/api/v1/messages"): Action.MESSAGE_SEND,
    ("GET", "/api/v1/messages/quote"): Action.MESSAGE_SEND,
    ("POST", "/api/v1/messages/read"): Action.MESSAGE_SEND,
    ("GET", "/api/v1/messages/unread"): Action.MESSAGE_SEND,
    ("GET", "/api/v1/messages/export"): Action.MESSAGE_SEND,
    ("DELETE", "/api/v1/messages/{id}"): Action.MESSAGE_SEND,
    ("POST", "/api/v1/messages/{id}/appeal"): Action.MESSAGE_APPEAL,
    ("POST", "/api/v1/photos"): Action.PHOTO_SEND,
    ("GET", "/api/v1/photos"): Action.MESSAGE_SEND,
    ("GET", "/api/v1/photos/{id}"): None,
    ("GET", "/api/v1/photos/{id}/thumbnail"): None,
    ("DELETE", "/api/v1/photos/{id}"): Action.MESSAGE_SEND,
    ("GET", "/api/v1/wallet"): Action.WALLET_READ,
    ("GET", "/api/v1/wallet/statement"): Action.WALLET_READ,
    ("POST", "/api/v1/deposits/quote"): Action.DEPOSIT_PAY,
    ("POST", "/api/v1/deposits"): Action.DEPOSIT_PAY,
    ("POST", "/api/v1/staff/deposits"): Action.DEPOSIT_RECORD,
    ("GET", "/api/v1/staff/facilities/{id}/tariff"): Action.TARIFF_READ,
    ("PUT", "/api/v1/staff/facilities/{id}/tariff"): Action.TARIFF_CHANGE,
    ("GET", "/api/v1/staff/accounts"): Action.CARE_READ,
    ("GET", "/api/v1/staff/accounts/{id}"): Action.CARE_READ,
    ("GET", "/api/v1/staff/accounts/{id}/statement"): Action.CARE_READ,
    ("POST", "/api/v1/staff/accounts/{id}/sessions/end"): Action.ACCOUNT_SIGN_OUT,
    ("POST", "/api/v1/staff/refunds"): Action.REFUND,
    ("GET", "/api/v1/staff/refunds"): Action.REFUND,
    ("GET", "/api/v1/staff/refunds/{id}"): Action.REFUND,
    ("POST", "/api/v1/staff/refunds/{id}/approve"): Action.REFUND,
    ("POST", "/api/v1/staff/refunds/{id}/reject"): Action.REFUND,
    ("GET", "/api/v1/staff/audit"): Action.AUDIT_READ,
    ("GET", "/api/v1/staff/facilities/{id}/policy"): Action.POLICY_READ,
    ("PUT", "/api/v1/staff/facilities/{id}/policy"): Action.POLICY_CHANGE,
    ("GET", "/api/v1/staff/review"): Action.REVIEW,
    ("POST", "/api/v1/staff/review/{id}/approve"): Action.REVIEW,
    ("POST", "/api/v1/staff/review/{id}/reject"): Action.REVIEW,
    ("GET", "/api/v1/staff/messages"): Action.CONVERSATION_READ,
    ("GET", "/api/v1/staff/appeals"): Action.APPEAL_READ,
    ("POST", "/api/v1/staff/appeals/{id}/decide"): Action.APPEAL_DECIDE,
    ("POST", "/api/v1/staff/contacts/{id}/privilege"): Action.PRIVILEGE_MANAGE,
    ("DELETE", "/api/v1/staff/contacts/{id}/privilege"): Action.PRIVILEGE_MANAGE,
    ("POST", "/api/v1/staff/facilities/{id}/blocks"): Action.FAMILY_BLOCK,
    ("GET", "/api/v1/staff/facilities/{id}/blocks"): Action.FAMILY_BLOCK,
    ("DELETE", "/api/v1/staff/facilities/{id}/blocks/{block_id}"): Action.FAMILY_BLOCK,
    ("GET", "/api/v1/staff/facilities/{id}/reports/messages"): Action.REPORT_READ,
}
KIND_OF = {
    Role.FAMILY: "family",
    Role.RESIDENT: "resident",
    **{role: "staff" for role in STAFF_ROLES},
}


def test_every_route_lets_in_the_kinds_of_account_its_action_allows() -> None:
    """The first gate of a route is the kind of account (family, resident, staff): it must be
    exactly the kinds that have a role the table allows, so the table decides the rest."""
    served = {(e.method, e.path): e.auth for e in build_api().endpoints if e.auth is not None}
    assert set(served) == set(ROUTE_ACTIONS), "a route without an action in ROUTE_ACTIONS"
    for route, auth in served.items():
        action = ROUTE_ACTIONS[route]
        kinds = {"family", "resident", "staff"} if auth == "any" else set(auth.split("|"))
        if action is None:
            assert auth == "any" or route == ("GET", "/api/v1/accounts/me"), route
            continue
        assert kinds == {KIND_OF[role] for role in TABLE[action]}, (route, action)


# --- the walk: every action, as every role, through the API -----------------------------------


@dataclass
class Walk:
    """Jane Reed (family) at Riverside, its staff of every role, and a supply of residents
    who each sign in on a tablet when an attempt needs a contact of its own."""

    client: Client
    services: Services
    world: World
    family: Actor
    resident: Actor
    tom: Actor  # the family account customer care signs out (never used to act)
    staff: dict[Role, Actor]
    fresh: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    keys: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def who(self, role: Role, resident: Actor | None = None) -> Actor:
        if role is Role.FAMILY:
            return self.family
        if role is Role.RESIDENT:
            return resident or self.resident
        return self.staff[role]

    def key(self) -> str:
        return f"walk-{next(self.keys)}"

    async def call(
        self, method: str, path: str, who: Actor, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        resp = await self.client.request(method, path, json=body, headers=who.headers)
        data = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, data

    async def ok(
        self, method: str, path: str, who: Actor, body: dict[str, Any] | None = None
    ) -> Any:
        status, data = await self.call(method, path, who, body)
        assert 200 <= status < 300, (method, path, status, data)
        return data

    async def new_resident(self) -> Actor:
        n = next(self.fresh)
        return await log_in(
            self.client,
            "/api/v1/tablet/sessions",
            {"facility_id": self.world.facility_id, "resident_number": f"W{n:03d}", "pin": PIN},
        )

    async def contact(self, resident: Actor, *, approve: bool = True) -> int:
        made = await self.ok("POST", "/api/v1/contacts", self.family, {"resident_id": resident.id})
        if approve:
            await self.ok("POST", f"/api/v1/contacts/{made['id']}/approve", resident)
        return int(made["id"])

    async def rejected(self, sender: Actor, contact_id: int) -> int:
        """A message of `sender`'s on the contact, held (review-all) and rejected."""
        sent = await self.ok(
            "POST",
            "/api/v1/messages",
            sender,
            {"contact_id": contact_id, "body": "Held for review", "client_id": self.key()},
        )
        admin = self.staff[Role.FACILITY_ADMIN]
        await self.ok(
            "POST", f"/api/v1/staff/review/{sent['id']}/reject", admin, {"reason": "Not allowed"}
        )
        return int(sent["id"])

    async def appeal(self) -> int:
        resident = await self.new_resident()
        message_id = await self.rejected(self.family, await self.contact(resident))
        await self.ok(
            "POST", f"/api/v1/messages/{message_id}/appeal", self.family, {"text": "Please"}
        )
        admin = self.staff[Role.FACILITY_ADMIN]
        items = (await self.ok("GET", "/api/v1/staff/appeals", admin))["items"]
        return int(next(i["id"] for i in items if i["message"]["id"] == message_id))

    @property
    def facility(self) -> str:
        return f"/api/v1/staff/facilities/{self.world.facility_id}"


PIN = "4826"
Attempt = Callable[[Walk, Role], Awaitable[int]]


async def _contact_request(w: Walk, role: Role) -> int:
    resident = await w.new_resident()
    body = {"resident_id": resident.id, "relationship": "friend"}
    return (await w.call("POST", "/api/v1/contacts", w.who(role, resident), body))[0]


async def _contact_answer(w: Walk, role: Role) -> int:
    resident = await w.new_resident()
    contact_id = await w.contact(resident, approve=False)
    return (await w.call("POST", f"/api/v1/contacts/{contact_id}/approve", w.who(role, resident)))[
        0
    ]


async def _contact_remove(w: Walk, role: Role) -> int:
    resident = await w.new_resident()
    contact_id = await w.contact(resident)
    return (await w.call("POST", f"/api/v1/contacts/{contact_id}/remove", w.who(role, resident)))[0]


async def _contact_read(w: Walk, role: Role) -> int:
    resident = await w.new_resident()
    contact_id = await w.contact(resident)
    return (await w.call("GET", f"/api/v1/contacts/{contact_id}", w.who(role, resident)))[0]


async def _message_send(w: Walk, role: Role) -> int:
    resident = await w.new_resident()
    body = {"contact_id": await w.contact(resident), "body": "Hello", "client_id": w.key()}
    return (await w.call("POST", "/api/v1/messages", w.who(role, resident), body))[0]


async def _message_appeal(w: Walk, role: Role) -> int:
    resident = await w.new_resident()
    contact_id = await w.contact(resident)
    sender = resident if role is Role.RESIDENT else w.family
    message_id = await w.rejected(sender, contact_id)
    path = f"/api/v1/messages/{message_id}/appeal"
    return (await w.call("POST", path, w.who(role, resident), {"text": "Please look again"}))[0]


async def _photo_send(w: Walk, role: Role) -> int:
    resident = await w.new_resident()
    form = photo_form(await w.contact(resident), picture())
    resp = await w.client.post("/api/v1/photos", data=form, headers=w.who(role, resident).headers)
    return resp.status


async def _wallet_read(w: Walk, role: Role) -> int:
    return (await w.call("GET", "/api/v1/wallet", w.who(role)))[0]


async def _deposit_pay(w: Walk, role: Role) -> int:
    body = {"account": {"type": "wallet"}, "amount_cents": 2000, "channel": "online"}
    return (await w.call("POST", "/api/v1/deposits/quote", w.who(role), body))[0]


async def _conversation_read(w: Walk, role: Role) -> int:
    resident = await w.new_resident()
    contact_id = await w.contact(resident)
    path = f"/api/v1/staff/messages?contact_id={contact_id}"
    return (await w.call("GET", path, w.who(role, resident)))[0]


async def _review(w: Walk, role: Role) -> int:
    return (await w.call("GET", "/api/v1/staff/review", w.who(role)))[0]


async def _policy_read(w: Walk, role: Role) -> int:
    return (await w.call("GET", f"{w.facility}/policy", w.who(role)))[0]


async def _policy_change(w: Walk, role: Role) -> int:
    body = {"incoming": REVIEW_ALL, "outgoing": REVIEW_ALL, "reason": "walk"}
    return (await w.call("PUT", f"{w.facility}/policy", w.who(role), body))[0]


async def _tariff_read(w: Walk, role: Role) -> int:
    return (await w.call("GET", f"{w.facility}/tariff", w.who(role)))[0]


async def _tariff_change(w: Walk, role: Role) -> int:
    return (await w.call("PUT", f"{w.facility}/tariff", w.who(role), compliant_body()))[0]


async def _report_read(w: Walk, role: Role) -> int:
    return (await w.call("GET", f"{w.facility}/reports/messages", w.who(role)))[0]


async def _appeal_read(w: Walk, role: Role) -> int:
    return (await w.call("GET", "/api/v1/staff/appeals", w.who(role)))[0]


async def _appeal_decide(w: Walk, role: Role) -> int:
    path = f"/api/v1/staff/appeals/{await w.appeal()}/decide"
    body = {"decision": "uphold", "reason": "It stays rejected"}
    return (await w.call("POST", path, w.who(role), body))[0]


async def _privilege_manage(w: Walk, role: Role) -> int:
    resident = await w.new_resident()
    path = f"/api/v1/staff/contacts/{await w.contact(resident)}/privilege"
    body = {"kind": "abuse_line", "organisation": "Safe Horizon"}
    return (await w.call("POST", path, w.who(role, resident), body))[0]


async def _contact_block(w: Walk, role: Role) -> int:
    resident = await w.new_resident()
    path = f"/api/v1/contacts/{await w.contact(resident)}/block"
    return (await w.call("POST", path, w.who(role, resident), {"reason": "Threats made"}))[0]


async def _family_block(w: Walk, role: Role) -> int:
    who = w.who(role)
    body = {"family_account_id": w.family.id, "reason": "Smuggling attempt"}
    status, made = await w.call("POST", f"{w.facility}/blocks", who, body)
    if status == 201:  # lifted again at once, for the next role and the rest of the walk
        await w.ok("DELETE", f"{w.facility}/blocks/{made['id']}", who, {"reason": "Cleared"})
    return status


async def _audit_read(w: Walk, role: Role) -> int:
    return (await w.call("GET", "/api/v1/staff/audit", w.who(role)))[0]


async def _care_read(w: Walk, role: Role) -> int:
    return (await w.call("GET", f"/api/v1/staff/accounts/{w.family.id}", w.who(role)))[0]


async def _account_sign_out(w: Walk, role: Role) -> int:
    path = f"/api/v1/staff/accounts/{w.tom.id}/sessions/end"
    return (await w.call("POST", path, w.who(role), {"reason": "Lost phone"}))[0]


async def _refund(w: Walk, role: Role) -> int:
    body = {
        "family_account_id": w.family.id,
        "kind": "credit",
        "amount_cents": 5,
        "reason": "Goodwill",
        "client_id": w.key(),
    }
    return (await w.call("POST", "/api/v1/staff/refunds", w.who(role), body))[0]


async def _deposit_record(w: Walk, role: Role) -> int:
    body = {
        "account": {"type": "wallet"},
        "family_account_id": w.family.id,
        "amount_cents": 2500,
        "channel": "mail",
        "reference": f"MO-{w.key()}",
        "client_id": w.key(),
    }
    return (await w.call("POST", "/api/v1/staff/deposits", w.who(role), body))[0]


# One representative request for each action.
ATTEMPTS: dict[Action, Attempt] = {
    Action.CONTACT_REQUEST: _contact_request,
    Action.CONTACT_ANSWER: _contact_answer,
    Action.CONTACT_REMOVE: _contact_remove,
    Action.CONTACT_READ: _contact_read,
    Action.MESSAGE_SEND: _message_send,
    Action.MESSAGE_APPEAL: _message_appeal,
    Action.PHOTO_SEND: _photo_send,
    Action.WALLET_READ: _wallet_read,
    Action.DEPOSIT_PAY: _deposit_pay,
    Action.CONVERSATION_READ: _conversation_read,
    Action.REVIEW: _review,
    Action.POLICY_READ: _policy_read,
    Action.POLICY_CHANGE: _policy_change,
    Action.TARIFF_READ: _tariff_read,
    Action.TARIFF_CHANGE: _tariff_change,
    Action.REPORT_READ: _report_read,
    Action.APPEAL_READ: _appeal_read,
    Action.APPEAL_DECIDE: _appeal_decide,
    Action.PRIVILEGE_MANAGE: _privilege_manage,
    Action.CONTACT_BLOCK: _contact_block,
    Action.FAMILY_BLOCK: _family_block,
    Action.AUDIT_READ: _audit_read,
    Action.CARE_READ: _care_read,
    Action.ACCOUNT_SIGN_OUT: _account_sign_out,
    Action.REFUND: _refund,
    Action.DEPOSIT_RECORD: _deposit_record,
}
FRESH_RESIDENTS = 80


async def test_the_api_walks_the_permission_table(
    app_client: Client,
    services: Services,
    world: World,
    family: Actor,
    other_family: Actor,
    resident: Actor,
    reviewer: Actor,
    facility_admin: Actor,
    support: Actor,
) -> None:
    """Every action as every role: a role the table allows succeeds (2xx), any other gets 403.
    The first mismatch does not hide the others: all are listed."""
    assert set(ATTEMPTS) == set(Action)
    await do_import_roster(
        services,
        facility_id=world.facility_id,
        rows=[
            RosterRow(f"W{n:03d}", "Walk", f"Resident{n}", date(1990, 1, 1), "W-1", PIN)
            for n in range(1, FRESH_RESIDENTS + 1)
        ],
    )
    await do_add_staff(
        services,
        username="desk",
        password=PASSWORD,
        display_name="Desk Support",
        role=StaffRole.SUPPORT,
        facility_id=world.facility_id,
    )
    desk = await log_in(
        app_client, "/api/v1/staff/sessions", {"username": "desk", "password": PASSWORD}
    )
    staff = {
        Role.REVIEWER: reviewer,
        Role.FACILITY_ADMIN: facility_admin,
        Role.SUPPORT: desk,
        Role.GLOBAL_SUPPORT: support,
    }
    walk = Walk(app_client, services, world, family, resident, other_family, staff)
    await fund(services, family_wallet(family.id), 100_000)
    # Families are staff's business once they have a contact at the facility.
    await walk.contact(resident)
    await walk.ok(
        "POST", "/api/v1/contacts", other_family, {"resident_id": world.residents["A1002"]}
    )
    await _policy_change(walk, Role.FACILITY_ADMIN)  # every message is held: appeals need it

    answers: dict[tuple[Action, Role], int] = {}
    for action, attempt in ATTEMPTS.items():
        for role in Role:
            answers[action, role] = await attempt(walk, role)
    wrong = [
        f"{action.value:<18} {role.value:<15} answered {status}, "
        f"expected {'2xx' if allowed(role, action) else 403}"
        for (action, role), status in answers.items()
        if (200 <= status < 300) != allowed(role, action)
        or (not allowed(role, action) and status != 403)
    ]
    assert not wrong, "\n".join(wrong)
