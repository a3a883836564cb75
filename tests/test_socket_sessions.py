"""A socket lives no longer than its session: every way a session ends (log out, password
reset, customer care ending it, idle and absolute expiry) disconnects its sockets in every
namespace within a second, and an ended session's socket gets no work done even before that.
Every event is answered, bad input with an error ack. (The same across two server processes
is in test_processes.py.)"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient
from sqlalchemy import delete, update

from server.config import Config
from server.services.context import Services
from server.services.tokens import digest
from server.storage.models import FamilyAccount, Session
from tests.fakes import FrozenClock, RecordingMailer
from tests.story import (
    PASSWORD,
    TEST_REDIS_URL,
    Actor,
    World,
    approved_contact,
    block,
    block_family,
    confirm,
    log_in,
    need_service,
    reset_token,
    settled,
)

ORIGIN = "http://127.0.0.1:8080"
# The promise is "within a second"; the wait allows for a busy test machine but a socket that
# is never disconnected fails.
WITHIN = 1.0
IDLE = 1800
LIFETIME = 3600


@pytest.fixture(params=["in_process", "redis"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    redis_url = None
    if request.param == "redis":
        redis_url = need_service(TEST_REDIS_URL, "test_redis")
    return Config(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/homeline.db",
        redis_url=redis_url,
        # Keys and channels of this test's own: Redis is shared with other tests and runs.
        redis_prefix=f"homeline-test-{secrets.token_hex(6)}",
        var_dir=tmp_path / "var",
        secret_key="test-secret",
        public_url=ORIGIN,
        session_idle_seconds=IDLE,
        session_max_seconds=LIFETIME,
    )


class Watched:
    """A connected socket.io client that notes why and when it was disconnected."""

    def __init__(self, namespaces: tuple[str, ...]) -> None:
        self.client = socketio.AsyncClient(reconnection=False, request_timeout=1)
        self.reasons: list[str] = []
        self.gone = asyncio.Event()

        async def on_ended(data: dict[str, Any]) -> None:
            self.reasons.append(data["reason"])

        still = set(namespaces)

        def on_disconnect_of(namespace: str) -> Callable[..., Awaitable[None]]:
            async def on_disconnect(*_: Any) -> None:
                still.discard(namespace)
                if not still:
                    self.gone.set()

            return on_disconnect

        for namespace in namespaces:
            self.client.on("session_ended", on_ended, namespace=namespace)
            self.client.on("disconnect", on_disconnect_of(namespace), namespace=namespace)

    async def call(self, event: str, data: Any, *, namespace: str = "/") -> Any:
        return await self.client.call(event, data, namespace=namespace, timeout=5)

    async def wait_gone(self, *, within: float = WITHIN) -> None:
        await asyncio.wait_for(self.gone.wait(), within + 1.0)


@pytest.fixture
async def watch(
    app_client: TestClient[Any, Any],
) -> AsyncIterator[Callable[..., Awaitable[Watched]]]:
    opened: list[Watched] = []

    async def connect(who: Actor, *, namespaces: tuple[str, ...] = ("/",)) -> Watched:
        watched = Watched(namespaces)
        await watched.client.connect(
            str(app_client.make_url("/")),
            auth={"token": who.token},
            headers={"Origin": ORIGIN},
            transports=["websocket"],
            namespaces=list(namespaces),
            wait_timeout=5,
        )
        opened.append(watched)
        return watched

    yield connect
    for watched in opened:
        await watched.client.disconnect()


async def assert_disconnected_within_a_second(watched: Watched, reason: str) -> None:
    started = asyncio.get_running_loop().time()
    await watched.wait_gone()
    took = asyncio.get_running_loop().time() - started
    assert took <= WITHIN + 0.5, f"disconnected after {took:.2f} s"
    assert not watched.client.connected
    assert reason in watched.reasons, watched.reasons


async def end_sessions(
    client: TestClient[Any, Any], staff: Actor, family: Actor, reason: str
) -> Any:
    """Customer care signs `family` out everywhere."""
    return await client.post(
        f"/api/v1/staff/accounts/{family.id}/sessions/end",
        json={"reason": reason},
        headers=staff.headers,
    )


# --- each way a session ends ----------------------------------------------------------------


async def test_log_out_disconnects_the_sessions_socket(
    app_client: TestClient[Any, Any], family: Actor, watch: Callable[..., Awaitable[Watched]]
) -> None:
    jane = await watch(family)
    resp = await app_client.delete("/api/v1/sessions/current", headers=family.headers)
    assert resp.status == 204
    await assert_disconnected_within_a_second(jane, "signed_out")


async def test_log_out_leaves_the_accounts_other_sessions_connected(
    app_client: TestClient[Any, Any], family: Actor, watch: Callable[..., Awaitable[Watched]]
) -> None:
    phone = await log_in(app_client, "/api/v1/sessions", {"username": "jane", "password": PASSWORD})
    on_laptop, on_phone = await watch(family), await watch(phone)
    await app_client.delete("/api/v1/sessions/current", headers=family.headers)
    await assert_disconnected_within_a_second(on_laptop, "signed_out")
    assert on_phone.client.connected
    assert "last_seq" in await on_phone.call("sync", {"since": 0})


async def test_password_reset_disconnects_every_socket_of_the_account(
    app_client: TestClient[Any, Any],
    family: Actor,
    mailer: RecordingMailer,
    services: Services,
    watch: Callable[..., Awaitable[Watched]],
) -> None:
    phone = await log_in(app_client, "/api/v1/sessions", {"username": "jane", "password": PASSWORD})
    on_laptop, on_phone = await watch(family), await watch(phone)
    token = await reset_token(app_client, mailer, services)
    status, _ = await confirm(app_client, token)
    assert status == 200
    await assert_disconnected_within_a_second(on_laptop, "password_reset")
    await assert_disconnected_within_a_second(on_phone, "password_reset")


async def test_customer_care_ending_a_familys_sessions_disconnects_their_sockets(
    app_client: TestClient[Any, Any],
    family: Actor,
    support: Actor,
    watch: Callable[..., Awaitable[Watched]],
) -> None:
    jane = await watch(family)
    resp = await end_sessions(app_client, support, family, "Reported a lost phone")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["ended"] == 1
    await assert_disconnected_within_a_second(jane, "ended_by_staff")
    resp = await app_client.get("/api/v1/wallet", headers=family.headers)
    assert resp.status == 401
    audit = await app_client.get(
        "/api/v1/staff/audit?action=account.sessions_ended", headers=support.headers
    )
    entries = (await audit.json())["entries"]
    assert [(e["target_id"], e["reason"]) for e in entries] == [
        (family.id, "Reported a lost phone")
    ]


async def test_a_reviewer_cannot_end_a_familys_sessions(
    app_client: TestClient[Any, Any],
    family: Actor,
    reviewer: Actor,
    watch: Callable[..., Awaitable[Watched]],
) -> None:
    jane = await watch(family)
    resp = await end_sessions(app_client, reviewer, family, "Curious")
    assert resp.status == 403
    assert jane.client.connected
    assert (await app_client.get("/api/v1/wallet", headers=family.headers)).status == 200


async def test_idle_session_disconnects_its_socket_when_it_runs_out(
    family: Actor, clock: FrozenClock, watch: Callable[..., Awaitable[Watched]]
) -> None:
    jane = await watch(family)
    # Passive traffic (sync, acks) is not use: it does not keep an idle session alive.
    await jane.call("sync", {"since": 0})
    clock.advance(seconds=IDLE - 1)
    await jane.call("ack", {"seq": 0})
    assert jane.client.connected
    clock.advance(seconds=1)
    await assert_disconnected_within_a_second(jane, "expired")


async def test_session_used_on_the_socket_stays_alive_past_the_idle_time(
    app_client: TestClient[Any, Any],
    family: Actor,
    clock: FrozenClock,
    watch: Callable[..., Awaitable[Watched]],
) -> None:
    jane = await watch(family)
    clock.advance(seconds=IDLE - 60)
    answer = await jane.call("message:read", {"contact_id": 1, "up_to_id": 1})
    assert answer["error"]["code"] == "not_found"  # used, though it found nothing to read
    clock.advance(seconds=120)
    await settled(app_client)  # the scheduler's sweep has run since the clock moved
    assert jane.client.connected
    assert (await app_client.get("/api/v1/wallet", headers=family.headers)).status == 200


async def test_absolute_lifetime_disconnects_a_socket_in_use(
    app_client: TestClient[Any, Any],
    family: Actor,
    clock: FrozenClock,
    watch: Callable[..., Awaitable[Watched]],
) -> None:
    jane = await watch(family)
    for _ in range(2):  # used over HTTP every 20 minutes: never idle
        clock.advance(seconds=1200)
        assert (await app_client.get("/api/v1/wallet", headers=family.headers)).status == 200
    clock.advance(seconds=1200)  # one hour in all: the session's whole lifetime
    await assert_disconnected_within_a_second(jane, "expired")
    assert (await app_client.get("/api/v1/wallet", headers=family.headers)).status == 401


async def test_staff_console_socket_ends_with_its_session(
    app_client: TestClient[Any, Any], reviewer: Actor, watch: Callable[..., Awaitable[Watched]]
) -> None:
    console = await watch(reviewer, namespaces=("/staff",))
    await app_client.delete("/api/v1/sessions/current", headers=reviewer.headers)
    await assert_disconnected_within_a_second(console, "signed_out")


async def test_every_namespace_of_a_connection_is_disconnected(
    app_client: TestClient[Any, Any],
    facility_admin: Actor,
    watch: Callable[..., Awaitable[Watched]],
) -> None:
    both = await watch(facility_admin, namespaces=("/", "/staff"))
    await app_client.delete("/api/v1/sessions/current", headers=facility_admin.headers)
    await assert_disconnected_within_a_second(both, "signed_out")
    assert both.reasons.count("signed_out") == 2


# --- refused before the disconnect ----------------------------------------------------------


async def test_ended_session_gets_no_work_done_before_its_socket_is_closed(
    family: Actor, services: Services, watch: Callable[..., Awaitable[Watched]]
) -> None:
    jane = await watch(family)
    # The session ends behind the notifier's back (as when the news of it is lost between
    # processes): its socket is still open, but no event of it does anything.
    async with services.db.transaction() as tx:
        await tx.execute(delete(Session).where(Session.token_hash == digest(family.token)))
    for event, data in (
        ("message:send", {"contact_id": 1, "body": "hello", "client_id": "c-1"}),
        ("message:read", {"contact_id": 1, "up_to_id": 1}),
        ("sync", {"since": 0}),
        ("ack", {"seq": 0}),
    ):
        answer = await jane.call(event, data)
        assert answer["error"]["code"] == "unauthenticated", (event, answer)
    # and the sweep closes it soon after
    await jane.wait_gone()


async def test_disabled_account_gets_no_work_done(
    family: Actor, services: Services, watch: Callable[..., Awaitable[Watched]]
) -> None:
    jane = await watch(family)
    async with services.db.transaction() as tx:
        await tx.execute(
            update(FamilyAccount).where(FamilyAccount.id == family.id).values(status="disabled")
        )
    answer = await jane.call("sync", {"since": 0})
    assert answer["error"]["code"] == "unauthenticated", answer


# --- every event is answered --------------------------------------------------------------


async def test_unknown_event_gets_an_error_ack(
    family: Actor, watch: Callable[..., Awaitable[Watched]]
) -> None:
    jane = await watch(family)
    answer = await jane.call("message:delete-everything", {})
    assert answer["error"]["code"] == "unknown_event"


@pytest.mark.parametrize("event,name", [("sync", "since"), ("ack", "seq")])
@pytest.mark.parametrize("value", [2**63, 2**70, -1, "1", 1.5, True, None])
async def test_seq_outside_64_bits_or_not_a_number_gets_an_error_ack(
    family: Actor, watch: Callable[..., Awaitable[Watched]], event: str, name: str, value: Any
) -> None:
    jane = await watch(family)
    answer = await jane.call(event, {name: value})
    assert answer["error"]["code"] == "invalid_fields", answer
    assert jane.client.connected


async def test_largest_64_bit_seq_is_accepted(
    family: Actor, watch: Callable[..., Awaitable[Watched]]
) -> None:
    jane = await watch(family)
    answer = await jane.call("sync", {"since": 2**63 - 1})
    assert answer["events"] == []


@pytest.mark.parametrize("data", [None, [], "text", 7, {"contact_id": "x"}, {"body": 5}])
async def test_malformed_message_send_gets_an_error_ack(
    family: Actor, watch: Callable[..., Awaitable[Watched]], data: Any
) -> None:
    jane = await watch(family)
    answer = await jane.call("message:send", data)
    assert answer["error"]["code"] == "invalid_fields", answer


async def test_lone_surrogate_in_a_socket_message_gets_a_field_error(
    app_client: TestClient[Any, Any],
    family: Actor,
    world: World,
    watch: Callable[..., Awaitable[Watched]],
) -> None:
    jane = await watch(family)
    answer = await jane.call(
        "message:send", {"contact_id": 1, "body": "bad \ud800 text", "client_id": "s-1"}
    )
    assert answer["error"]["code"] == "invalid_fields", answer
    assert "body" in answer["error"]["fields"]


# --- staff blocks reach an open socket ------------------------------------------------------


async def test_open_socket_cannot_send_once_staff_block_the_contact(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
    watch: Callable[..., Awaitable[Watched]],
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    jane, marcus = await watch(family), await watch(resident)
    status, _ = await block(app_client, facility_admin, contact_id)
    assert status == 200
    for who, key in ((jane, "j-1"), (marcus, "m-1")):
        answer = await who.call(
            "message:send", {"contact_id": contact_id, "body": "still there?", "client_id": key}
        )
        assert answer["error"]["code"] == "blocked", answer
    history = await app_client.get(
        f"/api/v1/messages?contact_id={contact_id}", headers=family.headers
    )
    assert (await history.json())["messages"] == []


async def test_open_socket_cannot_send_once_staff_block_the_family(
    app_client: TestClient[Any, Any],
    family: Actor,
    resident: Actor,
    facility_admin: Actor,
    world: World,
    watch: Callable[..., Awaitable[Watched]],
) -> None:
    contact_id = await approved_contact(app_client, family, resident, world)
    jane = await watch(family)
    status, _ = await block_family(app_client, facility_admin, world.facility_id, family.id)
    assert status == 201
    answer = await jane.call(
        "message:send", {"contact_id": contact_id, "body": "hello?", "client_id": "j-2"}
    )
    assert answer["error"]["code"] == "blocked", answer
