"""Connections a failure breaks: a warm process reconnects instead of failing, and a statement
that fails inside the driver never leaves its pooled connection behind for the next call.

The breaks are real: a session terminated by the server (``pg_terminate_backend``), a TCP reset
from a proxy between the engine and PostgreSQL (pg8000 then raises a raw
``ConnectionResetError``, not a DBAPI error), and a statement with more bind parameters than
pg8000's protocol can count (``struct.error`` while it builds the message).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from sqlalchemy import URL, Connection, Engine, select, text

from charlee_collector.store.engine import create_db_engine
from charlee_collector.store.platforms import load_platform
from charlee_collector.store.tables import platforms
from tests.faults.conftest import DatabaseSwitch, ResettingProxy
from tests.support.factories import add_platform

ORDINARY_CALLS = 5


@pytest.fixture
def warm_engine(postgres_url: URL) -> Iterator[Engine]:
    """A product engine with one pooled connection, already used once (as in a warm Lambda)."""
    engine = create_db_engine(postgres_url, pool_size=1)
    _backend_pid(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def proxied_engine(postgres_url: URL, resetting_proxy: ResettingProxy) -> Iterator[Engine]:
    """A warm product engine whose connections go through ``resetting_proxy``."""
    engine = create_db_engine(resetting_proxy.url(postgres_url), pool_size=1)
    _backend_pid(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return _pid(conn)


def _assert_ordinary_calls_work(engine: Engine, platform_id: int) -> None:
    """Every one of the next calls succeeds, and an existing platform is never read as unknown."""
    for _ in range(ORDINARY_CALLS):
        with engine.begin() as conn:
            platform = load_platform(conn, platform_id)
            assert platform is not None and platform.id == platform_id
            assert conn.execute(text("SELECT 1")).scalar_one() == 1


def test_a_session_the_server_terminated_is_replaced_on_the_next_call(
    warm_engine: Engine, pg_engine: Engine, database_switch: DatabaseSwitch
) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
    killed = _backend_pid(warm_engine)
    database_switch.terminate(killed)

    assert _backend_pid(warm_engine) != killed
    _assert_ordinary_calls_work(warm_engine, platform_id)


def test_a_pooled_connection_reset_under_it_is_replaced_not_raised(
    proxied_engine: Engine, resetting_proxy: ResettingProxy, pg_engine: Engine
) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
    resetting_proxy.reset_next_sender()  # the checkout's ping meets the reset

    _assert_ordinary_calls_work(proxied_engine, platform_id)
    assert resetting_proxy.accepted == 2  # the first connection, and the one replacing it


def test_a_reset_in_the_middle_of_a_transaction_invalidates_the_connection(
    proxied_engine: Engine, resetting_proxy: ResettingProxy, pg_engine: Engine
) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
    with proxied_engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        resetting_proxy.reset_next_sender()
        with pytest.raises(OSError):  # the caller sees the failure (a collector record is retried) ...
            conn.execute(select(platforms.c.id))
        assert conn.invalidated  # ... and the connection does not go back to the pool

    _assert_ordinary_calls_work(proxied_engine, platform_id)
    assert resetting_proxy.accepted == 2


def test_a_statement_the_driver_cannot_encode_leaves_no_broken_connection(
    warm_engine: Engine, pg_engine: Engine
) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
    before = _backend_pid(warm_engine)
    # One bind parameter per id: more than pg8000 can count in its 16-bit field.
    too_many = list(range(1, 70_001))
    with pytest.raises(struct.error), warm_engine.begin() as conn:
        conn.execute(select(platforms.c.id).where(platforms.c.id.in_(too_many))).all()

    _assert_ordinary_calls_work(warm_engine, platform_id)
    assert _backend_pid(warm_engine) != before  # replaced, not reused


def test_a_driver_failure_replaces_only_its_own_connection(postgres_url: URL) -> None:
    engine = create_db_engine(postgres_url, pool_size=2)
    try:
        with engine.connect() as first, engine.connect() as second:
            pids = {_pid(first), _pid(second)}
        with pytest.raises(struct.error), engine.connect() as conn:
            broken = _pid(conn)
            conn.execute(select(platforms.c.id).where(platforms.c.id.in_(range(1, 70_001))))
        with engine.connect() as first, engine.connect() as second:
            now = {_pid(first), _pid(second)}
        # The other pooled connection is kept: a bad statement is not a failover.
        assert now & pids == pids - {broken}
    finally:
        engine.dispose()


def _pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
