"""Fixtures of the fault suite: the handlers' environment (PostgreSQL, moto SQS, the local HTTP
server) and a switch that takes the test database away and brings it back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import URL, Engine, create_engine, text

from charlee_collector import runtime
from tests.support.aws import Queues


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
        """Refuse new connections, then terminate every session on the database; returns how many."""
        self._run(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS false')
        self.down = True
        killed = self._run(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :db AND pid <> pg_backend_pid() AND NOT (pid = ANY(:spare))",
            db=self.database,
            spare=list(spare_pids),
        )
        return len(killed)

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
