"""Alembic environment: runs on the connection handed over by keywell.store.migrate."""

from __future__ import annotations

from alembic import context

from keywell.store.tables import metadata

_connection = context.config.attributes.get("connection")
if _connection is None:
    raise RuntimeError("run migrations through keywell.store.upgrade(url)")
context.configure(connection=_connection, target_metadata=metadata)
context.run_migrations()
