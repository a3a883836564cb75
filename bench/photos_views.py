"""Photo views: how many times a second a resident can open a photo through a real `homeline
serve` process (session check, database look-up, blob read, headers), against a bare aiohttp
`web.FileResponse` of the same file in the same run; 304 revalidations a second; and upload +
re-encode time per megapixel of a 12 MP JPEG through the HTTP endpoint.

    .venv/bin/python -m bench.photos_views [--db sqlite|postgresql|both] [--seconds 5]
                                           [--concurrency 16] [--uploads 3] [--profile DIR]

Homeline runs on SQLite (or PostgreSQL: a private database next to TEST_DATABASE_URL's,
dropped afterwards) in a throw-away folder (the embedded defaults: local blob store under
var/), seeded with one facility, one family and one resident on an approved contact with money
in the family's wallet (bench/_seed.py). The family uploads the 12 MP photo of
bench/photos_pipeline.py over HTTP (the first upload starts the workers and is not timed) and
sends it; the resident then views it. The bare server (`--serve-file`) is its own process too,
so that both answer from one process and one event loop; the client is this process, with
`--concurrency` requests in flight on as many keep-alive connections, for `--seconds` after
a one-second warm-up. Every answer is checked (status, and the body's length).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from bench._procs import (
    Server,
    free_port,
    homeline_command,
    run_homeline,
    running,
    server_env,
    tail,
)
from bench._seed import Pair, seed
from bench.ledger import postgres_database
from bench.photos_pipeline import MEGAPIXELS, SIZE, twelve_megapixel_jpeg

TARGET_RATIO = 0.50
WALLET_CENTS = 100_000
WARM_UP_SECONDS = 1.0


# --- the bare yardstick --------------------------------------------------------------------------


def bare_app(path: Path) -> web.Application:
    """aiohttp serving one file, as its documentation shows it: no session, no database."""

    async def photo(request: web.Request) -> web.FileResponse:
        return web.FileResponse(path, headers={"Content-Type": "image/jpeg"})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/photo", photo)
    app.router.add_get("/healthz", healthz)
    return app


# --- load ----------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    body_bytes: int
    server_cpu: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        mb = self.body_bytes / self.seconds / 1e6
        cpu_ms = self.server_cpu * 1000 / self.requests if self.requests else float("nan")
        return (
            f"{self.name:<44} {self.per_second:>8,.0f} /s  {mb:>7,.0f} MB/s  "
            f"server CPU {cpu_ms:.2f} ms a request"
        )


async def hammer(
    name: str,
    server: Server,
    path: str,
    *,
    headers: dict[str, str],
    status: int,
    length: int,
    seconds: float,
    concurrency: int,
) -> Result:
    """`concurrency` clients asking for `path` back to back, each answer read and checked."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        counting = False
        count = body_bytes = 0
        stop_at = time.monotonic() + WARM_UP_SECONDS + seconds

        async def client() -> None:
            nonlocal count, body_bytes
            while time.monotonic() < stop_at:
                async with http.get(server.url + path, headers=headers) as resp:
                    body = await resp.read()
                    if resp.status != status or len(body) != length:
                        raise SystemExit(
                            f"{name}: {resp.status} with {len(body)} bytes, wanted {status} "
                            f"with {length}; {tail(server.log, 5)}"
                        )
                if counting:
                    count += 1
                    body_bytes += len(body)

        tasks = [asyncio.create_task(client()) for _ in range(concurrency)]
        await asyncio.sleep(WARM_UP_SECONDS)
        counting, cpu_before, started = True, server.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu_before
    return Result(name, count, elapsed, body_bytes, cpu)


# --- the story: upload, send, view ---------------------------------------------------------------


async def upload(http: aiohttp.ClientSession, server: Server, pair: Pair, data: bytes) -> int:
    form = aiohttp.FormData()
    form.add_field("contact_id", str(pair.contact_id))
    form.add_field("file", data, filename="photo.jpg", content_type="image/jpeg")
    headers = {"Authorization": f"Bearer {pair.family.token}"}
    async with http.post(f"{server.url}/api/v1/photos", data=form, headers=headers) as resp:
        body = await resp.json()
        if resp.status != 201:
            raise SystemExit(f"upload: {resp.status} {body}")
        return int(body["id"])


async def send(http: aiohttp.ClientSession, server: Server, pair: Pair, photo_id: int) -> None:
    body = {
        "contact_id": pair.contact_id,
        "body": "",
        "photo_ids": [photo_id],
        "client_id": secrets.token_hex(8),
    }
    headers = {"Authorization": f"Bearer {pair.family.token}"}
    async with http.post(f"{server.url}/api/v1/messages", json=body, headers=headers) as resp:
        sent = await resp.json()
        if resp.status != 201 or sent["status"] != "delivered":
            raise SystemExit(f"send: {resp.status} {sent}")


async def timed_uploads(server: Server, pair: Pair, data: bytes, n: int) -> tuple[int, list[float]]:
    """A photo id (the first upload's, which also starts the workers) and `n` timed uploads."""
    async with aiohttp.ClientSession() as http:
        photo_id = await upload(http, server, pair, data)
        times = []
        for _ in range(n):
            started = time.perf_counter()
            await upload(http, server, pair, data)
            times.append(time.perf_counter() - started)
        await send(http, server, pair, photo_id)
    return photo_id, times


async def fetch(server: Server, path: str, headers: dict[str, str]) -> tuple[bytes, str]:
    async with aiohttp.ClientSession() as http, http.get(server.url + path, headers=headers) as r:
        if r.status != 200:
            raise SystemExit(f"GET {path}: {r.status}")
        return await r.read(), r.headers.get("ETag", "")


@asynccontextmanager
async def database(kind: str, var: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{var}/homeline.db"
    else:
        async with postgres_database() as url:
            yield url


@dataclass
class Figure:
    """One thing measured: a request to one server, answered with `status` and `length` bytes."""

    name: str
    server: Server
    path: str
    headers: dict[str, str]
    status: int
    length: int
    results: list[Result] = field(default_factory=list)

    def best(self) -> Result:
        """The round with the most requests a second: the one the rest of the machine (a
        shared one) disturbed least."""
        return max(self.results, key=lambda r: r.per_second)


@dataclass
class Homeline:
    kind: str
    figures: list[Figure]
    upload_times: list[float]
    display: bytes
    profile: Path | None


async def start_homeline(
    stack: AsyncExitStack, kind: str, args: argparse.Namespace, tmp: Path, data: bytes
) -> Homeline:
    """A real server on `kind`, seeded, with the 12 MP photo uploaded (timed) and sent."""
    var = tmp / kind / "var"
    var.mkdir(parents=True)
    url = await stack.enter_async_context(database(kind, var))
    port = free_port()
    env = server_env(var, port, url)
    log = tmp / kind / "homeline.log"
    await asyncio.to_thread(run_homeline, "migrate", env=env, log=log)
    (pair,) = (await seed(url, var, pairs=1, idle=0, cents=WALLET_CENTS)).pairs
    profile = None
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        profile = (args.profile / f"homeline-photos-views-{kind}.prof").resolve()
    command = homeline_command("serve", profile=profile)
    server = await stack.enter_async_context(
        running(f"homeline/{kind}", command, env=env, port=port, log=log)
    )
    photo_id, upload_times = await timed_uploads(server, pair, data, args.uploads)
    resident = {"Authorization": f"Bearer {pair.resident.token}"}
    view = f"/api/v1/photos/{photo_id}"
    display, etag = await fetch(server, view, resident)
    thumbnail, _ = await fetch(server, f"{view}/thumbnail", resident)
    print(
        f"homeline/{kind}: display {len(display) / 1e3:,.0f} kB, thumbnail "
        f"{len(thumbnail) / 1e3:,.0f} kB",
        flush=True,
    )
    revalidate = {**resident, "If-None-Match": etag}
    figures = [
        Figure(f"(a) photo views, {kind}", server, view, resident, 200, len(display)),
        Figure(
            f"(b) thumbnail views, {kind}",
            server,
            f"{view}/thumbnail",
            resident,
            200,
            len(thumbnail),
        ),
        Figure(f"(c) 304 revalidations, {kind}", server, view, revalidate, 304, 0),
    ]
    return Homeline(kind, figures, upload_times, display, profile)


async def start_bare(stack: AsyncExitStack, tmp: Path, display: bytes) -> Figure:
    file = tmp / "display.jpg"
    file.write_bytes(display)
    port = free_port()
    command = [sys.executable, "-m", "bench.photos_views", "--serve-file", str(file)]
    command += ["--port", str(port)]
    bare = await stack.enter_async_context(
        running("bare", command, env=dict(os.environ), port=port, log=tmp / "bare.log")
    )
    return Figure("(d) bare aiohttp FileResponse", bare, "/photo", {}, 200, len(display))


async def run(args: argparse.Namespace) -> None:
    data = twelve_megapixel_jpeg()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(
        f"photo: {SIZE[0]} x {SIZE[1]} JPEG ({MEGAPIXELS:g} MP, {len(data) / 1e6:.1f} MB); "
        f"{args.concurrency} requests in flight, {args.rounds} rounds of {args.seconds:g} s "
        "a figure (the servers side by side, the figures taken in turn; the best round counts)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="homeline-bench-photos-") as folder:
        tmp = Path(folder)
        async with AsyncExitStack() as stack:
            servers = [await start_homeline(stack, kind, args, tmp, data) for kind in kinds]
            bare = await start_bare(stack, tmp, servers[0].display)
            figures = [f for h in servers for f in h.figures] + [bare]
            for _ in range(args.rounds):
                for figure in figures:
                    figure.results.append(
                        await hammer(
                            figure.name,
                            figure.server,
                            figure.path,
                            headers=figure.headers,
                            status=figure.status,
                            length=figure.length,
                            seconds=args.seconds,
                            concurrency=args.concurrency,
                        )
                    )
    print()
    for figure in figures:
        print(figure.best().line())
    for h in servers:
        ratio = h.figures[0].best().per_second / bare.best().per_second
        verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
        print(f"(a)/(d) on {h.kind}: {ratio:.0%} (target >= {TARGET_RATIO:.0%}: {verdict})")
    for h in servers:
        median = statistics.median(h.upload_times)
        print(
            f"upload + re-encode through POST /api/v1/photos on {h.kind} (median of "
            f"{len(h.upload_times)}): {median * 1000:,.0f} ms a photo, "
            f"{median * 1000 / MEGAPIXELS:,.1f} ms/MP"
        )
        if h.profile is not None:
            print(f"profile of the server on {h.kind}: {h.profile} (python -m pstats)")


def serve_file(path: Path, port: int) -> None:
    web.run_app(bare_app(path), host="127.0.0.1", port=port, print=None, access_log=None)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.photos_views",
        description="Authorised photo views per second against a bare aiohttp FileResponse, "
        "304 revalidations per second, and upload + re-encode time per megapixel.",
    )
    parser.add_argument(
        "--db", choices=["sqlite", "postgresql", "both"], default="sqlite", help="database"
    )
    parser.add_argument("--seconds", type=float, default=5, help="measured seconds per figure")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every figure")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--uploads", type=int, default=3, help="timed 12 MP uploads")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the server here")
    parser.add_argument("--serve-file", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_file is not None:
        serve_file(args.serve_file, args.port)
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
