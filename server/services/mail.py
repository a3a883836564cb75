"""Outgoing e-mail: written to var/outbox/ (embedded) or sent over SMTP with aiosmtplib.

Mail is queued after the database transaction commits and delivered by a background task, so
a request never waits on SMTP (and answers take the same time whether or not a mail is sent).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib

from server.clock import Clock

log = logging.getLogger("homeline.mail")
LINK_RE = re.compile(r"https?://\S+")


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class OutboxMailer:
    """Development mailer: each message becomes an .eml file; its first link is logged."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self._dir = directory
        self._clock = clock

    async def send(self, message: EmailMessage) -> None:
        stamp = self._clock.now().strftime("%Y%m%dT%H%M%S")
        path = self._dir / f"{stamp}-{secrets.token_hex(4)}.eml"
        await asyncio.to_thread(self._write, path, message.as_bytes())
        body = message.get_body(preferencelist=("plain",))
        link = LINK_RE.search(body.get_content() if body else "")
        log.info(
            "mail written to outbox",
            extra={
                "to": message["To"],
                "subject": message["Subject"],
                "path": str(path),
                "link": link.group(0) if link else None,
            },
        )

    def _write(self, path: Path, data: bytes) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)


class SmtpMailer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        start_tls: bool,
    ) -> None:
        self._host, self._port = host, port
        self._username, self._password = username, password
        self._start_tls = start_tls

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._start_tls,
            timeout=30,
        )


class MailQueue:
    """Delivers queued mail in the background, retrying transient failures a few times."""

    RETRY_DELAYS = (1.0, 5.0, 30.0)

    def __init__(self, mailer: Mailer, *, sender: str, clock: Clock) -> None:
        self._mailer = mailer
        self._sender = sender
        self._clock = clock
        self._domain = parseaddr(sender)[1].rpartition("@")[2] or "homeline.local"
        self._queue: asyncio.Queue[EmailMessage] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def compose(self, *, to: str, subject: str, text: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        # Required by RFC 5322 (Date) and expected by receivers' spam filters (Message-ID);
        # SMTP does not add them on the way.
        message["Date"] = format_datetime(self._clock.now())
        message["Message-ID"] = f"<{secrets.token_hex(16)}@{self._domain}>"
        message.set_content(text)
        return message

    def enqueue(self, message: EmailMessage) -> None:
        self._queue.put_nowait(message)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-queue")

    async def join(self) -> None:
        """Wait until everything queued so far has been handed to the mailer (tests use it)."""
        await self._queue.join()

    async def stop(self, *, grace: float) -> None:
        """Deliver what is queued (up to `grace` seconds), then stop the worker."""
        try:
            await asyncio.wait_for(self._queue.join(), grace)
        except TimeoutError:
            log.warning("mail left undelivered at shutdown", extra={"count": self._queue.qsize()})
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self._deliver(message)
            finally:
                self._queue.task_done()

    async def _deliver(self, message: EmailMessage) -> None:
        for attempt, delay in enumerate((0.0, *self.RETRY_DELAYS)):
            await asyncio.sleep(delay)
            try:
                await self._mailer.send(message)
                return
            except (OSError, aiosmtplib.SMTPException) as exc:
                log.warning(
                    "mail delivery failed",
                    extra={"to": message["To"], "attempt": attempt + 1, "error": str(exc)},
                )
        log.error("mail dropped after retries", extra={"to": message["To"]})
