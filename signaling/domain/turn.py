"""TURN credentials for one visit (pure), in the "TURN REST API" style coturn implements with
`use-auth-secret` (draft-uberti-behave-turn-rest-00):

- the username is `<expiry>:<visit id>`, the expiry a Unix time in seconds: coturn refuses the
  credential after it, and the visit id says whose relay it is in coturn's logs;
- the password is base64(HMAC-SHA1(shared secret, username)): coturn recomputes it from the
  same secret, so no credential is ever stored, and none outlives its visit.

A credential expires `GRACE` after the visit's end, so a party that joins late or reconnects
in the last minute keeps its relay until the server ends the call; never later than that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

GRACE = timedelta(minutes=2)
TURN_SCHEMES = ("turn:", "turns:")
STUN_SCHEMES = ("stun:", "stuns:")


def turn_credential(secret: str, *, visit_id: int, expires_at: datetime) -> tuple[str, str]:
    """(username, password) for the visit, valid until `expires_at` (a timezone-aware time)."""
    if not secret:
        raise ValueError("a TURN credential needs the shared secret (TURN_SECRET)")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    username = f"{int(expires_at.timestamp())}:{visit_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(
    urls: Sequence[str], secret: str | None, *, visit_id: int, ends_at: datetime
) -> list[dict[str, object]]:
    """The `iceServers` a party of the visit gets (RTCConfiguration's shape): STUN URLs as
    they are; TURN URLs with a credential that expires `GRACE` after the visit's `ends_at`.
    TURN URLs without a secret are left out (a relay that refuses everyone helps nobody)."""
    stun = [u for u in urls if u.startswith(STUN_SCHEMES)]
    turn = [u for u in urls if u.startswith(TURN_SCHEMES)]
    unknown = [u for u in urls if u not in stun and u not in turn]
    if unknown:
        raise ValueError(f"not a STUN or TURN URL: {unknown[0]!r}")
    servers: list[dict[str, object]] = [{"urls": stun}] if stun else []
    if turn and secret:
        username, password = turn_credential(secret, visit_id=visit_id, expires_at=ends_at + GRACE)
        servers.append({"urls": turn, "username": username, "credential": password})
    return servers


def credential_expiry(username: str) -> datetime | None:
    """When a credential of ours runs out (None: not one of ours), for logs and tests."""
    expiry, _, visit = username.partition(":")
    if not (expiry.isdigit() and visit.isdigit()):
        return None
    return datetime.fromtimestamp(int(expiry), tz=UTC)
