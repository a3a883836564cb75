"""Real `homeline serve` processes for tests: start, health-check, SIGTERM, SIGKILL and
restart them on the same port and database; a small JSON API client (http.client) and a
socket.io client that collects `event` pushes, acknowledges them and can `sync {since}`.

Used by tests/test_processes.py and tests/test_processes_sessions.py (several processes,
crashes, Redis restarts; they share the `database_url`, `processes` and `sockets` fixtures,
which they import by name) and, for the generic parts (free port, request, the command, health
check, stop, and `LiveServer`, the handle on the served demo), by the browser tests.

Everything here is synchronous so that tests read as a story; the socket.io clients run on an
event loop of their own on a background thread (`LoopThread`). Import from `tests.liveserver`;
each name lives in the module of its noun:

- `process.py`, the generic parts: `STARTUP_SECONDS`, `STOP_SECONDS`, `WAIT`, `CODE_RE`,
  `PASSWORD`, `free_port`, `request`, `homeline_command`, `tail`, `wait_healthy`, `stop`,
  `wait_until`.
- `deployment.py`, a deployment and its processes: `Deployment`, `ServerProcess`,
  `start_all`.
- `api.py`, the JSON API: `NoAnswer`, `Api`, `Person`, `log_in`, `sign_up_family`,
  `tablet_log_in`, `staff_log_in`.
- `socket_client.py`, socket.io: `LoopThread`, `SocketClient`, `socket_clients`.
- `stores.py`, private stores: `private_postgres`, `RedisServer`.
- `live_server.py`, for the browser tests: `LiveServer`.
- `fixtures.py`: the `database_url`, `processes` and `sockets` fixtures.
"""

from __future__ import annotations

from tests.liveserver.api import (
    Api,
    NoAnswer,
    Person,
    log_in,
    sign_up_family,
    staff_log_in,
    tablet_log_in,
)
from tests.liveserver.deployment import Deployment, ServerProcess, start_all
from tests.liveserver.fixtures import database_url, processes, sockets
from tests.liveserver.live_server import LiveServer
from tests.liveserver.process import (
    CODE_RE,
    PASSWORD,
    STARTUP_SECONDS,
    STOP_SECONDS,
    WAIT,
    free_port,
    homeline_command,
    request,
    stop,
    tail,
    wait_healthy,
    wait_until,
)
from tests.liveserver.socket_client import LoopThread, SocketClient, socket_clients
from tests.liveserver.stores import RedisServer, private_postgres

__all__ = [
    "CODE_RE",
    "PASSWORD",
    "STARTUP_SECONDS",
    "STOP_SECONDS",
    "WAIT",
    "Api",
    "Deployment",
    "LiveServer",
    "LoopThread",
    "NoAnswer",
    "Person",
    "RedisServer",
    "ServerProcess",
    "SocketClient",
    "database_url",
    "free_port",
    "homeline_command",
    "log_in",
    "private_postgres",
    "processes",
    "request",
    "sign_up_family",
    "socket_clients",
    "sockets",
    "staff_log_in",
    "start_all",
    "stop",
    "tablet_log_in",
    "tail",
    "wait_healthy",
    "wait_until",
]
