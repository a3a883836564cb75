"""Mail as deployed: over SMTP to a real server (aiosmtpd) when SMTP_HOST is set, and into
var/outbox/ as .eml files when it is not. No mailer is injected here: the app picks its own."""

from __future__ import annotations

import asyncio
import email
import email.errors
import email.policy
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller

from server.app import create_app
from server.appkeys import SERVICES
from server.config import Config
from server.services.context import Services
from server.services.mail import MailQueue
from tests.fakes import FrozenClock, RecordingMailer, activation_code, link_token
from tests.story import FAST_HASHER, PASSWORD, reset_schema, signup_body


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes
        ]


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = unused_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


AppFactory = Callable[[Config], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def make_client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], clock: FrozenClock
) -> AsyncIterator[AppFactory]:
    """The real app on `config`, with no mailer injected."""

    async def make(config: Config) -> TestClient[Any, Any]:
        await reset_schema(config.database_url)
        return await aiohttp_client(create_app(config, clock=clock, hasher=FAST_HASHER))

    yield make


async def test_activation_mail_is_sent_over_smtp(
    make_client: AppFactory, config: Config, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    client = await make_client(config.with_(smtp_host="127.0.0.1", smtp_port=port))
    services: Services = client.app[SERVICES]

    resp = await client.post("/api/v1/accounts", json=signup_body())
    assert resp.status == 202
    await services.mail.join()

    assert len(inbox.envelopes) == 1
    envelope = inbox.envelopes[0]
    assert envelope.mail_from == "no-reply@homeline.local"
    assert envelope.rcpt_tos == ["jane@example.com"]
    message = inbox.messages()[0]
    assert message["To"] == "jane@example.com"
    assert message["From"] == "Homeline <no-reply@homeline.local>"
    assert message["Subject"] == "Activate your Homeline account"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "http://127.0.0.1:8080/activate?token=" in text
    assert link_token(text)

    # The code that came over SMTP is the real one.
    code = activation_code(text)
    resp = await client.post(
        "/api/v1/accounts/activate", json={"email": "jane@example.com", "code": code}
    )
    assert resp.status == 200
    resp = await client.post("/api/v1/sessions", json={"username": "jane", "password": PASSWORD})
    assert resp.status == 201


async def test_mail_carries_the_date_and_a_message_id(
    make_client: AppFactory, config: Config, smtp_server: tuple[Inbox, int]
) -> None:
    """RFC 5322 requires a Date; without a Message-ID many receivers treat mail as spam."""
    inbox, port = smtp_server
    client = await make_client(config.with_(smtp_host="127.0.0.1", smtp_port=port))
    for n in range(2):
        resp = await client.post(
            "/api/v1/accounts", json=signup_body(f"user{n}", f"user{n}@example.com")
        )
        assert resp.status == 202
    await client.app[SERVICES].mail.join()

    first, second = inbox.messages()
    assert first["Date"] == "Wed, 18 Nov 2026 15:00:00 +0000"  # the injected clock's time
    assert first["Message-ID"].endswith("@homeline.local>")
    assert first["Message-ID"] != second["Message-ID"]


async def test_without_smtp_mail_is_written_to_the_outbox(
    make_client: AppFactory, config: Config
) -> None:
    assert config.smtp_host is None
    client = await make_client(config)
    resp = await client.post("/api/v1/accounts", json=signup_body())
    assert resp.status == 202
    await client.app[SERVICES].mail.join()

    outbox = config.var_dir / "outbox"
    files = sorted(outbox.iterdir())
    assert [f.suffix for f in files] == [".eml"]
    assert files[0].name.startswith("20261118T150000-")
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "jane@example.com"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "http://127.0.0.1:8080/activate?token=" in text
    code = activation_code(text)
    resp = await client.post(
        "/api/v1/accounts/activate", json={"email": "jane@example.com", "code": code}
    )
    assert resp.status == 200


class PickyInbox(Inbox):
    """Refuses one mailbox (550), as a real server refuses one it does not have. Runs in the
    SMTP server's thread: `delivered` is set when a message is accepted."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused
        self.refusals = 0
        self.delivered = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        self.delivered.set()
        return answer

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address == self.refused:
            self.refusals += 1
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_a_failing_mail_does_not_hold_up_the_mail_queued_after_it(
    make_client: AppFactory, config: Config
) -> None:
    """A refused mail is tried again later (after 1, 5 and 30 s) from a task of its own; the
    queue goes on meanwhile, so the mail behind it arrives before the first retry."""
    inbox = PickyInbox("bounce@example.com")
    port = unused_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        client = await make_client(
            config.with_(smtp_host="127.0.0.1", smtp_port=port, shutdown_timeout=0.5)
        )
        for username, address in (("bounce", "bounce@example.com"), ("jane", "jane@example.com")):
            resp = await client.post("/api/v1/accounts", json=signup_body(username, address))
            assert resp.status == 202
        assert await asyncio.to_thread(inbox.delivered.wait, 10)
        assert [m["To"] for m in inbox.messages()] == ["jane@example.com"]
        assert inbox.refusals == 1  # Jane's mail did not wait for the retries
    finally:
        controller.stop()


async def test_mail_to_a_plus_address_goes_to_that_one_mailbox(
    make_client: AppFactory, config: Config, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    client = await make_client(config.with_(smtp_host="127.0.0.1", smtp_port=port))
    body = signup_body(email="jane+home@example.com")
    assert (await client.post("/api/v1/accounts", json=body)).status == 202
    await client.app[SERVICES].mail.join()
    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["jane+home@example.com"]
    assert inbox.messages()[0]["To"] == "jane+home@example.com"


@pytest.mark.parametrize(
    "to",
    [
        "nobody,victim@example.com",
        "jane@example.com, victim@example.com",
        "nobody;victim@example.com",
        "Jane <jane@example.com>",
        "<jane@example.com>",
        "jane@example.com\r\nBcc: victim@example.com",
        "",
    ],
    ids=["comma", "two_addresses", "semicolon", "display_name", "angle_brackets", "crlf", "empty"],
)
def test_mail_is_composed_for_one_mailbox_only(clock: FrozenClock, to: str) -> None:
    """Whatever reaches compose, nothing can become a second recipient or another header."""
    queue = MailQueue(RecordingMailer(), sender="Homeline <no-reply@homeline.local>", clock=clock)
    with pytest.raises((ValueError, IndexError, email.errors.HeaderParseError)):
        queue.compose(to=to, subject="Hello", text="Hello")
    message = queue.compose(to="jane+home@example.com", subject="Hello", text="Hello")
    assert message["To"] == "jane+home@example.com"
    assert message["To"].addresses[0].addr_spec == "jane+home@example.com"
