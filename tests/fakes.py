"""Small working stand-ins used by the tests (not mocks): a clock that moves when told and a
mailer that keeps what it is given."""

from __future__ import annotations

import re
from email.message import EmailMessage

from server.clock import FrozenClock

__all__ = ["FrozenClock", "RecordingMailer"]


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


def activation_code(text: str) -> str:
    found = re.search(r"^\s+([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", text, re.M)
    assert found, text
    return found.group(1)


def link_token(text: str) -> str:
    found = re.search(r"[?&]token=([A-Za-z0-9_-]+)", text)
    assert found, text
    return found.group(1)
