"""The web client's pages and assets, served as static files."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from server.errors import NotFound
from web_client import NODE_MODULES, STATIC_DIR

SOCKET_IO_CLIENT = NODE_MODULES / "socket.io-client" / "dist" / "socket.io.esm.min.js"
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


def _page(name: str) -> Handler:
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / name, headers=PAGE_HEADERS)

    return handler


async def socket_io_client(request: web.Request) -> web.FileResponse:
    if not SOCKET_IO_CLIENT.is_file():
        raise NotFound("socket.io-client is not installed; run `make install`.")
    return web.FileResponse(
        SOCKET_IO_CLIENT,
        headers={"Content-Type": "text/javascript", "Cache-Control": "max-age=3600"},
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/reset-password", _page("index.html"))
    app.router.add_get("/tablet", _page("tablet.html"))
    app.router.add_get("/console", _page("console.html"))
    app.router.add_get("/vendor/socket.io.esm.min.js", socket_io_client)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
