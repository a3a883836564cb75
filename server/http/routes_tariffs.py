"""Routes for tariffs (money issue)."""

from __future__ import annotations

from server.http.api import Endpoint


def endpoints() -> list[Endpoint]:
    return []
