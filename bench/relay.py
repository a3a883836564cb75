"""A bare python-socketio relay: the yardstick the messaging benchmark measures Homeline against.

It speaks the same events as Homeline's namespace "/" (`message:send {contact_id, body,
client_id}` answered by ack with the message, and forwarded as `event {seq, type:
"message.new", data}` to the recipient's room; `ack {seq}` answered `{ok: true}`) on the same
stack (aiohttp + python-socketio, one process), but stores nothing, charges nothing and checks
nothing beyond a token -> person map read at start-up. Whatever Homeline does on top of this
is what the benchmark's ratio prices.

    .venv/bin/python -m bench.relay --port 8099 --parties FILE

FILE is JSON: {"tokens": {token: [kind, id]}, "contacts": {contact_id: [[kind, id], [kind, id]]}}.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web

Party = tuple[str, int]


def create_relay(
    tokens: dict[str, Party], contacts: dict[int, tuple[Party, Party]]
) -> web.Application:
    """The relay as an aiohttp application; its state lives in this closure, not the module."""
    sio = socketio.AsyncServer(
        async_mode="aiohttp", cors_allowed_origins="*", logger=False, engineio_logger=False
    )
    seqs: Counter[Party] = Counter()
    ids = count(1)

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        party = tokens.get(token) if isinstance(token, str) else None
        if party is None:
            raise socketio.exceptions.ConnectionRefusedError("Please sign in.")
        await sio.save_session(sid, {"party": party})
        await sio.enter_room(sid, f"{party[0]}:{party[1]}")

    @sio.on("ack")  # type: ignore[untyped-decorator]
    async def ack(sid: str, data: Any) -> dict[str, Any]:
        return {"ok": True}

    @sio.on("message:send")  # type: ignore[untyped-decorator]
    async def message_send(sid: str, data: Any) -> dict[str, Any]:
        sender: Party = (await sio.get_session(sid))["party"]
        contact_id = data.get("contact_id") if isinstance(data, dict) else None
        parties = contacts.get(contact_id) if isinstance(contact_id, int) else None
        if parties is None or sender not in parties:
            return {"error": {"code": "not_found", "message": "No such contact."}}
        recipient = parties[1] if parties[0] == sender else parties[0]
        now = datetime.now(UTC).isoformat()
        message = {
            "id": next(ids),
            "contact_id": contact_id,
            "body": data.get("body"),
            "status": "delivered",
            "sender": {"kind": sender[0], "id": sender[1]},
            "price_cents": 0,
            "paid_by": None,
            "created_at": now,
            "delivered_at": now,
        }
        seqs[recipient] += 1
        await sio.emit(
            "event",
            {"seq": seqs[recipient], "type": "message.new", "data": message},
            room=f"{recipient[0]}:{recipient[1]}",
        )
        return message

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "sockets": len(sio.eio.sockets)})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    sio.attach(app)
    return app


def load_parties(path: Path) -> tuple[dict[str, Party], dict[int, tuple[Party, Party]]]:
    raw = json.loads(path.read_text())
    tokens = {token: (kind, int(pid)) for token, (kind, pid) in raw["tokens"].items()}
    contacts = {
        int(cid): ((a[0], int(a[1])), (b[0], int(b[1]))) for cid, (a, b) in raw["contacts"].items()
    }
    return tokens, contacts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parties", type=Path, required=True, help="the token and contact map")
    args = parser.parse_args()
    app = create_relay(*load_parties(args.parties))
    web.run_app(
        app, host=args.host, port=args.port, print=None, access_log=None, shutdown_timeout=2
    )


if __name__ == "__main__":
    main()
