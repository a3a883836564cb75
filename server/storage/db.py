"""Engine and session factory. SQLite gets WAL, foreign keys and a busy timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Executable, Row, event, text
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# A hot read on SQLite runs on the event loop (`Database.fetch_one`): never wait long for a lock.
HOT_READ_BUSY_MS = 100

AfterCommit = Callable[[list[Any]], Awaitable[None]]
BeforeCommit = Callable[[AsyncSession], Awaitable[None]]
# Steps a transaction leaves for just before its commit (writing its events, numbered) go in
# `session.info` under this key; they run in the transaction, after the caller's own work.
BEFORE_COMMIT = "homeline.before_commit"
# Work a transaction leaves for after its commit (events to push) goes in `session.info`
# under this key; `Database.transaction()` hands it to `after_commit` once the commit is done.
AFTER_COMMIT = "homeline.after_commit"


class Database:
    """The engine plus a session factory; `transaction()` is the one way services write.

    On SQLite, write transactions of this process take turns (an asyncio lock, first come
    first served) instead of meeting in SQLite's busy handler, which sleeps and retries and
    so turns a few concurrent writers into waits of a second or more. Readers never wait
    (WAL); other processes still meet in the busy handler.
    """

    def __init__(self, engine: AsyncEngine, *, after_commit: AfterCommit | None = None) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.after_commit = after_commit
        self._write_turn = asyncio.Lock() if self.dialect == "sqlite" else None
        self._reader_turn = asyncio.Lock()  # the kept connection of `fetch_one`
        self._reader: AsyncConnection | None = None
        self._sqlite_reader: Connection | None = None
        url = engine.url
        self._sqlite_file = self.dialect == "sqlite" and url.database not in (None, "", ":memory:")
        self._turn_holder: asyncio.Task[Any] | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, serialised: bool = False) -> AsyncIterator[AsyncSession]:
        """One database transaction; on commit, what it left for after the commit is run.

        `serialised=True` for a transaction that decides on what it reads (a refund, a review
        decision): on SQLite it takes the write lock at once (`serialise_writers`)."""
        async with self._turn(), self.sessions() as session:
            async with session.begin():
                if serialised:
                    await serialise_writers(session)
                yield session
                steps: list[BeforeCommit] = session.info.pop(BEFORE_COMMIT, [])
                for step in steps:
                    await step(session)
            pending: list[Any] = session.info.pop(AFTER_COMMIT, [])
        if pending and self.after_commit is not None:
            await self.after_commit(pending)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        # A transaction opened inside another in the same task (never the design, but not an
        # error either) must not wait for itself.
        me = asyncio.current_task()
        if self._write_turn is None or self._turn_holder is me:
            yield
            return
        async with self._write_turn:
            self._turn_holder = me
            try:
                yield
            finally:
                self._turn_holder = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def fetch_one(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Row[Any] | None:
        """The one row (or None) a read-only statement answers: for the hottest reads
        (resolving a session, deciding a photo view), where an ORM session's, a pool
        checkout's (with its ping), a BEGIN's and a ROLLBACK's own costs show. The statements
        go through one connection kept for them, in autocommit: each sees what is committed
        when it runs and holds no lock afterwards. A connection that fails is dropped for a
        fresh one.

        On SQLite that connection is a plain (synchronous) one, used on the event loop: a
        look-up by key takes some tens of microseconds, far less than aiosqlite's trips
        through its thread, and WAL lets it read beside every writer without waiting (its
        busy timeout is short all the same)."""
        if self._sqlite_file:
            return self._fetch_one_here(statement, params)
        async with self._reader_turn:
            if self._reader is None:
                conn = await self.engine.connect()
                self._reader = await conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                return (await self._reader.execute(statement, params)).one_or_none()
            except BaseException:
                reader, self._reader = self._reader, None
                await reader.close()
                raise

    def _fetch_one_here(
        self, statement: Executable, params: Mapping[str, Any] | None
    ) -> Row[Any] | None:
        if self._sqlite_reader is None:
            engine = sa_create_engine(self.engine.url.set(drivername="sqlite"), poolclass=NullPool)
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql(f"PRAGMA busy_timeout={HOT_READ_BUSY_MS}")
            self._sqlite_reader = conn
        try:
            return self._sqlite_reader.execute(statement, params).one_or_none()
        except BaseException:
            self._close_sqlite_reader()
            raise

    def _close_sqlite_reader(self) -> None:
        reader, self._sqlite_reader = self._sqlite_reader, None
        if reader is not None:
            reader.close()
            reader.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        self._close_sqlite_reader()
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        await self.engine.dispose()


async def serialise_writers(tx: AsyncSession) -> None:
    """On SQLite, take the database's write lock now (what BEGIN IMMEDIATE does).

    The SQLite driver begins the transaction only at the first write, so without this the
    reads an operation decides on (what was refunded already, whether a hold is open, whether
    a review decision came first) would run outside the transaction and could be stale by the
    time it writes. PostgreSQL needs nothing here: those operations lock their row instead.
    A write that changes nothing (to a table every installation has) takes the lock.
    """
    if tx.get_bind().dialect.name == "sqlite":
        await tx.execute(text(_SQLITE_WRITE_LOCK))


_SQLITE_WRITE_LOCK = "UPDATE ledger_accounts SET balance_cents = balance_cents WHERE 0"
