"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

import media.storage  # noqa: F401  (the wings' tables, compared too)
import moderation.storage  # noqa: F401
from server.storage.db import Database, create_engine
from server.storage.migrate import current_revision, head_revision, upgrade
from server.storage.models import Base


async def empty_database(url: str) -> Database:
    db = Database(create_engine(url))
    if db.dialect == "postgresql":
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    return db


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_from_empty_reaches_head(database_url: str) -> None:
    db = await empty_database(database_url)
    try:
        assert await current_revision(db) is None
        await upgrade(db)
        assert await current_revision(db) == head_revision()
        await upgrade(db)  # a second run has nothing to do
        assert await current_revision(db) == head_revision()
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert set(Base.metadata.tables) <= tables
    finally:
        await db.close()


async def test_models_match_migrations(database_url: str) -> None:
    db = await empty_database(database_url)
    try:
        await upgrade(db)
        async with db.engine.connect() as conn:
            found = await conn.run_sync(differences)
        assert found == []
    finally:
        await db.close()
