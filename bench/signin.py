"""Sign-in throughput: families logging in (argon2id verification included) against a real
server process, from many addresses (through the trusted-proxy header) so that the rate limits
are not what is measured.

    .venv/bin/python -m bench.signin [--accounts 60] [--concurrency 8] [--requests 480]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time

import aiohttp

from bench.server import RunningServer, running_server

PASSWORD = "bench-password-42"


def address(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


async def create_accounts(server: RunningServer, n: int) -> list[str]:
    names = [f"bench{i:04d}" for i in range(n)]
    async with aiohttp.ClientSession() as http:
        for i, name in enumerate(names):
            body = {
                "username": name,
                "password": PASSWORD,
                "password_confirm": PASSWORD,
                "first_name": "Bench",
                "last_name": f"User{i}",
                "address_line1": "1 Main St",
                "city": "Albany",
                "state": "NY",
                "postal_code": "12207",
                "date_of_birth": "1980-01-01",
                "gender": "other",
                "email": f"{name}@example.com",
                "email_confirm": f"{name}@example.com",
                "accept_terms": True,
            }
            async with http.post(
                f"{server.url}/api/v1/accounts", json=body, headers={"X-Forwarded-For": address(i)}
            ) as resp:
                assert resp.status == 202, await resp.text()
        deadline = time.monotonic() + 30
        while len(server.outbox()) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for i, message in enumerate(server.outbox()):
            text = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
            code = re.search(r"^\s+([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", text, re.M)
            assert code is not None
            async with http.post(
                f"{server.url}/api/v1/accounts/activate",
                json={"email": message["To"], "code": code.group(1)},
                headers={"X-Forwarded-For": address(10_000 + i)},
            ) as resp:
                assert resp.status == 200, await resp.text()
    return names


async def load(server: RunningServer, names: list[str], *, concurrency: int, total: int) -> None:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {"username": names[i % len(names)], "password": PASSWORD, "session": "bearer"}
            started = time.perf_counter()
            async with http.post(
                f"{server.url}/api/v1/sessions",
                json=body,
                headers={"X-Forwarded-For": address(20_000 + i)},
            ) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    print(f"sign-ins: {total} in {elapsed:.2f} s with {concurrency} concurrent clients")
    print(f"  throughput  {total / elapsed:8.1f} sign-ins/s   statuses {statuses}")
    print(
        f"  latency p50 {statistics.median(latencies) * 1000:8.1f} ms"
        f"   p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=480)
    args = parser.parse_args()
    if args.requests > args.accounts * 10:
        parser.error("at most 10 sign-ins per account fit in its rate-limit window")
    with running_server({"TRUST_PROXY": "1"}) as server:
        names = asyncio.run(create_accounts(server, args.accounts))
        asyncio.run(load(server, names, concurrency=args.concurrency, total=args.requests))


if __name__ == "__main__":
    main()
