"""A session ends on one server process, its socket is on another: each way a session ends
(log out, password reset, customer care, running out) disconnects it within a second, through
Redis. Real `homeline serve` processes, set up through the public API only."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.liveserver import (
    PASSWORD,
    Deployment,
    Person,
    ServerProcess,
    SocketClient,
    database_url,
    log_in,
    processes,
    sign_up_family,
    sockets,
    staff_log_in,
    start_all,
    wait_until,
)
from tests.story import TEST_REDIS_URL, need_service

__all__ = ["database_url", "processes", "sockets"]  # fixtures from tests.liveserver


RUN = secrets.token_hex(3)
# "Within a second", with room for a busy machine; a socket that is never closed fails.
WITHIN = 2.0
IDLE = 6


def two_processes(
    tmp_path: Path, database_url: str, processes: list[ServerProcess], **settings: str
) -> tuple[Deployment, ServerProcess, ServerProcess]:
    redis_url = need_service(TEST_REDIS_URL, "test_redis")
    deployment = Deployment(tmp_path / "site", database_url, redis_url, settings=settings)
    deployment.seed_demo()
    a, b = deployment.process("a"), deployment.process("b")
    processes.extend([a, b])
    start_all(a, b)
    return deployment, a, b


def new_family(server: ServerProcess) -> tuple[Person, str, str]:
    name = f"jane{RUN}{secrets.token_hex(2)}"
    address = f"{name}@example.com"
    return sign_up_family(server, name, address), name, address


def assert_closed_within(socket: SocketClient, reason: str, started: float) -> None:
    socket.wait_disconnected(timeout=WITHIN + 3)
    took = time.monotonic() - started
    assert took <= WITHIN, f"the socket on the other process closed after {took:.2f} s"
    assert reason in socket.ended, socket.ended


@pytest.mark.services
def test_log_out_on_one_process_closes_the_socket_on_another(
    tmp_path: Path,
    database_url: str,
    processes: list[ServerProcess],
    sockets: Callable[[Person, ServerProcess], SocketClient],
) -> None:
    _, a, b = two_processes(tmp_path, database_url, processes)
    jane, _, _ = new_family(a)
    on_b = sockets(jane, b)
    started = time.monotonic()
    jane.on(a).ok("DELETE", "/api/v1/sessions/current")
    assert_closed_within(on_b, "signed_out", started)


@pytest.mark.services
def test_password_reset_on_one_process_closes_sockets_on_another(
    tmp_path: Path,
    database_url: str,
    processes: list[ServerProcess],
    sockets: Callable[[Person, ServerProcess], SocketClient],
) -> None:
    deployment, a, b = two_processes(tmp_path, database_url, processes)
    jane, name, address = new_family(a)
    phone = log_in(b, "/api/v1/sessions", {"username": name, "password": PASSWORD})
    laptop_on_b, phone_on_a = sockets(jane, b), sockets(phone, a)
    a.api().ok("POST", "/api/v1/password-resets", {"email": address})

    def reset_link() -> re.Match[str] | None:
        body = deployment.mail_to(address).get_body(preferencelist=("plain",))
        return re.search(r"reset-password\?token=(\S+)", body.get_content() if body else "")

    found = wait_until(reset_link, f"the reset mail to {address}")
    started = time.monotonic()
    a.api().ok(
        "POST",
        "/api/v1/password-resets/confirm",
        {"token": found.group(1), "password": "a whole new passphrase"},
    )
    assert_closed_within(laptop_on_b, "password_reset", started)
    assert_closed_within(phone_on_a, "password_reset", started)


@pytest.mark.services
def test_customer_care_ending_sessions_on_one_process_closes_the_socket_on_another(
    tmp_path: Path,
    database_url: str,
    processes: list[ServerProcess],
    sockets: Callable[[Person, ServerProcess], SocketClient],
) -> None:
    _, a, b = two_processes(tmp_path, database_url, processes)
    jane, _, _ = new_family(a)
    on_b = sockets(jane, b)
    care = staff_log_in(a, "support", "demo-support-pass")
    started = time.monotonic()
    ended = care.on(a).post(
        f"/api/v1/staff/accounts/{jane.id}/sessions/end", {"reason": "Suspected takeover"}
    )
    assert ended == {"ended": 1}
    assert_closed_within(on_b, "ended_by_staff", started)


@pytest.mark.services
def test_session_running_out_closes_its_socket_on_the_process_that_holds_it(
    tmp_path: Path,
    database_url: str,
    processes: list[ServerProcess],
    sockets: Callable[[Person, ServerProcess], SocketClient],
) -> None:
    _, a, b = two_processes(tmp_path, database_url, processes, SESSION_IDLE_SECONDS=str(IDLE))
    jane, _, _ = new_family(a)
    signed_in = time.monotonic()  # the session was last used at its log in, just now
    on_b = sockets(jane, b)
    assert on_b.connected
    on_b.wait_disconnected(timeout=IDLE + WITHIN + 3)
    took = time.monotonic() - signed_in
    assert took <= IDLE + WITHIN, f"closed {took:.2f} s after signing in (idle: {IDLE} s)"
    assert "expired" in on_b.ended, on_b.ended
