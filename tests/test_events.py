"""The event stream: numbered per person, pushed after commit, replayable by seq."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from aiohttp.test_utils import TestClient

from server.domain.party import Party, PartyKind
from server.services.context import Services
from server.services.events import append_in
from tests.story import ALLOWED_ORIGIN, WAIT, Actor, assert_error, connect


async def append(services: Services, who: Actor, kind: str, n: int = 1) -> None:
    for i in range(n):
        async with services.db.transaction() as tx:
            await append_in(
                tx,
                recipients=[Party(PartyKind(kind), who.id)],
                type="test.happened",
                data={"i": i},
                now=services.clock.now(),
            )


async def test_events_are_numbered_from_one_per_person(
    app_client: TestClient[Any, Any], services: Services, resident: Actor, family: Actor
) -> None:
    await append(services, resident, "resident", 3)
    await append(services, family, "family", 1)
    resp = await app_client.get("/api/v1/events?since=0", headers=resident.headers)
    data = await resp.json()
    assert [e["seq"] for e in data["events"]] == [1, 2, 3]
    assert data["last_seq"] == 3
    assert data["events"][0] == {"seq": 1, "type": "test.happened", "data": {"i": 0}}
    resp = await app_client.get("/api/v1/events?since=0", headers=family.headers)
    assert [e["seq"] for e in (await resp.json())["events"]] == [1]


async def test_events_since_returns_only_later_ones(
    app_client: TestClient[Any, Any], services: Services, resident: Actor
) -> None:
    await append(services, resident, "resident", 4)
    resp = await app_client.get("/api/v1/events?since=2", headers=resident.headers)
    assert [e["seq"] for e in (await resp.json())["events"]] == [3, 4]
    resp = await app_client.get("/api/v1/events?since=4", headers=resident.headers)
    assert (await resp.json())["events"] == []


async def test_concurrent_appends_get_distinct_gap_free_numbers(
    app_client: TestClient[Any, Any], services: Services, resident: Actor
) -> None:
    await asyncio.gather(*(append(services, resident, "resident") for _ in range(20)))
    resp = await app_client.get("/api/v1/events?since=0", headers=resident.headers)
    assert [e["seq"] for e in (await resp.json())["events"]] == list(range(1, 21))


async def test_events_need_sign_in_and_a_sane_since(
    app_client: TestClient[Any, Any], resident: Actor
) -> None:
    resp = await app_client.get("/api/v1/events?since=0")
    assert resp.status == 401
    for bad in ("-1", "x", "1.5"):
        resp = await app_client.get(f"/api/v1/events?since={bad}", headers=resident.headers)
        assert resp.status == 422
        assert_error(await resp.json(), "invalid_fields")


async def test_socket_receives_event_after_commit_and_sync_replays_missed(
    app_client: TestClient[Any, Any],
    services: Services,
    resident: Actor,
    sio: socketio.AsyncClient,
) -> None:
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sio.on("event", got.put_nowait)
    await append(services, resident, "resident", 2)  # missed: not connected yet
    await connect(sio, app_client, token=resident.token, headers={"Origin": ALLOWED_ORIGIN})
    await append(services, resident, "resident", 1)
    pushed = await asyncio.wait_for(got.get(), WAIT)
    assert pushed["seq"] == 3

    missed = await sio.call("sync", {"since": 0}, timeout=WAIT)
    assert [e["seq"] for e in missed["events"]] == [1, 2, 3]
    assert missed["last_seq"] == 3
    assert await sio.call("ack", {"seq": 3}, timeout=WAIT) == {"ok": True}
    bad = await sio.call("sync", {"since": "zero"}, timeout=WAIT)
    assert bad["error"]["code"] == "invalid_fields"


async def test_one_persons_events_never_reach_another(
    app_client: TestClient[Any, Any],
    services: Services,
    resident: Actor,
    other_resident: Actor,
    sio: socketio.AsyncClient,
) -> None:
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sio.on("event", got.put_nowait)
    await connect(sio, app_client, token=other_resident.token, headers={"Origin": ALLOWED_ORIGIN})
    await append(services, resident, "resident", 2)
    # A round trip on the same socket: anything pushed before it has arrived by its answer.
    missed = await sio.call("sync", {"since": 0}, timeout=WAIT)
    assert got.empty()
    assert missed["events"] == []


async def test_deposit_tells_the_owner_wallet_updated_and_nobody_else(
    app_client: TestClient[Any, Any],
    family: Actor,
    other_family: Actor,
    sio: socketio.AsyncClient,
) -> None:
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sio.on("event", got.put_nowait)
    await connect(sio, app_client, token=family.token, headers={"Origin": ALLOWED_ORIGIN})
    resp = await app_client.post(
        "/api/v1/deposits",
        json={
            "account": {"type": "wallet"},
            "amount_cents": 2000,
            "channel": "online",
            "payment_token": "tok_sandbox_ok",
            "client_id": "deposit-1",
        },
        headers=family.headers,
    )
    assert resp.status == 201, await resp.text()
    pushed = await asyncio.wait_for(got.get(), WAIT)
    assert pushed["type"] == "wallet.updated"
    assert pushed["data"]["balance_cents"] == 2000
    assert pushed["data"]["account_kind"] == "family_wallet"

    resp = await app_client.get("/api/v1/events?since=0", headers=family.headers)
    assert [e["type"] for e in (await resp.json())["events"]] == ["wallet.updated"]
    resp = await app_client.get("/api/v1/events?since=0", headers=other_family.headers)
    assert (await resp.json())["events"] == []


async def test_a_refused_charge_leaves_no_event(
    app_client: TestClient[Any, Any], services: Services, family: Actor
) -> None:
    from server.domain.ledger import SystemCode, family_wallet
    from server.services import ledger

    try:
        await ledger.do_charge(
            services,
            payers=[family_wallet(family.id)],
            amount_cents=50,
            revenue=SystemCode.MESSAGE_REVENUE,
            idem=ledger.Idempotency(scope=f"family:{family.id}", key="m1", request={}),
            facility_id=None,
            memo="message",
        )
    except ledger.InsufficientFunds:
        pass
    else:
        raise AssertionError("an empty wallet paid")
    resp = await app_client.get("/api/v1/events?since=0", headers=family.headers)
    assert (await resp.json())["events"] == []
