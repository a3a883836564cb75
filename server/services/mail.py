"""Outgoing e-mail: written to var/outbox/ (embedded) or sent over SMTP with aiosmtplib.

Mail is queued after the database transaction commits and delivered by a background task, so
a request never waits on SMTP. The same task runs *jobs*: the part of a request whose cost
would tell something (is this e-mail address known?), run after the request is answered, so
that the answer takes the same time whatever the address (see services/accounts.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib

from server.clock import Clock

log = logging.getLogger("homeline.mail")
LINK_RE = re.compile(r"https?://\S+")
# Work to do after a request has been answered.
Job = Callable[[], Awaitable[None]]


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
    """Runs jobs and delivers mail in the background, one at a time in the order queued.

    A delivery that fails is tried again later (after 1, 5 and 30 seconds) from a task of its
    own, so that one failing mail never holds up the jobs and mail queued behind it.
    """

    RETRY_DELAYS = (1.0, 5.0, 30.0)

    def __init__(self, mailer: Mailer, *, sender: str, clock: Clock) -> None:
        self._mailer = mailer
        self._sender = sender
        self._clock = clock
        self._domain = parseaddr(sender)[1].rpartition("@")[2] or "homeline.local"
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Deliveries waiting to be tried again, held until they are back in the queue.
        self._retries: set[asyncio.Task[None]] = set()

    def compose(self, *, to: str, subject: str, text: str) -> EmailMessage:
        """A message to one mailbox. `to` is parsed as a single addr-spec and written by the
        standard library (an error if it is anything else), so it can never become two
        recipients or another header."""
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = Address(addr_spec=to)
        message["Subject"] = subject
        # Required by RFC 5322 (Date) and expected by receivers' spam filters (Message-ID);
        # SMTP does not add them on the way.
        message["Date"] = format_datetime(self._clock.now())
        message["Message-ID"] = f"<{secrets.token_hex(16)}@{self._domain}>"
        message.set_content(text)
        return message

    def enqueue(self, message: EmailMessage) -> None:
        self.defer(functools.partial(self._deliver, message, attempt=1))

    def defer(self, job: Job) -> None:
        """Run `job` in the background, after the request that queues it has been answered.
        A job that fails is logged; it never stops the queue."""
        self._queue.put_nowait(job)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-queue")

    async def join(self) -> None:
        """Wait until everything queued so far, and the mail it queued, has been done or handed
        to the mailer, retries included (tests use it)."""
        while True:
            await self._queue.join()
            if not self._retries:
                return
            await asyncio.wait(set(self._retries))

    async def stop(self, *, grace: float) -> None:
        """Do what is queued (up to `grace` seconds), then stop the worker and the retries."""
        try:
            await asyncio.wait_for(self.join(), grace)
        except TimeoutError:
            log.warning(
                "mail left undelivered at shutdown",
                extra={"count": self._queue.qsize() + len(self._retries)},
            )
        tasks = [*self._retries, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await job()
            except Exception:
                log.exception("background job failed")
            finally:
                self._queue.task_done()

    async def _deliver(self, message: EmailMessage, *, attempt: int) -> None:
        try:
            await self._mailer.send(message)
            return
        except (OSError, aiosmtplib.SMTPException) as exc:
            log.warning(
                "mail delivery failed",
                extra={"to": message["To"], "attempt": attempt, "error": str(exc)},
            )
        if attempt > len(self.RETRY_DELAYS):
            log.error("mail dropped after retries", extra={"to": message["To"]})
            return
        retry = asyncio.create_task(self._retry(message, attempt=attempt + 1))
        self._retries.add(retry)
        retry.add_done_callback(self._retries.discard)

    async def _retry(self, message: EmailMessage, *, attempt: int) -> None:
        await asyncio.sleep(self.RETRY_DELAYS[attempt - 2])
        self.defer(functools.partial(self._deliver, message, attempt=attempt))
