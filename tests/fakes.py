"""Small working stand-ins used by the tests (not mocks): a clock that moves when told, a
mailer that keeps what it is given and a hasher that keeps what it is asked to check."""

from __future__ import annotations

import re
from email.message import EmailMessage

from server.clock import FrozenClock
from server.services.passwords import Hasher

__all__ = ["FrozenClock", "RecordingHasher", "RecordingMailer"]


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.sent if m["To"].lower() == address.lower()]

    def last_text(self, address: str) -> str:
        messages = self.to(address)
        assert messages, f"no mail to {address}"
        body = messages[-1].get_body(preferencelist=("plain",))
        assert body is not None
        text: str = body.get_content()
        return text


class RecordingHasher(Hasher):
    """Real argon2id with the suite's cheap parameters, keeping every secret it hashes and every
    one it is asked to verify, in order: how many guesses were really checked."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024)
        self.hashed: list[str] = []
        self.verified: list[str] = []

    async def hash(self, secret: str) -> str:
        self.hashed.append(secret)
        return await super().hash(secret)

    async def verify(self, hashed: str | None, secret: str) -> bool:
        self.verified.append(secret)
        return await super().verify(hashed, secret)


def activation_code(text: str) -> str:
    found = re.search(r"^\s+([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", text, re.M)
    assert found, text
    return found.group(1)


def link_token(text: str) -> str:
    found = re.search(r"[?&]token=([A-Za-z0-9_-]+)", text)
    assert found, text
    return found.group(1)
