"""Real `homeline serve` processes: a message crossing from one process to another through
Redis, a SIGKILL in the middle of a burst of sends, a SIGKILL while messages wait for their
delivery time, and Redis dying under connected clients. Each story is set through the public
API only (sign-up, activation from the outbox, tablet log-in, contact approval, deposit).

The database is PostgreSQL when TEST_DATABASE_URL is set (a database of the test's own) and
one SQLite file otherwise. Redis is TEST_REDIS_URL, or a redis-server of the test's own where
the test kills or pauses it. What needs a service it does not have is skipped, and fails in
CI (REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from server.domain.messages import MessageStatus
from server.storage.db import create_engine
from server.storage.message_models import Message
from tests.liveserver import (
    WAIT,
    Deployment,
    NoAnswer,
    Person,
    RedisServer,
    ServerProcess,
    SocketClient,
    database_url,
    processes,
    sign_up_family,
    sockets,
    staff_log_in,
    start_all,
    tablet_log_in,
    wait_until,
)
from tests.story import REQUIRE_SERVICES, TEST_REDIS_URL, need_service

__all__ = ["database_url", "processes", "sockets"]  # fixtures from tests.liveserver

# Bodies carry this run's mark: Redis is shared with other runs, and socket.io's channel with it.
RUN = secrets.token_hex(3)


MISSING_REDIS = "redis-server is not installed (apt-get install -y redis-server)"


def redis_server_binary() -> str | None:
    """redis-server; None when missing (a failure in CI, where REQUIRE_SERVICES=1)."""
    binary = shutil.which("redis-server")
    if binary is None and REQUIRE_SERVICES:
        pytest.fail(f"redis-server is required in CI (REQUIRE_SERVICES=1): {MISSING_REDIS}")
    return binary


@pytest.fixture
def redis_if_installed(tmp_path: Path) -> Iterator[RedisServer | None]:
    """A redis-server of this test's own, which it may kill, pause and start again."""
    binary = redis_server_binary()
    if binary is None:
        yield None
        return
    server = RedisServer(binary, tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_of_our_own(redis_if_installed: RedisServer | None) -> RedisServer:
    if redis_if_installed is None:
        pytest.skip(MISSING_REDIS)
    return redis_if_installed


# --- the scene ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """Jane (a family member) and Marcus (A1001, on a tablet), connected and funded."""

    facility_id: int
    family: Person
    resident: Person
    contact_id: int


def set_the_scene(server: ServerProcess, facility_id: int, *, deposit_cents: int = 5000) -> Scene:
    name = f"jane{RUN}{secrets.token_hex(2)}"
    family = sign_up_family(server, name, f"{name}@example.com")
    found = server.api().get(f"/api/v1/residents?facility_id={facility_id}&q=A1001")["residents"]
    assert [r["resident_number"] for r in found] == ["A1001"], found
    contact = family.on(server).post("/api/v1/contacts", {"resident_id": found[0]["id"]})
    resident = tablet_log_in(server, facility_id, "A1001", "2468")
    resident.on(server).post(f"/api/v1/contacts/{contact['id']}/approve")
    family.on(server).post(
        "/api/v1/deposits",
        {
            "account": {"type": "wallet"},
            "amount_cents": deposit_cents,
            "channel": "online",
            "payment_token": "tok_sandbox_ok",
            "client_id": f"deposit-{RUN}",
        },
    )
    return Scene(facility_id, family, resident, int(contact["id"]))


def site(tmp_path: Path, database_url: str, redis_url: str | None = None) -> Deployment:
    return Deployment(tmp_path / "site", database_url, redis_url)


def history(server: ServerProcess, person: Person, contact_id: int) -> list[dict[str, Any]]:
    """The whole conversation as `person` sees it, oldest first."""
    messages: list[dict[str, Any]] = []
    before = ""
    while True:
        page = person.on(server).get(f"/api/v1/messages?contact_id={contact_id}&limit=100{before}")
        messages.extend(page["messages"])
        if page["next_before"] is None:
            return messages[::-1]
        before = f"&before={page['next_before']}"


def statement(server: ServerProcess, person: Person) -> tuple[int, list[dict[str, Any]]]:
    """The balance and every line of the person's wallet statement."""
    lines: list[dict[str, Any]] = []
    before = ""
    while True:
        page = person.on(server).get(f"/api/v1/wallet/statement?limit=200{before}")
        lines.extend(page["lines"])
        if page["next_before"] is None:
            return int(page["account"]["balance_cents"]), lines
        before = f"&before={page['next_before']}"


def delivered_to(inbox: SocketClient, contact_id: int) -> list[dict[str, Any]]:
    return [m for m in inbox.messages() if m["contact_id"] == contact_id]


def assert_each_once(got: list[dict[str, Any]], expected_ids: set[int], what: str) -> None:
    counts = Counter(m["id"] for m in got)
    doubled = {i: n for i, n in counts.items() if n > 1}
    assert not doubled, f"{what}: messages delivered more than once: {doubled}"
    assert set(counts) == expected_ids, (
        f"{what}: missing {sorted(expected_ids - set(counts))}, "
        f"unexpected {sorted(set(counts) - expected_ids)}"
    )


def assert_charged_once_each(
    server: ServerProcess, person: Person, stored: list[dict[str, Any]], deposit_cents: int
) -> None:
    """One charge line per paid message, the sum of the prices, and nothing else spent."""
    balance, lines = statement(server, person)
    charges = [line for line in lines if line["kind"] == "charge"]
    paid = [m["price_cents"] for m in stored if m["price_cents"] > 0]
    assert sorted(-c["amount_cents"] for c in charges) == sorted(paid), charges
    assert [line["kind"] for line in lines].count("deposit") == 1, lines
    assert balance == deposit_cents - sum(paid)


# --- (a) across processes -----------------------------------------------------------------


@pytest.mark.services
def test_message_sent_through_one_process_reaches_a_recipient_on_another(
    tmp_path: Path,
    database_url: str,
    processes: list[ServerProcess],
    sockets: Callable[[Person, ServerProcess], SocketClient],
) -> None:
    redis_url = need_service(TEST_REDIS_URL, "test_redis")
    deployment = site(tmp_path, database_url, redis_url)
    facility_id = deployment.seed_demo()
    a, b = deployment.process("a"), deployment.process("b")
    processes.extend([a, b])
    start_all(a, b)
    scene = set_the_scene(a, facility_id)
    jane = sockets(scene.family, a)
    marcus = sockets(scene.resident, b)

    sent = jane.send(scene.contact_id, f"Across processes ({RUN})", f"{RUN}-a-1")
    assert sent["status"] == "delivered", sent
    marcus.wait_pushed(sent)  # pushed: Marcus has not asked (no sync) and is on the other process
    pushed = [m for m in delivered_to(marcus, scene.contact_id) if m["id"] == sent["id"]]
    assert [m["body"] for m in pushed] == [f"Across processes ({RUN})"]
    assert pushed[0]["paid_by"] in ("sender", None)

    # And back: Marcus answers through process B, Jane hears it on process A.
    reply = marcus.send(scene.contact_id, f"Heard you ({RUN})", f"{RUN}-a-2")
    assert reply["status"] == "delivered", reply
    jane.wait_pushed(reply)

    # What was pushed is what the stream holds: once each.
    marcus.sync()
    jane.sync()
    ours = {sent["id"], reply["id"]}
    assert_each_once(delivered_to(marcus, scene.contact_id), ours, "Marcus's stream")
    assert_each_once(delivered_to(jane, scene.contact_id), ours, "Jane's stream")


# --- (b) SIGKILL -------------------------------------------------------------------------


@dataclass
class Outgoing:
    client_id: str
    body: str
    answers: list[dict[str, Any]] = field(default_factory=list)


class Outbox:
    """What a client app keeps of the messages it sends: each one is sent until it is
    answered, always with the same client_id."""

    def __init__(self, name: str, count: int, send: Callable[[Outgoing], dict[str, Any]]):
        self.items = [Outgoing(f"{RUN}-{name}-{i}", f"{name} #{i} ({RUN})") for i in range(count)]
        self._send = send

    def unanswered(self) -> list[Outgoing]:
        return [o for o in self.items if not o.answers]

    @property
    def answered(self) -> int:
        return sum(1 for o in self.items if o.answers)

    def send_all(self, *, workers: int = 1) -> None:
        """Send what is unanswered, `workers` at a time (as an app flushes its outbox after
        being offline); a worker stops at its first lost answer."""
        pending = iter(self.unanswered())
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    item = next(pending, None)
                if item is None:
                    return
                try:
                    message = self._send(item)
                except NoAnswer:
                    return
                item.answers.append(message)

        threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT * 2)

    def accepted(self) -> dict[str, int]:
        """client_id -> message id; every answer for one client_id names one message."""
        out: dict[str, int] = {}
        for item in self.items:
            ids = {a["id"] for a in item.answers}
            assert len(ids) == 1, f"{item.client_id}: answered with {ids}"
            assert item.answers[0]["body"] == item.body
            out[item.client_id] = ids.pop()
        return out


def http_sender(
    server: ServerProcess, person: Person, contact_id: int
) -> Callable[[Outgoing], dict[str, Any]]:
    def send(item: Outgoing) -> dict[str, Any]:
        status, data = person.on(server).call(
            "POST",
            "/api/v1/messages",
            {"contact_id": contact_id, "body": item.body, "client_id": item.client_id},
        )
        assert status in (200, 201), (status, data)
        return {**data, "_status": status}

    return send


def socket_sender(socket: SocketClient, contact_id: int) -> Callable[[Outgoing], dict[str, Any]]:
    def send(item: Outgoing) -> dict[str, Any]:
        answer = socket.send(contact_id, item.body, item.client_id)
        assert "error" not in answer, answer
        return answer

    return send


def test_sigkill_between_accepting_and_delivering_loses_and_doubles_nothing(
    tmp_path: Path,
    database_url: str,
    redis_if_installed: RedisServer | None,
    processes: list[ServerProcess],
    sockets: Callable[[Person, ServerProcess], SocketClient],
) -> None:
    # Redis carries the pushes here, and pausing it holds the sends that commit in the window
    # between their commit and their push and answer, where the SIGKILL must land. Without
    # redis-server (a laptop) the SIGKILL still lands mid-burst, wherever the sends are.
    redis = redis_if_installed
    deployment = site(tmp_path, database_url, redis.url if redis else None)
    facility_id = deployment.seed_demo()
    server = deployment.process("solo").start()
    processes.append(server)
    scene = set_the_scene(server, facility_id, deposit_cents=5000)
    # Jane sends from her browser (HTTP) and her phone (socket) at once; Marcus listens.
    marcus = sockets(scene.resident, server)
    phone = sockets(scene.family, server)
    browser = Outbox("http", 30, http_sender(server, scene.family, scene.contact_id))
    app = Outbox("socket", 30, socket_sender(phone, scene.contact_id))

    def stored() -> set[str]:
        return {m["body"] for m in history(server, scene.family, scene.contact_id)}

    senders = [
        threading.Thread(target=o.send_all, kwargs={"workers": 4}, daemon=True)
        for o in (browser, app)
    ]
    for sender in senders:
        sender.start()
    wait_until(lambda: browser.answered + app.answered >= 12, "the burst to be under way")
    if redis:  # hung: each send that commits from now on waits for its push, unanswered
        redis.pause()
        wait_until(
            lambda: len(stored()) >= browser.answered + app.answered + 4,
            "sends stored but not yet answered",
        )
    server.kill()
    if redis:
        redis.resume()
    for sender in senders:
        sender.join(WAIT * 2)
    marcus.wait_disconnected()
    unanswered = browser.unanswered() + app.unanswered()
    assert len(unanswered) > 4, "the SIGKILL came after the burst"

    server.start()
    in_the_window = [o for o in unanswered if o.body in stored()]
    if redis:
        assert len(in_the_window) >= 4, "no send was caught between its commit and its answer"
    marcus.connect()
    marcus.sync()  # from the last seq it acknowledged
    phone.connect()
    browser.send_all()  # every unanswered message again, with its client_id
    app.send_all()
    assert not browser.unanswered() and not app.unanswered()

    accepted = {**browser.accepted(), **app.accepted()}
    ids = set(accepted.values())
    assert len(ids) == len(accepted) == 60, "two client_ids answered with one message"
    retried = [o.answers[0] for o in in_the_window if o in browser.items]
    assert all(a["_status"] == 200 for a in retried), "a stored message was stored again"
    marcus.sync()
    assert_each_once(delivered_to(marcus, scene.contact_id), ids, "Marcus's stream")
    # (Some of those may have been pushed to Marcus before the kill: the push goes out before
    # the sender's answer, so a push and a lost answer can go together. Either way each one
    # is in his stream exactly once, which is what is promised.)
    phone.sync()  # Jane's own stream (her other tabs) holds each of her messages once too
    assert_each_once(delivered_to(phone, scene.contact_id), ids, "Jane's stream")

    stored_messages = history(server, scene.family, scene.contact_id)
    bodies = Counter(m["body"] for m in stored_messages)
    assert bodies == Counter(o.body for o in browser.items + app.items), bodies
    assert {m["id"] for m in stored_messages} == ids
    assert all(m["status"] == "delivered" for m in stored_messages)
    assert {m["id"] for m in history(server, scene.resident, scene.contact_id)} == ids
    assert_charged_once_each(server, scene.family, stored_messages, 5000)


def move_delivery_times_into_the_past(database_url: str, contact_id: int) -> int:
    """As if the hours had passed while the server was down: a direct UPDATE."""

    async def run() -> int:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(
                    update(Message)
                    .where(
                        Message.contact_id == contact_id,
                        Message.status == MessageStatus.SCHEDULED.value,
                    )
                    .values(deliver_at=datetime.now(UTC) - timedelta(minutes=1))
                )
                return int(result.rowcount)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_sigkill_while_messages_wait_for_their_time_releases_each_once_on_restart(
    tmp_path: Path,
    database_url: str,
    processes: list[ServerProcess],
    sockets: Callable[[Person, ServerProcess], SocketClient],
) -> None:
    deployment = site(tmp_path, database_url)
    facility_id = deployment.seed_demo()
    server = deployment.process("first").start()
    processes.append(server)
    scene = set_the_scene(server, facility_id)
    admin = staff_log_in(server, "admin", "demo-admin-pass")
    policy = f"/api/v1/staff/facilities/{facility_id}/policy"
    assert admin.on(server).get(policy)["policy"]["incoming"]["mode"] == "instant"
    admin.on(server).put(
        policy,
        {
            "incoming": {"mode": "delay", "delay_minutes": 60},
            "outgoing": {"mode": "instant", "delay_minutes": 0},
            "reason": "an hour's delay on incoming mail",
        },
    )
    marcus = sockets(scene.resident, server)
    jane = sockets(scene.family, server)
    sent = [
        scene.family.on(server).post(
            "/api/v1/messages",
            {"contact_id": scene.contact_id, "body": f"later #{i} ({RUN})", "client_id": f"d{i}"},
        )
        for i in range(5)
    ]
    assert {m["status"] for m in sent} == {"scheduled"}, sent
    assert all(m["deliver_at"] for m in sent)
    ids = {m["id"] for m in sent}
    marcus.sync()
    assert delivered_to(marcus, scene.contact_id) == [], "Marcus saw a message before its time"
    assert history(server, scene.resident, scene.contact_id) == []

    server.kill()
    marcus.wait_disconnected()
    assert move_delivery_times_into_the_past(database_url, scene.contact_id) == 5
    # Two processes come up on the database and both look for due messages.
    sibling = deployment.process("second")
    processes.append(sibling)
    start_all(server, sibling)
    up = time.monotonic()
    marcus.connect()

    def released() -> bool:
        marcus.sync()
        return len(delivered_to(marcus, scene.contact_id)) >= 5

    wait_until(released, "the five delayed messages to be released", interval=0.1)
    assert time.monotonic() - up < 10
    assert {m["status"] for m in delivered_to(marcus, scene.contact_id)} == {"delivered"}
    stored = history(server, scene.family, scene.contact_id)
    assert [m["status"] for m in stored] == ["delivered"] * 5, stored

    # Once released, never again: not by the other process, not after another restart.
    # (Marcus hangs up first: a python-socketio client holds a SIGTERM for its 5 s close
    # handshake, which would only slow this test down.)
    marcus.disconnect()
    server.stop()
    sibling.stop()
    server.start()
    marcus.connect()
    marcus.sync()
    assert_each_once(delivered_to(marcus, scene.contact_id), ids, "Marcus's stream")
    jane.connect()
    jane.sync()
    statuses = [
        e["data"]["id"]
        for e in jane.events.values()
        if e["type"] == "message.status" and e["data"]["status"] == "delivered"
    ]
    assert sorted(statuses) == sorted(ids), statuses
    assert_charged_once_each(server, scene.family, stored, 5000)


# --- (c) Redis restarts ------------------------------------------------------------------


@pytest.mark.services
def test_redis_restart_while_clients_are_connected_loses_nothing(
    tmp_path: Path,
    database_url: str,
    redis_of_our_own: RedisServer,
    processes: list[ServerProcess],
    sockets: Callable[[Person, ServerProcess], SocketClient],
) -> None:
    redis = redis_of_our_own
    deployment = site(tmp_path, database_url, redis.url)
    facility_id = deployment.seed_demo()
    a, b = deployment.process("a"), deployment.process("b")
    processes.extend([a, b])
    start_all(a, b)
    scene = set_the_scene(a, facility_id)
    jane = sockets(scene.family, a)
    marcus = sockets(scene.resident, b)
    wait_until(lambda: redis.subscribers(deployment.channel) == 2, "both processes to subscribe")
    first = jane.send(scene.contact_id, f"before ({RUN})", f"{RUN}-c-0")
    marcus.wait_pushed(first)

    redis.kill()
    # The database is the truth: sending goes on, over HTTP on either process and the socket.
    during = []
    for i in range(1, 4):
        status, message = scene.family.on(a if i % 2 else b).call(
            "POST",
            "/api/v1/messages",
            {"contact_id": scene.contact_id, "body": f"during {i} ({RUN})", "client_id": f"h{i}"},
        )
        assert status == 201, (status, message)
        during.append(message)
    during.append(jane.send(scene.contact_id, f"during 4 ({RUN})", f"{RUN}-c-4"))
    assert {m["status"] for m in during} == {"delivered"}, during
    assert a.running and b.running
    assert marcus.connected and jane.connected
    # Signing in goes on too: the rate limits are counted in process meanwhile.
    tablet = tablet_log_in(b, facility_id, "A1002", "1357")
    assert tablet.token

    redis.start()  # the same port
    wait_until(
        lambda: redis.subscribers(deployment.channel) == 2, "both processes to subscribe again"
    )
    last = jane.send(scene.contact_id, f"after ({RUN})", f"{RUN}-c-5")
    marcus.wait_pushed(last)  # live again across processes
    marcus.sync()  # what the outage kept from being pushed
    ids = {m["id"] for m in [first, *during, last]}
    assert_each_once(delivered_to(marcus, scene.contact_id), ids, "Marcus's stream")
    assert {m["id"] for m in history(b, scene.resident, scene.contact_id)} == ids
