"""The JSON API over http.client, and the people who sign in through it."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.liveserver.process import PASSWORD, WAIT, request

if TYPE_CHECKING:
    from tests.liveserver.deployment import ServerProcess


class NoAnswer(Exception):
    """The request may or may not have been carried out: the server did not answer."""


@dataclass(frozen=True)
class Api:
    port: int
    token: str | None = None
    client_address: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = WAIT,
    ) -> tuple[int, Any]:
        """The status and the decoded JSON (None for an empty body); NoAnswer when the
        server is not there or died while answering."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if self.client_address:
            sent["X-Forwarded-For"] = self.client_address
        data = None if body is None else json.dumps(body).encode()
        try:
            status, raw = request(self.port, method, path, data, sent, timeout=timeout)
        except (OSError, http.client.HTTPException) as exc:
            raise NoAnswer(f"{method} {path}: {exc!r}") from exc
        return status, (json.loads(raw) if raw else None)

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call that must succeed (2xx); its JSON."""
        status, data = self.call(method, path, body)
        if status >= 300:
            raise AssertionError(f"{method} {path}: {status} {data}")
        return data

    def get(self, path: str) -> Any:
        return self.ok("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.ok("POST", path, body)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.ok("PUT", path, body)


@dataclass(frozen=True)
class Person:
    """Someone signed in with a bearer token."""

    token: str
    principal: dict[str, Any]

    @property
    def id(self) -> int:
        return int(self.principal["id"])

    def on(self, server: ServerProcess) -> Api:
        return server.api(self.token)


def log_in(server: ServerProcess, path: str, body: dict[str, Any]) -> Person:
    data = server.api().post(path, {**body, "session": "bearer"})
    return Person(token=data["token"], principal=data["principal"])


def sign_up_family(server: ServerProcess, username: str, email_address: str) -> Person:
    """Sign-up, activation with the code from the outbox, log in."""
    server.api().ok(
        "POST",
        "/api/v1/accounts",
        {
            "username": username,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "first_name": "Jane",
            "last_name": "Reed",
            "address_line1": "12 Elm Street",
            "address_line2": "",
            "city": "Albany",
            "state": "NY",
            "postal_code": "12207",
            "date_of_birth": "1970-04-01",
            "gender": "female",
            "email": email_address,
            "email_confirm": email_address,
            "accept_terms": True,
        },
    )
    code = server.deployment.activation_code(email_address)
    server.api().post("/api/v1/accounts/activate", {"email": email_address, "code": code})
    return log_in(server, "/api/v1/sessions", {"username": username, "password": PASSWORD})


def tablet_log_in(server: ServerProcess, facility_id: int, number: str, pin: str) -> Person:
    return log_in(
        server,
        "/api/v1/tablet/sessions",
        {"facility_id": facility_id, "resident_number": number, "pin": pin},
    )


def staff_log_in(server: ServerProcess, username: str, password: str) -> Person:
    return log_in(server, "/api/v1/staff/sessions", {"username": username, "password": password})
