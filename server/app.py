"""The composition root: builds every part and hangs it on the application. Nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis

from media.http import routes as media_routes
from media.http.routes import MEDIA
from media.services.photo_pipeline import PhotoPipeline
from media.services.photos import Media, attach_in, do_expire_unsent, next_unsent_expiry
from media.storage.blob_cache import CachedBlobStore
from media.storage.factory import blob_store_from
from moderation.http import routes as moderation_routes
from moderation.http import routes_audit, routes_reports
from moderation.http import routes_cases as case_routes
from moderation.services.policies import policy_in
from moderation.sockets.staff import StaffNamespace
from server.appkeys import API, CONFIG, METRICS, SCHEDULER, SERVICES, SIO
from server.clock import Clock, SystemClock
from server.config import Config
from server.http import (
    routes_accounts,
    routes_contacts,
    routes_events,
    routes_facilities,
    routes_messages,
    routes_ops,
    routes_sessions,
    routes_support,
    routes_tariffs,
    routes_wallet,
    routes_web,
)
from server.http.api import Api
from server.http.metrics import HttpMetrics
from server.http.middleware import request_context
from server.realtime import SocketNotifier, attach, create_socket_server, tell_clients_and_stop
from server.scheduler import Job, Scheduler
from server.services.contacts import do_end_expired_blocks, next_block_end
from server.services.context import PhotoAttacher, PolicySource, Services
from server.services.delivery import do_release_due, next_release_at
from server.services.events import publish_committed
from server.services.mail import Mailer, MailQueue, OutboxMailer, SmtpMailer
from server.services.notify import Notifier
from server.services.passwords import Hasher
from server.services.payments import PaymentGateway, SandboxGateway
from server.services.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from server.services.sessions import do_purge_expired_sessions, next_session_expiry
from server.sockets.liveness import SessionEndRelay, SocketSessions
from server.sockets.main import MainNamespace
from server.storage.db import Database, create_engine

log = logging.getLogger("homeline.app")
REDIS_CONNECTIONS = 16
# Long enough for a local Redis on a busy machine (2 s timed out under a full test run, and
# each timeout is a count kept in process only); short enough that a hung Redis cannot hold a
# sign-in for long.
REDIS_WAIT_SECONDS = 5


# The moderation wing answers the core's one question about it (the policy in force) through
# this port; `homeline` one-off commands plug in the same.
POLICY_SOURCE: PolicySource = policy_in
# The media wing attaches uploaded photos to a message being sent, through this port.
PHOTO_ATTACHER: PhotoAttacher = attach_in


def build_api() -> Api:
    api = Api()
    for module in (
        routes_ops,
        routes_accounts,
        routes_sessions,
        routes_facilities,
        routes_contacts,
        routes_events,
        routes_messages,
        routes_wallet,
        routes_tariffs,
        routes_support,
        moderation_routes,
        case_routes,
        routes_reports,
        routes_audit,
        media_routes,
    ):
        for endpoint in module.endpoints():
            api.add(endpoint)
    return api


def create_app(
    config: Config,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    hasher: Hasher | None = None,
    gateway: PaymentGateway | None = None,
) -> web.Application:
    app = web.Application(middlewares=[request_context], client_max_size=1024**2)
    app[CONFIG] = config
    app[METRICS] = HttpMetrics()
    api = build_api()
    app[API] = api
    api.mount(app.router)
    routes_web.setup(app)
    clock = clock or SystemClock()
    scheduler = Scheduler(clock)
    app[SCHEDULER] = scheduler
    sio = create_socket_server(config)
    app[SIO] = sio
    sockets = SocketSessions(sio)
    relay = (
        SessionEndRelay(config.redis_url, channel=f"{config.redis_prefix}:session-ends")
        if config.redis_url
        else None
    )
    # Every socket.io namespace, one class each: the core's `/`, the console's `/staff`
    # (signaling's `/visits` joins them here).
    attach(sio, app, [MainNamespace(app, sessions=sockets), StaffNamespace(app, sessions=sockets)])
    app.cleanup_ctx.append(
        _services_ctx(
            clock,
            mailer,
            hasher,
            gateway or SandboxGateway(),
            SocketNotifier(sio, sockets, relay),
            scheduler,
        )
    )
    # Timed work, each job due at a time read from the clock and claimed from the database
    # (a wing adds its own here: a visit's block end, reminders, unsent uploads).
    for job in _core_jobs(app, sockets) + _media_jobs(app):
        scheduler.add(job)
    app.cleanup_ctx.append(_media)
    app.cleanup_ctx.append(_scheduling(scheduler))
    if relay is not None:
        app.cleanup_ctx.append(_closing(relay))
        app.cleanup_ctx.append(
            _background("session-ends", lambda app, stop: relay.listen(sockets.disconnect, stop))
        )
    app.on_shutdown.append(_tell_sockets)
    return app


def _services_ctx(
    clock: Clock,
    mailer: Mailer | None,
    hasher: Hasher | None,
    gateway: PaymentGateway,
    notifier: Notifier,
    scheduler: Scheduler,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def after_commit(committed: list[Any]) -> None:
        scheduler.notice(committed)
        await publish_committed(notifier, committed)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        db = Database(create_engine(config.database_url), after_commit=after_commit)
        # Bounded waits: a Redis that hangs must not hold a sign-in (the limiter then counts
        # in process). A bounded pool: a burst of sign-ins shares a few connections instead of
        # opening one each at once (a storm of connects timed out on a busy machine, and
        # every timeout is a count kept in process only).
        redis = (
            Redis.from_pool(
                BlockingConnectionPool.from_url(
                    config.redis_url,
                    max_connections=REDIS_CONNECTIONS,
                    timeout=REDIS_WAIT_SECONDS,
                    socket_timeout=REDIS_WAIT_SECONDS,
                    socket_connect_timeout=REDIS_WAIT_SECONDS,
                )
            )
            if config.redis_url
            else None
        )
        limiter: RateLimiter = (
            RedisRateLimiter(redis, clock, prefix=f"{config.redis_prefix}:rl")
            if redis is not None
            else MemoryRateLimiter(clock)
        )
        mail = MailQueue(mailer or _mailer(config, clock), sender=config.smtp_from, clock=clock)
        mail.start()
        app[SERVICES] = Services(
            config=config,
            db=db,
            clock=clock,
            hasher=hasher or Hasher(),
            limiter=limiter,
            mail=mail,
            gateway=gateway,
            policies=POLICY_SOURCE,
            photos=PHOTO_ATTACHER,
            notifier=notifier,
        )
        try:
            yield
        finally:
            await mail.stop(grace=config.shutdown_timeout)
            await limiter.close()
            await db.close()

    return ctx


def _mailer(config: Config, clock: Clock) -> Mailer:
    if config.smtp_host:
        return SmtpMailer(
            host=config.smtp_host,
            port=config.smtp_port,
            username=config.smtp_user,
            password=config.smtp_password,
            start_tls=config.smtp_starttls,
        )
    return OutboxMailer(config.outbox_dir, clock)


def _core_jobs(app: web.Application, sockets: SocketSessions) -> list[Job]:
    """The core's timed work. Services are built when the app starts, hence the lookups."""

    def svc() -> Services:
        return app[SERVICES]

    return [
        Job("delivery", lambda: next_release_at(svc()), lambda: do_release_due(svc())),
        Job("block-ends", lambda: next_block_end(svc()), lambda: do_end_expired_blocks(svc())),
        Job(
            "expired-sessions",
            lambda: next_session_expiry(svc()),
            lambda: do_purge_expired_sessions(svc()),
        ),
        # This process's sockets of sessions that ran out (their ends are known in memory).
        Job(
            "socket-sessions",
            lambda: sockets.next_due(svc().clock.now()),
            lambda: sockets.sweep(svc()),
        ),
    ]


def _media_jobs(app: web.Application) -> list[Job]:
    """The media wing's timed work: unsent photos past their 24 hours are deleted."""
    return [
        Job(
            "unsent-photos",
            lambda: next_unsent_expiry(app[SERVICES]),
            lambda: do_expire_unsent(app[SERVICES], app[MEDIA]),
        )
    ]


async def _media(app: web.Application) -> AsyncIterator[None]:
    """The blob store (local disk or S3, by the settings; its small blobs kept in memory once
    read, for views) and the photo pipeline, whose worker processes start with the first
    upload."""
    blobs = CachedBlobStore(blob_store_from(app[CONFIG]))
    await blobs.start()
    app[MEDIA] = Media(blobs=blobs, pipeline=PhotoPipeline())
    try:
        yield
    finally:
        await app[MEDIA].close()


def _scheduling(scheduler: Scheduler) -> Callable[[web.Application], AsyncIterator[None]]:
    """The scheduler runs while the app runs (after the services it uses are built, stopped
    before they close)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop(grace=app[CONFIG].shutdown_timeout)

    return ctx


def _background(
    name: str, work: Callable[[web.Application, asyncio.Event], Coroutine[Any, Any, None]]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A task that runs while the app runs; on shutdown it is asked to stop and awaited."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(work(app, stop), name=name)
        try:
            yield
        finally:
            # Let work in progress finish rather than cancel it mid-query: a cancelled SQLite
            # query's worker thread would answer after the event loop has closed.
            stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), app[CONFIG].shutdown_timeout)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return ctx


def _closing(relay: SessionEndRelay) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await relay.close()

    return ctx


async def _tell_sockets(app: web.Application) -> None:
    await tell_clients_and_stop(app[SIO], grace=app[CONFIG].shutdown_timeout)
