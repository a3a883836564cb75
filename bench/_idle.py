"""Idle connections: how much resident memory a server process grows by for each connected,
signed-in, silent client. The clients are `WireClient`s (one aiohttp websocket each, answering
engine.io pings), so that thousands fit in the benchmark's own process."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from bench._procs import Server
from bench._seed import Party
from bench._wire import Client, WireClient

WARM_UP = 50  # connections opened and closed first, so that one-off imports and caches are
# in the baseline, not counted against the clients


@dataclass(frozen=True)
class IdleResult:
    target: str
    clients: int
    failed: int
    connect_seconds: float
    rss_before_kib: int
    rss_after_kib: int
    rss_released_kib: int  # after every client has gone again
    server_counted: int | None  # connections the server itself reported while they were held

    @property
    def per_client_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(1, self.clients - self.failed)


async def _open(
    http: aiohttp.ClientSession, url: str, parties: list[Party], concurrency: int
) -> tuple[list[Client], int]:
    gate = asyncio.Semaphore(concurrency)
    clients: list[Client] = []
    failed = 0

    async def one(party: Party) -> None:
        nonlocal failed
        client = WireClient(http, url, token=party.token, label=party)
        async with gate:
            try:
                await client.connect(30)
            except Exception:
                failed += 1
                return
        clients.append(client)

    await asyncio.gather(*(one(p) for p in parties))
    return clients, failed


async def _close(clients: list[Client]) -> None:
    for i in range(0, len(clients), 500):
        await asyncio.gather(*(c.close() for c in clients[i : i + 500]), return_exceptions=True)


async def idle_memory(
    server: Server, parties: list[Party], *, concurrency: int = 100, settle: float = 2.0
) -> IdleResult:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        warm, _ = await _open(http, server.url, parties[:WARM_UP], concurrency)
        await _close(warm)
        await asyncio.sleep(settle)
        before = server.rss_kib()
        started = time.perf_counter()
        clients, failed = await _open(http, server.url, parties, concurrency)
        took = time.perf_counter() - started
        await asyncio.sleep(settle)
        after = server.rss_kib()
        counted = await server.connections(http)
        await _close(clients)
        await asyncio.sleep(settle)
        released = server.rss_kib()
    return IdleResult(server.name, len(parties), failed, took, before, after, released, counted)
