"""Alembic migrations. `homeline migrate` applies them; see server/storage/migrate.py."""
