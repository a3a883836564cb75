"""Alembic environment. Always handed a live connection by server/storage/migrate.py, which
runs it inside the application's own async engine (SQLite or PostgreSQL)."""

from __future__ import annotations

from alembic import context

from server.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations with `homeline migrate`, not the alembic command.")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
