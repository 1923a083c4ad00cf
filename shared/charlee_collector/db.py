"""The database engine: one per process, reused across Lambda invocations.

The URL comes from ``DATABASE_URL``, or from the RDS secret named by ``DB_SECRET_ARN``
(host/port/username/password/dbname), read through Powertools Parameters with caching.
SQLite (a file) is the embedded default for local runs only; a Lambda without a database
setting fails at cold start.
"""

from __future__ import annotations

import ssl
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url

from charlee_collector.errors import ConfigurationError
from charlee_collector.settings import Settings

DEFAULT_LOCAL_DB = Path.home() / ".charlee-collector" / "collector.sqlite3"
SECRET_MAX_AGE_SECONDS = 300

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def url_from_secret(secret: dict[str, Any]) -> URL:
    """Build a PostgreSQL URL from an RDS-style secret, without ever formatting the password."""
    missing = [key for key in ("host", "username", "password") if not secret.get(key)]
    if missing:
        raise ConfigurationError(f"database secret lacks {', '.join(missing)}")
    from charlee_collector.observability import register_secret_values  # not at import: the CLI

    register_secret_values([secret["password"]])  # log lines mask it from now on
    return URL.create(
        "postgresql+pg8000",
        username=secret["username"],
        password=secret["password"],
        host=secret["host"],
        port=int(secret.get("port") or 5432),
        database=secret.get("dbname") or secret.get("database") or "postgres",
    )


def normalize_url(raw: str | URL) -> URL:
    """Pin PostgreSQL URLs to the pure-Python pg8000 driver the layer ships."""
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+pg8000")
    return url


def resolve_url(settings: Settings, *, local_default: bool = False) -> URL:
    """The database URL the settings name; the local SQLite file when allowed and nothing is set."""
    if settings.database_url:
        return normalize_url(settings.database_url)
    if settings.db_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        try:
            secret = parameters.get_secret(
                settings.db_secret_arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS
            )
        except Exception as exc:
            # The secret's name is safe to log; its value never is.
            raise ConfigurationError(
                f"cannot read database secret {settings.db_secret_arn}: {type(exc).__name__}"
            ) from exc
        return url_from_secret(secret)
    if local_default:
        DEFAULT_LOCAL_DB.parent.mkdir(parents=True, exist_ok=True)
        return make_url(f"sqlite:///{DEFAULT_LOCAL_DB}")
    raise ConfigurationError("set DATABASE_URL or DB_SECRET_ARN to name the database")


def create_db_engine(url: str | URL, *, tls: bool = False, pool_size: int = 4) -> Engine:
    """A new engine sized for Lambda: a small pool, pre-ping, recycled connections."""
    url = normalize_url(url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {"timeout": 10}
    if tls:
        connect_args["ssl_context"] = ssl.create_default_context()
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=2,
        pool_pre_ping=True,
        pool_recycle=300,
        connect_args=connect_args,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the CLI read while the local poller writes; the busy timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def get_engine(settings: Settings, *, local_default: bool = False) -> Engine:
    """The process-wide engine for ``settings``, created on first use."""
    url = resolve_url(settings, local_default=local_default)
    key = url.render_as_string(hide_password=False)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = create_db_engine(
                url, tls=settings.db_tls, pool_size=settings.db_pool_size
            )
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests and the CLI call this when they are done)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
