"""The database engine: one per process, reused across Lambda invocations; PostgreSQL through pg8000.

The URL comes from ``DATABASE_URL``, or from the RDS secret ``DB_SECRET_ARN`` names (read through
Powertools Parameters, cached); nothing set fails at cold start (the operator's tools fall back to
the embedded server). TCP connections run over a socket of ours (TCP_NODELAY: pg8000's ``sock``).
A pooled connection is pinged on checkout and replaced when the ping fails in any way, and a
statement that fails with anything but the database's own error invalidates its connection
(the driver's protocol state is then unknown); the caller still gets the error.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import ArgumentError, InvalidatePoolError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from charlee_collector.core.errors import ConfigurationError
from charlee_collector.core.settings import Settings
from charlee_collector.store import tls as tls_policy

SECRET_MAX_AGE_SECONDS = 300

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def url_from_secret(secret: dict[str, Any]) -> URL:
    """Build a PostgreSQL URL from an RDS-style secret, without ever formatting the password."""
    missing = [key for key in ("host", "username", "password") if not secret.get(key)]
    if missing:
        raise ConfigurationError(f"database secret lacks {', '.join(missing)}")
    from charlee_collector.observability.redaction import register_secret_values  # not at import: the CLI

    register_secret_values([secret["password"]])  # log lines mask it from now on
    return URL.create(
        "postgresql+pg8000",
        username=secret["username"],
        password=secret["password"],
        host=secret["host"],
        port=int(secret.get("port") or 5432),
        database=secret.get("dbname") or secret.get("database") or "postgres",
    )


# The drivers the layer and the CLI ship: anything else would fail importing its driver.
SUPPORTED_DRIVERS = {
    "postgresql": "postgresql+pg8000",
    "postgres": "postgresql+pg8000",
    "postgresql+pg8000": "postgresql+pg8000",
}
SUPPORTED_DATABASES = "PostgreSQL (postgresql://user:password@host:5432/dbname)"
# The one connection argument a URL may carry: the embedded server listens on a Unix socket only.
UNIX_SOCKET = "unix_sock"


def normalize_url(raw: str | URL, *, named_by: str = "DATABASE_URL") -> URL:
    """Pin PostgreSQL URLs to the pure-Python pg8000 driver the layer ships; refuse other databases.

    ``ConfigurationError`` names the scheme and the supported databases (a MySQL URL used to end
    in a 55-line ``ModuleNotFoundError``); a database no longer supported, or a file path, gets a
    line of its own saying how to point at PostgreSQL (``named_by`` says where the value came from).
    """
    from charlee_collector.store import unsupported_databases

    text = raw if isinstance(raw, str) else f"{raw.drivername}://"
    if unsupported_databases.names_unsupported_database(text):
        raise unsupported_databases.refuse(text, named_by)
    try:
        url = make_url(raw)
        port = url.port  # parsed lazily: "host:abc" fails here, not at the first connect
    except (ValueError, ArgumentError) as exc:
        # The error names the part that failed, never the password.
        raise ConfigurationError(f"not a database URL ({exc}): give {SUPPORTED_DATABASES}") from None
    driver = SUPPORTED_DRIVERS.get(url.drivername)
    if driver is None:
        raise ConfigurationError(
            f"unsupported database URL scheme {url.drivername + '://'!r}: "
            f"Charlee Collector works with {SUPPORTED_DATABASES}"
        )
    if driver.startswith("postgresql"):
        _check_postgresql(url, port)
    return url.set(drivername=driver)


def _check_postgresql(url: URL, port: int | None) -> None:
    """What pg8000 would otherwise refuse with a TypeError at the first connect."""
    if not url.username:
        raise ConfigurationError(
            "the PostgreSQL URL names no user: give postgresql://USER:PASSWORD@HOST:5432/DBNAME"
        )
    if port is not None and not 1 <= port <= 65535:
        raise ConfigurationError(f"the PostgreSQL URL's port {port} is not a TCP port (1 to 65535)")
    unknown = set(url.query) - {UNIX_SOCKET}
    if unknown:
        # pg8000 takes these as connection arguments: libpq's (sslmode, connect_timeout) are not.
        names = ", ".join(sorted(unknown))
        raise ConfigurationError(
            f"the PostgreSQL URL's query ({names}) is not understood by the pg8000 driver: "
            "leave it out (TLS is on for every host but this machine; DB_TLS and DB_CA_BUNDLE set it)"
        )


def describe_error(url: URL, error: BaseException) -> str:
    """One line for a failed database operation: where (host, port, database) and why, in the
    server's own words (pg8000's ``M`` field) or the network's (refused, unresolvable, timed out)."""
    return f"{describe_database(url)}: {_reason(getattr(error, 'orig', None) or error)}"


def describe_database(url: URL) -> str:
    """Where ``url`` points, for a message: the host and port (or Unix socket) and the database;
    never the password."""
    socket_path = url.query.get(UNIX_SOCKET)
    if socket_path:
        return f"PostgreSQL at {socket_path}, database {url.database!r}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}, database {url.database!r}"


def explain_error(error: BaseException, url: Callable[[], URL]) -> tuple[str, bool] | None:
    """One line for an error an operator can meet and fix, and whether a setting or an argument is
    at fault (the CLI's exit 2); ``None`` for a bug. ``url`` names the database a driver error is about.

    The CLI and ``make invoke`` (``scripts/invoke.py``) both say their errors through this.
    """
    from sqlalchemy.exc import DBAPIError

    from charlee_collector.core.errors import InvalidPlatformConfig

    if isinstance(error, ConfigurationError | InvalidPlatformConfig):
        return str(error), True
    if isinstance(error, ArgumentError):
        return f"bad database URL: {error}", True
    if isinstance(error, ssl.SSLCertVerificationError):
        # Raised by the handshake itself, not wrapped by SQLAlchemy; never retried without checks.
        return (
            f"database error: {describe_database(url())}: its TLS certificate could not be verified "
            f"({error.verify_message}); DB_CA_BUNDLE names the CA it chains to",
            True,
        )
    if isinstance(error, DBAPIError):
        try:
            return f"database error: {describe_error(url(), error)}", False
        except Exception:  # the URL itself failed: say what the driver said
            reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
            return f"database error: {reason}", False
    if type(error).__module__.startswith(("botocore", "boto3")):
        return f"AWS error: {error}", False
    return None


def _reason(error: BaseException) -> str:
    fields = error.args[0] if error.args else None
    if isinstance(fields, dict) and fields.get("M"):
        return str(fields["M"])  # the server's message (``S``everity, ``C``ode, ... are noise here)
    if str(error) == "Server refuses SSL":  # pg8000's words when TLS meets a server without it
        return (
            "the server refuses TLS (on for every host but this machine; set DB_TLS=false for a "
            "server without TLS)"
        )
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, socket.gaierror):
        return f"cannot resolve the host name ({cause.strerror or cause})"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused (is PostgreSQL running and listening on that port?)"
    if isinstance(cause, TimeoutError | socket.timeout):
        return "timed out connecting (is the host reachable from here?)"
    if isinstance(cause, OSError):
        return cause.strerror or str(cause) or type(cause).__name__
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def resolve_url(settings: Settings) -> URL:
    """The database URL the settings name; ``ConfigurationError`` when they name none."""
    if settings.database_url:
        return normalize_url(settings.database_url)
    if settings.db_secret_arn:
        from charlee_collector.core.aws import aws_cause, read_secret_json

        try:
            secret = read_secret_json(settings.db_secret_arn, SECRET_MAX_AGE_SECONDS)
        except Exception as exc:
            # The secret's name is safe to log; its value never is.
            raise ConfigurationError(
                f"cannot read database secret {settings.db_secret_arn}: {aws_cause(exc)}"
            ) from exc
        # The stack's own database and the RDS Proxy are named by the template, not the secret.
        overrides = {"host": settings.db_host, "dbname": settings.db_name}
        return url_from_secret({**secret, **{k: v for k, v in overrides.items() if v}})
    raise ConfigurationError("set DATABASE_URL or DB_SECRET_ARN to name the database")


def create_db_engine(
    url: str | URL,
    *,
    tls: bool | None = None,
    ca_bundle: str | None = None,
    pool_size: int = 4,
    connect_timeout: float = 10.0,
    warn: Callable[[str], None] | None = None,
) -> Engine:
    """A new engine sized for Lambda: a small pool, pinged and recycled connections, none kept broken.

    ``tls``: ``DB_TLS`` (None: TLS for every host but this machine); the certificate is verified
    as ``store.tls`` says, ``ca_bundle`` (``DB_CA_BUNDLE``) overriding what it is checked against.
    TLS turned off for another machine is said through ``warn`` (default: the package's log).
    """
    url = normalize_url(url)
    host = None if url.query.get(UNIX_SOCKET) else (url.host or "localhost")
    encrypted = host is not None and tls_policy.uses_tls(host, tls)
    warning = tls_policy.plaintext_warning(host, tls) if host is not None else None
    if warning:
        (warn or _log_warning)(warning)
    # Without TLS, none is tried: pg8000's default asks the server for it first, building a new
    # SSL context per connection (~20 ms of CPU each, nine of them in a new instance's first batch).
    # With it, one verifying context serves every connection; pg8000's own (None or True) would
    # skip verification, so it is never left to choose.
    connect_args: dict[str, Any] = {
        "timeout": connect_timeout,
        "ssl_context": tls_policy.context_for(host, ca_bundle) if encrypted and host else False,
    }
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=2, pool_recycle=300, connect_args=connect_args
    )
    event.listen(engine, "do_connect", _connect_over_our_socket)
    event.listen(engine, "connect", _read_timestamps_with_fromisoformat)
    _replace_broken_connections(engine)
    return engine


def _log_warning(message: str) -> None:
    import logging

    logging.getLogger(__name__).warning(message)


def open_socket(host: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to PostgreSQL with Nagle off and keepalive on.

    A big statement leaves pg8000 in several writes; with Nagle on, the last small one waits for
    the server's delayed ACK (~40 ms a statement). pg8000 opens its own sockets without the option
    and exposes none, so the engine opens the socket and hands it over (pg8000's ``sock``).
    """
    import pg8000

    try:
        sock = socket.create_connection((host, port), timeout)
    except OSError as exc:
        # As pg8000 reports a connect failure of its own (the cause is what ``describe_error`` reads).
        raise pg8000.InterfaceError(
            f"Can't create a connection to host {host} and port {port} (timeout is {timeout})."
        ) from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


def _connect_over_our_socket(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
    """pg8000's connection over ``open_socket``'s socket; a Unix socket is left to pg8000."""
    if cparams.get(UNIX_SOCKET) is not None:
        return None  # SQLAlchemy connects as it would
    import pg8000

    host, port = cparams.get("host") or "localhost", int(cparams.get("port") or 5432)
    sock = open_socket(host, port, cparams.get("timeout"))
    try:
        connection = pg8000.Connection(*cargs, **cparams, sock=sock)  # the class pg8000.connect returns
    except BaseException:
        sock.close()
        raise
    return _traced(connection, str(cparams.get("user") or ""))


def _traced(connection: Any, user: str) -> Any:
    """``connection`` as X-Ray's pg8000 patch wraps what ``pg8000.connect`` returns, when tracing
    patched it (so statements stay subsegments although the connection is made here)."""
    import pg8000

    if not hasattr(pg8000.connect, "__wrapped__"):  # not patched: tracing is off
        return connection
    from aws_xray_sdk.ext.dbapi2 import XRayTracedConn

    return XRayTracedConn(
        connection, {"database_type": "PostgreSQL", "user": user, "driver_version": "Pg8000"}
    )


TIMESTAMP_OID, TIMESTAMPTZ_OID = 1114, 1184


def _read_timestamps_with_fromisoformat(dbapi_connection: Any, _record: Any) -> None:
    """Timestamps read by ``datetime.fromisoformat`` (pg8000's reader, ``strptime``, costs ~30 us a
    value); what it cannot read (infinity, BC, years past 9999) goes to pg8000's own reader."""
    from pg8000 import converters

    for oid, fallback in (
        (TIMESTAMPTZ_OID, converters.timestamptz_in),
        (TIMESTAMP_OID, converters.timestamp_in),
    ):
        dbapi_connection.register_in_adapter(oid, _iso_or(fallback))


def _iso_or(fallback: Callable[[str], Any]) -> Callable[[str], Any]:
    def read(data: str) -> Any:
        try:
            return datetime.fromisoformat(data)
        except ValueError:
            return fallback(data)

    return read


_FRESH = "charlee_fresh"  # connection_record.info key: connected, not yet checked out


def _replace_broken_connections(engine: Engine) -> None:
    """Ping pooled connections on checkout and invalidate those a failed statement may have broken."""

    def mark_fresh(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_FRESH] = True

    def ping(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if record.info.pop(_FRESH, False):
            return  # just connected: nothing can have broken it yet (pre-ping skips these too)
        try:
            _ping(dbapi_connection)
        except Exception as exc:
            # Whatever the ping met, this connection is of no use; the pool connects a new one
            # and, as pre-ping does, drops the others opened before (a failover kills them all).
            raise InvalidatePoolError(f"pooled connection failed its ping: {exc!r}") from exc

    event.listen(engine, "connect", mark_fresh)
    event.listen(engine, "checkout", ping)
    event.listen(engine, "handle_error", _invalidate_when_broken)


def _ping(dbapi_connection: Any) -> None:
    """One statement that begins no transaction (pg8000's ``autocommit`` on for it): a cursor's
    statement would send BEGIN first, which a read outside a transaction must not leave behind."""
    dbapi_connection.autocommit = True
    try:
        dbapi_connection.run("SELECT 1")
    finally:
        dbapi_connection.autocommit = False


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads that need no transaction around them (one consistent row): each
    statement commits on its own, so a lone SELECT is one round trip, with no BEGIN sent before
    it and no ROLLBACK after."""
    with engine.connect() as conn:
        dbapi_connection = conn.connection.dbapi_connection
        if dbapi_connection is None:
            yield conn
            return
        dbapi_connection.autocommit = True  # pg8000's own switch: no SET statement on the wire
        try:
            yield conn
        finally:
            dbapi_connection.autocommit = False


def _invalidate_when_broken(context: ExceptionContext) -> None:
    """Mark the connection a disconnect when the driver failed with something not the database's."""
    error = context.original_exception
    if context.is_disconnect or context.connection is None:
        return  # already invalidated, or no connection (a failed connect)
    if isinstance(error, OSError):
        # The socket failed (reset, timeout, TLS): the server may be gone for every connection.
        context.is_disconnect = True
    elif (
        isinstance(error, Exception)
        and not isinstance(error, (context.dialect.loaded_dbapi.Error, SQLAlchemyError))
        and _reached_the_driver(context)
    ):
        # struct.error, AttributeError, ...: the driver may have sent half a message. Only this
        # connection is suspect, so the rest of the pool is kept.
        context.is_disconnect = True
        context.invalidate_pool_on_disconnect = False


def _reached_the_driver(context: ExceptionContext) -> bool:
    # Without an execution context, a statement failed while SQLAlchemy built it (a bind value:
    # the driver saw nothing); commit and rollback have neither context nor statement.
    return context.execution_context is not None or context.statement is None


def get_engine(settings: Settings) -> Engine:
    """The process-wide engine for ``settings``, created on first use."""
    url = resolve_url(settings)
    key = url.render_as_string(hide_password=False)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = create_db_engine(
                url,
                tls=settings.db_tls,
                ca_bundle=settings.db_ca_bundle,
                pool_size=settings.db_pool_size,
                connect_timeout=settings.db_connect_timeout,
            )
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests and the CLI call this when they are done)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
