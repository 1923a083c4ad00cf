"""Fixtures of the fault suite: the handlers' environment (PostgreSQL, moto SQS, the local HTTP
server), a switch that takes the test database away and brings it back, and a TCP proxy in front
of PostgreSQL that resets a connection the way a dropped network does."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import URL, Engine, create_engine, text

from charlee_collector.app import runtime
from tests.support.aws import Queues
from tests.support.db import wait_for


@dataclass
class FaultEnv:
    """The handlers' environment for one test; ``set`` changes it as a new deploy would."""

    monkeypatch: pytest.MonkeyPatch
    engine: Engine
    queues: Queues

    def set(self, **variables: str) -> None:
        """Set environment variables and drop the runtime, so the next invocation reads them."""
        for name, value in variables.items():
            self.monkeypatch.setenv(name, value)
        runtime.reset()


@pytest.fixture
def fault_env(
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: URL,
    pg_engine: Engine,
    queues: Queues,
    allow_private_networks: object,
) -> Iterator[FaultEnv]:
    """What tests/e2e's pipeline_env sets (database, queue, private networks), plus the engine
    and queues, for handlers called in this process."""
    monkeypatch.setenv("DATABASE_URL", postgres_url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLLECT_QUEUE_URL", queues.url)
    monkeypatch.setenv("TIME_MARGIN_MS", "1000")
    runtime.reset()
    yield FaultEnv(monkeypatch, pg_engine, queues)
    runtime.reset()


class DatabaseSwitch:
    """Makes the test database unreachable (no new connections, existing ones terminated) and
    reachable again, from an admin connection to the server's ``postgres`` database."""

    def __init__(self, server_url: URL, database: str) -> None:
        self.database = database
        self.admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        self.down = False

    def _run(self, sql: str, **params: Any) -> list[Any]:
        with self.admin.connect() as conn:
            result = conn.execute(text(sql), params)
            return list(result.all()) if result.returns_rows else []

    def cut(self, *, spare_pids: tuple[int, ...] = ()) -> int:
        """Refuse new connections, then terminate every session on the database and wait until
        they are gone; returns how many there were."""
        self._run(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS false')
        self.down = True
        killed = self._run(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {self._OTHER_SESSIONS}",
            db=self.database,
            spare=list(spare_pids),
        )
        # pg_terminate_backend only signals: a backend that has not exited yet still answers (or
        # resets) whatever reaches it, which is not the outage a test means.
        wait_for(lambda: not self.sessions(spare_pids=spare_pids), timeout=30)
        return len(killed)

    _OTHER_SESSIONS = (
        "datname = :db AND pid <> pg_backend_pid() AND NOT (pid = ANY(:spare)) "
        "AND backend_type = 'client backend'"
    )

    def sessions(self, *, spare_pids: tuple[int, ...] = ()) -> list[int]:
        """The pids of the client sessions on the database (but ``spare_pids``)."""
        rows = self._run(
            f"SELECT pid FROM pg_stat_activity WHERE {self._OTHER_SESSIONS}",
            db=self.database,
            spare=list(spare_pids),
        )
        return [int(row[0]) for row in rows]

    def terminate(self, pid: int) -> None:
        """End one session, as an administrator (or a failover) does, and wait until it is gone."""
        self._run("SELECT pg_terminate_backend(:pid)", pid=pid)
        wait_for(lambda: pid not in self.sessions(), timeout=30)

    def restore(self) -> None:
        self._run(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS true')
        self.down = False

    def statements_waiting_on_locks(self) -> list[str]:
        """The statements of the sessions on the database that wait for a lock."""
        rows = self._run(
            "SELECT query FROM pg_stat_activity WHERE datname = :db AND wait_event_type = 'Lock'",
            db=self.database,
        )
        return [str(row[0]) for row in rows]


@pytest.fixture
def database_switch(
    postgres_server_url: URL, postgres_url: URL, pg_engine: Engine
) -> Iterator[DatabaseSwitch]:
    """A ``DatabaseSwitch`` on the test database; the database is always back after the test
    (before pg_engine empties it)."""
    switch = DatabaseSwitch(postgres_server_url, str(postgres_url.database))
    try:
        yield switch
    finally:
        if switch.down:
            switch.restore()
        switch.admin.dispose()


class ResettingProxy:
    """A TCP proxy to PostgreSQL that, when armed, resets (RST) the next client connection that
    sends anything, after the bytes have left the client: the client's write succeeds and its
    read meets ``ConnectionResetError``, what a backend dying with unread input or a dropped NAT
    entry looks like to pg8000. ``lose_reply_holding(marker)`` drops the server's next answer that
    holds ``marker`` and closes the client's connection instead, the answer unread: with
    ``b"COMMIT"`` (the tag of the server's CommandComplete), a commit the server made whose reply
    was lost (a failover at commit)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.accepted = 0
        self._armed = False
        self._lose_reply_holding: bytes | None = None
        self.replies_lost = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, name="proxy-accept", daemon=True)]
        self._threads[0].start()

    def url(self, url: URL) -> URL:
        """``url`` going through this proxy."""
        return url.set(host="127.0.0.1", port=self.port)

    def reset_next_sender(self) -> None:
        with self._lock:
            self._armed = True

    def lose_reply_holding(self, marker: bytes) -> None:
        with self._lock:
            self._lose_reply_holding = marker

    def _loses(self, data: bytes) -> bool:
        """Whether ``data`` from the server is the answer to lose (once)."""
        with self._lock:
            if self._lose_reply_holding is None or self._lose_reply_holding not in data:
                return False
            self._lose_reply_holding = None
            self.replies_lost += 1
            return True

    def _disarm(self) -> bool:
        """Whether the proxy was armed (it is not any more)."""
        with self._lock:
            armed, self._armed = self._armed, False
            return armed

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.upstream)
            self._sockets += [client, upstream]
            self.accepted += 1
            for source, target, reset in ((client, upstream, True), (upstream, client, False)):
                thread = threading.Thread(target=self._pump, args=(source, target, reset), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, target: socket.socket, may_reset: bool) -> None:
        try:
            while data := source.recv(65536):
                if may_reset and self._disarm():
                    # Linger 0: close() sends RST instead of FIN. The client's side goes first:
                    # closing upstream wakes the other pump, whose shutdown would send a FIN.
                    source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    source.close()
                    _close(target)
                    return
                if not may_reset and self._loses(data):
                    # The server answered (the statement is done); the client never reads it:
                    # its connection ends (shut down, which wakes the pump reading from it).
                    _close(target)
                    _close(source)
                    return
                target.sendall(data)
        except OSError:
            pass  # the other side went away
        _close(target)

    def close(self) -> None:
        _close(self._listener)
        for sock in list(self._sockets):
            _close(sock)
        for thread in list(self._threads):
            thread.join(timeout=10)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it
    sock.close()


@pytest.fixture
def resetting_proxy(postgres_server_url: URL) -> Iterator[ResettingProxy]:
    """A ``ResettingProxy`` in front of the test PostgreSQL server (disarmed)."""
    proxy = ResettingProxy((str(postgres_server_url.host), int(postgres_server_url.port or 5432)))
    try:
        yield proxy
    finally:
        proxy.close()
