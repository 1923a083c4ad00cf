"""The application role: what the dispatcher and the collector log in as, with DML rights only.

Migration 0007 creates ``APP_GROUP``, a role that cannot log in, holding SELECT, INSERT, UPDATE and
DELETE on the schema's tables (and those later migrations create) and no right to change the
schema. ``provision_login`` makes the login the application secret names (username, password) a
member of it; MigrateFunction runs it after every upgrade (``APP_DB_SECRET_ARN``), as the master
user. The password reaches the server as a SCRAM-SHA-256 verifier, never in clear, so no
statement log holds it. A login that is the master user, a superuser or may create roles is
refused (``ConfigurationError``): its password would be reset and its rights kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

from sqlalchemy import Connection, Engine, text

from charlee_collector.core.errors import ConfigurationError

APP_GROUP = "charlee_collector_app"
SECRET_MAX_AGE_SECONDS = 300
# PostgreSQL's own default (scram_iterations); the password is 40 random characters anyway.
SCRAM_ITERATIONS = 4096


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 7677; ``ALTER ROLE ...
    PASSWORD`` takes it as it is). The password is used as given: PostgreSQL's SASLprep changes
    only non-ASCII text, and the stack generates ASCII."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def provision_login(engine: Engine, username: str, password: str) -> None:
    """Create (or update) the login ``username`` with ``password``, a member of ``APP_GROUP``."""
    with engine.begin() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_GROUP}).first():
            raise ConfigurationError(
                f"role {APP_GROUP} does not exist: migration 0007 creates it (the migrating user "
                "needs CREATEROLE, as RDS's master user has)"
            )
        row = conn.execute(
            text(
                "SELECT rolsuper OR rolcreaterole OR rolname = current_user FROM pg_roles WHERE rolname = :u"
            ),
            {"u": username},
        ).first()
        if row is not None and row[0]:
            raise ConfigurationError(
                f"the application secret names {username}, a user that can change the schema or "
                "roles (the master user or one like it): name a login of its own"
            )
        verifier = scram_verifier(password)
        if row is None:
            _run(
                conn,
                "CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT PASSWORD %L",
                username,
                verifier,
            )
        else:
            _run(conn, "ALTER ROLE %I LOGIN PASSWORD %L", username, verifier)
        _run(conn, "GRANT %I TO %I", APP_GROUP, username)


def provision_from_secret(engine: Engine, secret_arn: str) -> str:
    """``provision_login`` with the username and password of secret ``secret_arn``; returns the
    username. A secret that cannot be read, or lacks either, is a ``ConfigurationError``."""
    from charlee_collector.core.aws import aws_cause, read_secret_json
    from charlee_collector.observability.redaction import register_secret_values

    try:
        secret: Any = read_secret_json(secret_arn, SECRET_MAX_AGE_SECONDS)
    except Exception as exc:
        raise ConfigurationError(
            f"cannot read the application secret {secret_arn}: {aws_cause(exc)}"
        ) from exc
    if not isinstance(secret, dict) or not secret.get("username") or not secret.get("password"):
        raise ConfigurationError(f"the application secret {secret_arn} lacks a username or a password")
    register_secret_values([str(secret["password"])])  # log lines mask it from now on
    provision_login(engine, str(secret["username"]), str(secret["password"]))
    return str(secret["username"])


def _run(conn: Connection, template: str, *values: str) -> None:
    """A role statement built by the server's ``format`` (%I quotes a name, %L a literal): role
    statements take no bind parameters, and no quoting of ours is trusted with a password."""
    placeholders = ", ".join(f"CAST(:v{i} AS text)" for i in range(len(values)))  # format is variadic
    statement = conn.execute(
        text(f"SELECT format(:template, {placeholders})"),
        {"template": template, **{f"v{i}": value for i, value in enumerate(values)}},
    ).scalar_one()
    conn.exec_driver_sql(statement)
