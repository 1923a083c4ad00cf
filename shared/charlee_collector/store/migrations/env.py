"""Alembic environment: runs on the connection ``charlee_collector.store.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from charlee_collector.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
