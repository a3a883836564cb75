"""`LiveServer`: the browser tests' handle on the served demo (its URL, outbox and API)."""

from __future__ import annotations

import email
import email.policy
import json
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.liveserver.process import CODE_RE, request


@dataclass(frozen=True)
class LiveServer:
    url: str
    port: int
    var_dir: Path
    facility_id: int

    @property
    def outbox(self) -> Path:
        return self.var_dir / "outbox"

    def mail_to(self, address: str, *, timeout: float = 10.0) -> EmailMessage:
        """The newest mail written to the outbox for `address`, waiting for the background
        mail task to write it."""
        deadline = time.monotonic() + timeout
        while True:
            found: list[tuple[float, EmailMessage]] = []
            for path in self.outbox.glob("*.eml"):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                if str(message["To"]).lower() == address.lower():
                    found.append((path.stat().st_mtime, message))
            if found:
                return max(found, key=lambda pair: pair[0])[1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail to {address} in {self.outbox} after {timeout} s")
            time.sleep(0.05)

    def activation_code(self, address: str) -> str:
        message = self.mail_to(address)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        found = CODE_RE.search(text)
        assert found, text
        return found.group(1)

    def api(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> dict[str, Any]:
        """A JSON call without a browser, for setting the scene (bearer sessions only)."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        status, raw = request(self.port, method, path, data, headers)
        if status >= 400:
            raise AssertionError(f"{method} {path}: {status} {raw.decode(errors='replace')}")
        return json.loads(raw) if raw else {}
