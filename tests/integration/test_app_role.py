"""Migration 0007 and the application login: DML on the collector's tables, nothing more.

The server is a private PostgreSQL of the test's own that checks passwords (SCRAM-SHA-256 for
every user but the migrating ``postgres``), so a login that works proves the verifier the
migrate function sets. The migration upgrades a database holding the previous revision's rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from alembic.script import ScriptDirectory
from moto import mock_aws
from sqlalchemy import URL, Engine, select, text
from sqlalchemy.exc import DBAPIError

from charlee_collector.app import runtime
from charlee_collector.core.aws import forget_secrets
from charlee_collector.core.errors import ConfigurationError
from charlee_collector.store import app_role, migrate
from charlee_collector.store import migrations as migrations_package
from charlee_collector.store.engine import create_db_engine
from charlee_collector.store.tables import opportunities, platforms
from charlee_collector_tools.local.handlers import LocalLambdaContext
from tests.support.db import scratch_database, start_postgres_server
from tests.support.factories import add_platform

HBA = b"""local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""
SCRIPTS = ScriptDirectory(str(Path(migrations_package.__file__).parent))
PREVIOUS = SCRIPTS.get_revision("0007").down_revision
HEAD = SCRIPTS.get_current_head()  # later revisions come after 0007: the upgrade goes through it


@pytest.fixture(scope="module")
def password_server() -> Iterator[URL]:
    options = "-c hba_file={datadir}/test_hba.conf -c password_encryption=scram-sha-256"
    url, server = start_postgres_server(options, {"test_hba.conf": HBA})
    try:
        yield url.set(database="postgres")
    finally:
        server.stop()  # type: ignore[attr-defined]


@pytest.fixture
def database(password_server: URL) -> Iterator[Engine]:
    """A fresh, empty database on ``password_server``, as the migrating (master) user."""
    with scratch_database(password_server, "charlee_role") as url:
        engine = create_db_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def as_login(engine: Engine, username: str, password: str) -> Engine:
    return create_db_engine(engine.url.set(username=username, password=password), pool_size=1)


def refused(app: Engine, statement: str) -> str:
    """The server's refusal of ``statement`` run as ``app`` (the test fails if it runs)."""
    with pytest.raises(DBAPIError) as error, app.begin() as conn:
        conn.execute(text(statement))
    return str(error.value.orig)


def test_an_upgrade_keeps_the_rows_and_the_login_gets_dml_only(database: Engine) -> None:
    migrate.upgrade(database, PREVIOUS)
    with database.begin() as conn:
        platform_id = add_platform(conn, name="kept")
    migrate.upgrade(database)
    assert migrate.current_revision(database) == HEAD
    login, password = f"charlee_app_{uuid.uuid4().hex[:6]}", "Generated-By-The-Stack-0123456789"
    app_role.provision_login(database, login, password)

    app = as_login(database, login, password)
    try:
        with app.begin() as conn:
            assert (
                conn.execute(select(platforms.c.name).where(platforms.c.id == platform_id)).scalar() == "kept"
            )
            conn.execute(platforms.update().where(platforms.c.id == platform_id).values(name="renamed"))
            conn.execute(opportunities.delete())
            assert add_platform(conn, name="new") > platform_id  # INSERT, and the id sequence
        for statement in (
            "CREATE TABLE intruder (id int)",
            "DROP TABLE freelance_opportunities",
            "ALTER TABLE freelance_platforms ADD COLUMN x int",
            "TRUNCATE collection_runs",
            "SELECT * FROM alembic_version",
            "CREATE ROLE intruder",
        ):
            reason = refused(app, statement)
            assert "permission denied" in reason or "must be owner" in reason, (statement, reason)
    finally:
        app.dispose()
    # A table a later migration creates (as the master user) is the login's to use too.
    with database.begin() as conn:
        conn.execute(text("CREATE TABLE later_table (id int)"))
    app = as_login(database, login, password)
    try:
        with app.begin() as conn:
            conn.execute(text("INSERT INTO later_table VALUES (1)"))
    finally:
        app.dispose()


def test_the_login_checks_its_password(database: Engine) -> None:
    migrate.upgrade(database)
    login = f"charlee_app_{uuid.uuid4().hex[:6]}"
    app_role.provision_login(database, login, "right-password")
    app_role.provision_login(database, login, "rotated-password")  # again: the password is updated
    wrong = as_login(database, login, "right-password")
    try:
        with pytest.raises(DBAPIError, match="password authentication failed"):
            wrong.connect().close()
    finally:
        wrong.dispose()
    right = as_login(database, login, "rotated-password")
    try:
        with right.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == login
    finally:
        right.dispose()


def test_the_password_reaches_the_server_only_as_a_verifier(database: Engine) -> None:
    migrate.upgrade(database)
    login = f"charlee_app_{uuid.uuid4().hex[:6]}"
    app_role.provision_login(database, login, "not-in-clear")
    with database.connect() as conn:
        stored = conn.execute(
            text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": login}
        ).scalar()
    assert stored.startswith("SCRAM-SHA-256$4096:") and "not-in-clear" not in stored


def test_a_login_that_could_change_the_schema_is_refused(database: Engine) -> None:
    migrate.upgrade(database)
    with pytest.raises(ConfigurationError, match="the application secret names postgres"):
        app_role.provision_login(database, "postgres", "x")


def test_the_downgrade_takes_the_rights_back(database: Engine) -> None:
    migrate.upgrade(database)
    login = f"charlee_app_{uuid.uuid4().hex[:6]}"
    app_role.provision_login(database, login, "pw")
    migrate.downgrade(database, PREVIOUS)
    assert migrate.current_revision(database) == PREVIOUS
    app = as_login(database, login, "pw")
    try:
        assert "permission denied" in refused(app, "SELECT * FROM freelance_platforms")
    finally:
        app.dispose()


def test_the_migrate_function_creates_the_login_from_the_application_secret(
    database: Engine, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import migrate_handler  # functions/migrate, on the test path (pyproject)

    login = f"charlee_app_{uuid.uuid4().hex[:6]}"
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="charlee/test/app-db", SecretString=json.dumps({"username": login, "password": "s3cret-pw"})
        )["ARN"]
        monkeypatch.setenv("DATABASE_URL", database.url.render_as_string(hide_password=False))
        monkeypatch.setenv("APP_DB_SECRET_ARN", arn)
        runtime.reset()
        forget_secrets()
        try:
            answer = migrate_handler.handler({}, LocalLambdaContext(function_name="charlee-migrate"))
        finally:
            runtime.reset()
            forget_secrets()
    assert answer == {"revision": HEAD}
    app = as_login(database, login, "s3cret-pw")
    try:
        with app.connect() as conn:
            assert conn.execute(select(platforms.c.id)).all() == []
    finally:
        app.dispose()
