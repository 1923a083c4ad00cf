"""The database goes away: in the middle of a collector batch, before one, and under the dispatcher.

"Away" is what an RDS failover looks like from a client: the sessions are terminated
(``pg_terminate_backend``, waited on until they are gone) and new connections are refused until
it is back (``ALTER DATABASE ... ALLOW_CONNECTIONS false``). To make the cut land inside collections'
transactions, an admin session holds an exclusive lock on ``collection_runs``: the fast
collections have already upserted their opportunities and wait there to record their run when
their sessions are killed; slow ones are still fetching and find no database when they return.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from charlee_collector.app.cpu_turns import TURNS
from charlee_collector.store.tables import opportunities, runs
from tests.faults.conftest import DatabaseSwitch, FaultEnv
from tests.faults.harness import (
    body,
    dispatch_scheduled,
    drain,
    jobs_payload,
    json_api_config,
    platform_row,
    poller,
    runs_of,
    send,
)
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

ITEMS = 5


def _wait_until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _assert_nothing_half_written(engine: Engine, platform_ids: list[int]) -> None:
    """A platform's opportunities exist exactly when a successful run recorded inserting them."""
    with engine.connect() as conn:
        rows: dict[int, int] = dict(
            conn.execute(
                select(opportunities.c.platform_id, func.count()).group_by(opportunities.c.platform_id)
            ).all()
        )
        inserted: dict[int, int] = dict(
            conn.execute(
                select(runs.c.platform_id, func.sum(runs.c.inserted))
                .where(runs.c.outcome == "success")
                .group_by(runs.c.platform_id)
            ).all()
        )
    for platform_id in platform_ids:
        assert rows.get(platform_id, 0) == inserted.get(platform_id, 0), platform_id


def _recording_runs(switch: DatabaseSwitch) -> list[str]:
    """Sessions blocked on recording their run, i.e. after their upsert, inside the transaction."""
    return [
        q
        for q in switch.statements_waiting_on_locks()
        if q.lstrip().startswith("INSERT INTO collection_runs")
    ]


def _add_json_api_platforms(engine: Engine, server: LocalHTTPServer, paths: list[str]) -> list[int]:
    with engine.begin() as conn:
        return [add_platform(conn, source="json_api", config=json_api_config(server.url(p))) for p in paths]


def test_database_lost_in_the_middle_of_a_batch(
    fault_env: FaultEnv, http_server: LocalHTTPServer, database_switch: DatabaseSwitch
) -> None:
    fault_env.set(COLLECTOR_CONCURRENCY="6")
    fast = [f"/fast/{n}" for n in range(3)]
    slow = [f"/slow/{n}" for n in range(3)]
    for n, path in enumerate(fast):
        http_server.route(path, body=jobs_payload(ITEMS, f"fast{n}"))
    for n, path in enumerate(slow):
        http_server.route(path, body=jobs_payload(ITEMS, f"slow{n}"), delay=2.0)
    ids = _add_json_api_platforms(fault_env.engine, http_server, fast + slow)
    send(fault_env.queues, *(body(i) for i in ids))

    running = poller(fault_env.queues)
    with fault_env.engine.connect() as locker:
        locker.execute(text("LOCK TABLE collection_runs IN ACCESS EXCLUSIVE MODE"))
        locker_pid = locker.execute(text("SELECT pg_backend_pid()")).scalar_one()
        batch = threading.Thread(target=running.poll_once, name="collector-batch")
        batch.start()
        try:
            # Fast collections have upserted and wait to record their run (as many as there are
            # turns at the CPU, cpu_turns.py: the others wait for a turn); slow ones are fetching.
            blocked = min(len(fast), TURNS)
            _wait_until(lambda: len(_recording_runs(database_switch)) == blocked, "upserts to block")
            _wait_until(lambda: all(http_server.requests_to(p) for p in slow), "slow fetches to start")
            database_switch.cut(spare_pids=(locker_pid,))
        finally:
            locker.rollback()
        batch.join(timeout=60)
    assert not batch.is_alive()

    # Every record of the batch was reported failed (none lost, none acknowledged) ...
    assert (running.stats.received, running.stats.failed, running.stats.succeeded) == (6, 6, 0)
    assert running.stats.handler_errors == []
    assert fault_env.queues.depth() == 6
    database_switch.restore()
    # ... and the killed transactions left nothing behind: no opportunity without its run.
    _assert_nothing_half_written(fault_env.engine, ids)
    with fault_env.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(opportunities)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 0

    # With the database back, redelivery collects every platform once.
    drain(fault_env.queues)
    for platform_id in ids:
        history = runs_of(fault_env.engine, platform_id)
        assert [(r.outcome, r.inserted) for r in history] == [("success", ITEMS)]
        assert platform_row(fault_env.engine, platform_id).last_collection_at is not None
    _assert_nothing_half_written(fault_env.engine, ids)
    assert fault_env.queues.depth() == 0
    assert fault_env.queues.receive_all(fault_env.queues.dlq_url) == []


def test_database_down_before_a_batch_fails_every_record_untouched(
    fault_env: FaultEnv, http_server: LocalHTTPServer, database_switch: DatabaseSwitch
) -> None:
    http_server.route("/jobs", body=jobs_payload(ITEMS))
    ids = _add_json_api_platforms(fault_env.engine, http_server, ["/jobs"] * 3)
    send(fault_env.queues, *(body(i) for i in ids))
    database_switch.cut()

    running = poller(fault_env.queues)
    running.poll_once()

    assert (running.stats.failed, running.stats.succeeded) == (3, 0)
    assert http_server.requests == []  # nothing fetched for a platform it could not read
    database_switch.restore()
    drain(fault_env.queues)
    assert [len(runs_of(fault_env.engine, i)) for i in ids] == [1, 1, 1]
    _assert_nothing_half_written(fault_env.engine, ids)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dispatcher_with_the_database_unreachable_claims_and_sends_nothing(
    fault_env: FaultEnv, database_switch: DatabaseSwitch
) -> None:
    # A warm dispatcher: its pooled connection is among the sessions the cut terminates, so the
    # next tick checks out a dead connection, replaces it, and meets the refused connect.
    assert dispatch_scheduled() == {"due": 0, "dispatched": 0, "failed": 0}
    with fault_env.engine.begin() as conn:
        ids = [add_platform(conn) for _ in range(5)]
    assert database_switch.cut() >= 1  # returns once the sessions are gone

    with pytest.raises(DBAPIError, match="not currently accepting connections"):
        dispatch_scheduled()

    database_switch.restore()
    assert fault_env.queues.depth() == 0
    for platform_id in ids:  # nothing claimed: still due, next collection untouched
        assert platform_row(fault_env.engine, platform_id).next_collection_at is None
    assert dispatch_scheduled() == {"due": 5, "dispatched": 5, "failed": 0}


def test_dispatcher_with_the_database_at_a_closed_port_is_a_clear_error(fault_env: FaultEnv) -> None:
    port = _closed_port()
    fault_env.set(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/charlee")
    with pytest.raises(DBAPIError, match=rf"127\.0\.0\.1.*{port}"):
        dispatch_scheduled()
    assert fault_env.queues.depth() == 0
