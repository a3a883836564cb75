"""Every shared object lives on the application under one of these typed keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import socketio

    from server.config import Config
    from server.http.api import Api
    from server.http.metrics import HttpMetrics
    from server.scheduler import Scheduler
    from server.services.context import Services

CONFIG: web.AppKey[Config] = web.AppKey("config")
SERVICES: web.AppKey[Services] = web.AppKey("services")
API: web.AppKey[Api] = web.AppKey("api")
METRICS: web.AppKey[HttpMetrics] = web.AppKey("metrics")
SIO: web.AppKey[socketio.AsyncServer] = web.AppKey("sio")
SCHEDULER: web.AppKey[Scheduler] = web.AppKey("scheduler")
