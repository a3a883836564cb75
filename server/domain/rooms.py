"""Where pushes go: the socket.io namespaces the core knows of and the rooms in them. The
notifier (server/realtime.py) pushes to these names; each namespace class admits its sockets to
them (server/sockets/, moderation/sockets/)."""

from __future__ import annotations

MAIN_NAMESPACE = "/"
STAFF_NAMESPACE = "/staff"


def facility_room(facility_id: int) -> str:
    """The consoles of one facility, in the `/staff` namespace."""
    return f"facility:{facility_id}"
