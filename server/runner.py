"""Running the application as a server process, with a graceful shutdown on SIGTERM/SIGINT.

aiohttp's own `run_app` stops reading from open connections before it runs the shutdown
hooks, so a websocket could never finish its closing handshake and every connected client held
the process for the full timeout. Here the clients are told and disconnected first, while their
connections still work; then aiohttp finishes in-flight requests and closes the rest.
"""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from server.appkeys import CONFIG, SIO
from server.config import Config
from server.realtime import tell_clients_and_stop


async def serve(app: web.Application, config: Config) -> None:
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=config.shutdown_timeout
    )
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        await tell_clients_and_stop(app[SIO], grace=app[CONFIG].shutdown_timeout)
    finally:
        await runner.cleanup()
