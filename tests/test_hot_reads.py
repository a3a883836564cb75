"""`Database.fetch_one`, the hottest reads' path (sessions, photo views): it sees every commit
at once, beside open writers, on both databases."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Integer, bindparam, select, text
from sqlalchemy.exc import DBAPIError

from server.storage.db import Database, create_engine
from tests.story import reset_schema

NOTES = text("CREATE TABLE hot_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
NOTE = text("SELECT body FROM hot_notes WHERE id = :id")


async def test_a_hot_read_sees_each_commit_at_once_and_reads_beside_a_writer(
    database_url: str,
) -> None:
    await reset_schema(database_url)
    db = Database(create_engine(database_url))
    try:
        async with db.transaction() as tx:
            await tx.execute(NOTES)
        assert await db.fetch_one(NOTE, {"id": 1}) is None
        async with db.transaction() as tx:
            await tx.execute(text("INSERT INTO hot_notes VALUES (1, 'first')"))
        row = await db.fetch_one(NOTE, {"id": 1})
        assert row is not None and row.body == "first"

        # A writer holds its transaction open: the hot read neither waits nor sees it.
        writing, done = asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            async with db.transaction() as tx:
                await tx.execute(text("UPDATE hot_notes SET body = 'second' WHERE id = 1"))
                writing.set()
                await done.wait()

        task = asyncio.create_task(writer())
        await writing.wait()
        row = await asyncio.wait_for(db.fetch_one(NOTE, {"id": 1}), 2)
        assert row is not None and row.body == "first"
        done.set()
        await task
        row = await db.fetch_one(NOTE, {"id": 1})
        assert row is not None and row.body == "second"
    finally:
        await db.close()


async def test_a_failed_hot_read_leaves_the_next_one_working(database_url: str) -> None:
    await reset_schema(database_url)
    db = Database(create_engine(database_url))
    try:
        with pytest.raises(DBAPIError):
            await db.fetch_one(text("SELECT * FROM no_such_table"))
        row = await db.fetch_one(select(bindparam("x", type_=Integer)), {"x": 7})
        assert row is not None and row[0] == 7
    finally:
        await db.close()
