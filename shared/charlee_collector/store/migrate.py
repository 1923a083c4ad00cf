"""Apply or roll back the Alembic migrations on an engine (the CLI and MigrateFunction call this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The advisory lock key upgrades take (any constant no other code of this database uses).
MIGRATION_LOCK = 0x43484C45  # "CHLE"


def _config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


class UnknownRevision(Exception):
    """The database is at a revision these migrations do not have (newer code migrated it)."""


def upgrade(engine: Engine, revision: str = "head", *, statement_timeout_ms: int | None = None) -> None:
    """Bring the schema up to ``revision`` (default: the newest).

    ``statement_timeout_ms``: the server ends any statement of the migration that runs longer,
    waiting on a lock included, and ends the session if it sits that long inside the
    transaction, so a caller that gave up (the schema custom resource) leaves no lock behind.

    Upgrades of one database take turns (a transaction-level advisory lock): two commands that
    find the embedded database new at the same moment must not both create its tables.
    """
    with engine.begin() as connection:
        if statement_timeout_ms is not None:
            for setting in ("statement_timeout", "idle_in_transaction_session_timeout"):
                connection.exec_driver_sql(f"SET LOCAL {setting} = {int(statement_timeout_ms)}")
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config = _config(connection)
        _require_known_revision(config, connection)
        command.upgrade(config, revision)


def _require_known_revision(config: Config, connection: Connection) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    current = MigrationContext.configure(connection).get_current_revision()
    if current is not None and current not in {
        s.revision for s in ScriptDirectory.from_config(config).walk_revisions()
    }:
        raise UnknownRevision(f"the database is at revision {current}, which this code does not have")


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Roll the schema back to ``revision`` (default: empty)."""
    with engine.begin() as connection:
        command.downgrade(_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
