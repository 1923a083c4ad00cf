"""The engine's PostgreSQL connections (pg8000 through its public face): errors leave them usable,
transactions behave, timestamps read as pg8000 reads them, a pooled read begins no transaction,
and every TCP connection has Nagle off."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pg8000
import pytest
from sqlalchemy import URL, Engine, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from charlee_collector.store.engine import create_db_engine, reading


@pytest.fixture
def engine(postgres_url: URL) -> Iterator[Engine]:
    engine = create_db_engine(postgres_url, pool_size=1)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        ("SELEC 1", {}),  # refused at Parse
        ("SELECT CAST(:v AS integer)", {"v": "not a number"}),  # refused at Bind/Execute
        ("SELECT 1 / (CAST(:v AS int) - 1)", {"v": 1}),  # refused while executing
    ],
    ids=["parse", "bind", "execute"],
)
def test_an_error_at_any_step_is_raised_and_the_connection_stays_usable(
    engine: Engine, statement: str, params: dict[str, Any]
) -> None:
    with engine.connect() as conn:
        before = conn.connection.dbapi_connection
        with pytest.raises((ProgrammingError, DBAPIError)):
            conn.execute(text(statement), params)
        conn.rollback()
        assert conn.execute(text("SELECT CAST(:x AS int)"), {"x": 7}).scalar_one() == 7
        assert conn.connection.dbapi_connection is before  # the same connection, not a new one
    with engine.begin() as conn:  # and it goes back to the pool in a state the next user can use
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


def test_a_transaction_sees_its_own_writes_and_a_rollback_undoes_them(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMPORARY TABLE wire_t (n int) ON COMMIT PRESERVE ROWS"))
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO wire_t VALUES (:n)"), {"n": 1})
        assert conn.execute(text("SELECT count(*) FROM wire_t")).scalar_one() == 1
        conn.rollback()
        assert conn.execute(text("SELECT count(*) FROM wire_t")).scalar_one() == 0
        conn.execute(text("INSERT INTO wire_t VALUES (:n)"), {"n": 2})
        conn.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM wire_t")).scalars().all() == [2]


TIMESTAMPS = [
    "2026-12-01 15:29:03.123456+00",
    "2026-12-01 15:29:03+00",
    "2026-12-01 15:29:03.1+05:30",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "infinity",
    "-infinity",
    "0044-03-15 12:00:00+00 BC",
]


# pg8000's own reading of a BC date goes through dateutil, which warns about "BC": both sides do.
@pytest.mark.filterwarnings("ignore:tzname BC identified")
def test_timestamps_read_as_pg8000_reads_them(engine: Engine, postgres_url: URL) -> None:
    """The engine's faster reader (fromisoformat, pg8000's own for the rest) against a plain
    pg8000 connection, on what the server sends for each value, with and without a zone."""
    query = "SELECT CAST(CAST(:v AS timestamptz) AS timestamptz), CAST(CAST(:v AS timestamptz) AS timestamp)"
    plain = pg8000.connect(
        user=postgres_url.username or "postgres",
        host=postgres_url.host or "localhost",
        port=postgres_url.port or 5432,
        database=postgres_url.database,
        password=postgres_url.password,
    )
    try:
        with engine.connect() as conn:
            for value in TIMESTAMPS:
                ours = tuple(conn.execute(text(query), {"v": value}).one())
                theirs = tuple(plain.run(query, v=value)[0])
                assert ours == theirs, value
            conn.rollback()
    finally:
        plain.close()


def test_timestamps_come_back_from_the_server_as_written(engine: Engine) -> None:
    moment = datetime(2026, 12, 1, 15, 29, 3, 123456, tzinfo=UTC)
    with engine.connect() as conn:
        conn.execute(text("SET TIME ZONE 'Asia/Kolkata'"))
        back = conn.execute(text("SELECT CAST(:t AS timestamptz)"), {"t": moment}).scalar_one()
        naive = conn.execute(text("SELECT CAST(:t AS timestamp)"), {"t": moment.replace(tzinfo=None)})
        assert back == moment and back.utcoffset() == timedelta(hours=5, minutes=30)
        assert back.tzinfo == timezone(timedelta(hours=5, minutes=30))
        assert naive.scalar_one() == moment.replace(tzinfo=None)
        conn.rollback()


def _transaction_started(engine: Engine, pid: int) -> datetime | None:
    with engine.connect() as other:  # the pool's second connection (overflow)
        return other.execute(
            text("SELECT xact_start FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).scalar_one()


def test_a_pooled_read_outside_a_transaction_leaves_none_open(engine: Engine) -> None:
    with engine.connect() as conn:  # pooled, so the next checkout pings it
        raw = conn.connection.dbapi_connection
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        conn.rollback()
    with reading(engine) as conn:
        assert conn.connection.dbapi_connection is raw  # the ping passed: the same connection
        assert conn.execute(text("SELECT CAST(:a AS int)"), {"a": 4}).scalar_one() == 4
        assert _transaction_started(engine, pid) is None  # no BEGIN went with it (nor the ping)
    assert raw.autocommit is False  # given back as every other checkout expects it
    with engine.begin() as conn:  # the next transaction begins as before
        in_transaction = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert _transaction_started(engine, in_transaction) is not None


def test_every_tcp_connection_has_nagle_off(postgres_url: URL, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big statement leaves pg8000 in several writes; with Nagle on the last one waited for the
    server's delayed ACK. New connections, and one replacing an invalidated one, all have it."""
    if postgres_url.query.get("unix_sock"):
        pytest.fail("the test server must be reached over TCP")
    opened: list[socket.socket] = []
    create_connection = socket.create_connection

    def recording(*args: Any, **kwargs: Any) -> socket.socket:
        sock = create_connection(*args, **kwargs)
        opened.append(sock)
        return sock

    monkeypatch.setattr(socket, "create_connection", recording)
    engine = create_db_engine(postgres_url, pool_size=1)  # and an overflow of 2
    try:
        with engine.connect() as first, engine.connect() as second:
            assert first.execute(text("SELECT 1")).scalar_one() == 1
            assert second.execute(text("SELECT 1")).scalar_one() == 1
            flags = [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in opened]
        with engine.connect() as conn:  # the one the pool kept, invalidated
            conn.invalidate()
        with engine.connect() as conn:  # so this one is new
            conn.execute(text("SELECT 1"))
            flags.append(opened[-1].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        assert len(opened) == 3 and flags == [1, 1, 1]
    finally:
        engine.dispose()
