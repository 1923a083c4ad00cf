"""What one collection asks the database: the platform row is read once to decide, then locked
(and read) once, first, for both of its writers (the upsert and the run record)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from charlee_collector.app.collect import collect_platform
from charlee_collector.app.messages import CollectMessage
from charlee_collector.core.settings import Settings
from charlee_collector.fetching.client import build_client
from charlee_collector.store.tables import fetch_host_leases, opportunities, runs
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer


def _jobs(count: int) -> bytes:
    jobs = [
        {
            "id": f"job-{n}",
            "title": f"job {n}",
            "description": f"<p>item {n}</p>",
            "url": f"https://j.example/{n}",
        }
        for n in range(count)
    ]
    return json.dumps({"jobs": jobs}).encode()


@pytest.fixture
def statements(pg_engine: Engine) -> Iterator[list[str]]:
    """Every statement text the engine sends while the test runs, in order."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(pg_engine, "before_cursor_execute", record)
    yield sent
    event.remove(pg_engine, "before_cursor_execute", record)


def _collect(pg_engine: Engine, settings: Settings, platform_id: int) -> str:
    client = build_client(settings)
    try:
        return collect_platform(pg_engine, client, CollectMessage(platform_id=platform_id), settings).outcome
    finally:
        client.close()


def _platform_reads(statements: list[str]) -> list[int]:
    return [i for i, s in enumerate(statements) if s.startswith("SELECT") and "FROM freelance_platforms" in s]


@pytest.mark.parametrize(("status", "outcome", "inserted"), [(200, "success", 3), (404, "failed", 0)])
def test_the_platform_row_is_read_twice_and_locked_before_any_write(
    pg_engine: Engine,
    http_server: LocalHTTPServer,
    allow_private_networks: Settings,
    statements: list[str],
    status: int,
    outcome: str,
    inserted: int,
) -> None:
    http_server.route("/jobs", body=_jobs(3), content_type="application/json", status=status)
    with pg_engine.begin() as conn:
        platform_id = add_platform(
            conn, source="json_api", config={"url": http_server.url("/jobs"), "items": "jobs"}
        )
    statements.clear()

    assert _collect(pg_engine, allow_private_networks, platform_id) == outcome

    load, lock = _platform_reads(statements)  # exactly two: to decide, then locked for the writes
    assert "FOR" not in statements[load] and statements[lock].endswith("FOR NO KEY UPDATE")
    # The collection's own transaction (the fetch's host bookkeeping commits on its own, before).
    own = ("freelance_opportunities", "collection_runs", "freelance_platforms", "event_outbox")
    writes = [
        i
        for i, s in enumerate(statements)
        if s.startswith(("INSERT", "UPDATE")) and s.split()[2 if s.startswith("INSERT") else 1] in own
    ]
    assert writes and lock < min(writes)  # the lock first: concurrent deliveries queue, not deadlock
    with pg_engine.connect() as conn:
        stored = conn.execute(
            select(runs.c.outcome, runs.c.inserted).where(runs.c.platform_id == platform_id)
        )
        assert stored.all() == [(outcome, inserted)]
        count = conn.execute(select(opportunities.c.id).where(opportunities.c.platform_id == platform_id))
        assert len(count.all()) == inserted


@pytest.mark.parametrize("status", [200, 404])
def test_a_fetch_gives_its_host_slot_back_in_the_transaction_that_keeps_its_answer(
    pg_engine: Engine, http_server: LocalHTTPServer, allow_private_networks: Settings, status: int
) -> None:
    """Three transactions: the claim (with the host's slot), the answer kept (with the slot given
    back) and the collection's own; the slot is free once the collection ends."""
    http_server.route("/jobs", body=_jobs(3), content_type="application/json", status=status)
    with pg_engine.begin() as conn:
        platform_id = add_platform(
            conn, source="json_api", config={"url": http_server.url("/jobs"), "items": "jobs"}
        )
    commits: list[str] = []

    def count(_conn: Any) -> None:
        commits.append("commit")

    event.listen(pg_engine, "commit", count)
    try:
        _collect(pg_engine, allow_private_networks, platform_id)
    finally:
        event.remove(pg_engine, "commit", count)
    assert len(commits) == 3
    with pg_engine.connect() as conn:
        assert conn.execute(select(fetch_host_leases.c.id)).all() == []
