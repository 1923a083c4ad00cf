"""Alembic migrations: create from empty, drop on downgrade, create again."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect

from charlee_collector import migrate
from charlee_collector.db import create_db_engine

TABLES = {"freelance_platforms", "freelance_opportunities", "collection_runs"}


def _roundtrip(engine: Engine) -> None:
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert migrate.current_revision(engine) == "0001"
    migrate.downgrade(engine)
    assert not TABLES & set(inspect(engine).get_table_names())
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_sqlite_upgrade_downgrade_upgrade(tmp_path: object) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path}/m.sqlite3")
    _roundtrip(engine)
    engine.dispose()


def test_postgres_upgrade_downgrade_upgrade(postgres_server_url: object) -> None:
    import uuid

    from sqlalchemy import create_engine, text

    name = f"charlee_migr_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(postgres_server_url.set(database=name))  # type: ignore[attr-defined]
    try:
        _roundtrip(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("freelance_platforms")}
        assert {"next_collection_at", "etag", "last_modified", "consecutive_failures", "paused_at"} <= columns
        indexes = {i["name"] for i in inspect(engine).get_indexes("freelance_platforms")}
        assert "ix_freelance_platforms_due" in indexes
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("engine_name", ["sqlite_engine", "pg_engine"])
def test_models_match_migrations(engine_name: str, request: pytest.FixtureRequest) -> None:
    """The typed models and the migration describe the same columns."""
    from charlee_collector.models import metadata

    engine = request.getfixturevalue(engine_name)
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        in_db = {c["name"] for c in inspector.get_columns(table.name)}
        assert in_db == {c.name for c in table.columns}, table.name
