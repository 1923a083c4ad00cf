"""The engine's PostgreSQL connection (pg_wire.py): one round trip per statement, the same answers
and the same errors as pg8000's own exchange, a connection that stays usable after each error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pg8000 import converters
from sqlalchemy import URL, Engine, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from charlee_collector import pg_wire
from charlee_collector.store.engine import create_db_engine


class _CountingSocket:
    """The connection's buffered socket, counting the flushes: one flush is one round trip."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        self.inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def engine(postgres_url: URL) -> Iterator[Engine]:
    engine = create_db_engine(postgres_url, pool_size=1)
    yield engine
    engine.dispose()


def test_the_engine_opens_the_one_round_trip_connection(engine: Engine) -> None:
    with engine.connect() as conn:
        assert isinstance(conn.connection.dbapi_connection, pg_wire.Connection)


def test_a_statement_and_its_commit_take_one_round_trip_each(engine: Engine) -> None:
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        counting = raw._sock = _CountingSocket(raw._sock)
        conn.commit()  # start from no transaction: the next statement sends BEGIN with it
        counting.flushes = 0
        assert (
            conn.execute(text("SELECT CAST(:a AS int) + CAST(:b AS int)"), {"a": 2, "b": 3}).scalar_one() == 5
        )
        assert counting.flushes == 1  # BEGIN, Parse, Bind, Describe, Execute, Sync: one write
        assert conn.execute(text("SELECT CAST(:a AS text)"), {"a": "x"}).scalar_one() == "x"
        assert counting.flushes == 2
        conn.commit()
        assert counting.flushes == 3
        raw._sock = counting.inner


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


# pg8000's own reading of a BC date goes through dateutil, which warns about "BC": both sides do.
@pytest.mark.filterwarnings("ignore:tzname BC identified")
@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01 15:29:03.123456+00",
        "2026-12-01 15:29:03+00",
        "2026-12-01 15:29:03.1+05:30",
        "0001-01-01 00:00:00+00",
        "9999-12-31 23:59:59.999999+00",
        "infinity",
        "-infinity",
        "0044-03-15 12:00:00+00 BC",
        "12026-01-01 00:00:00+00",
    ],
)
def test_timestamps_read_as_pg8000_reads_them(value: str) -> None:
    assert pg_wire._timestamptz_in(value) == converters.timestamptz_in(value)
    naive = value.replace("+00", "").replace("+05:30", "")
    assert pg_wire._timestamp_in(naive) == converters.timestamp_in(naive)


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


def test_a_pooled_read_outside_a_transaction_is_its_ping_and_its_statement(engine: Engine) -> None:
    from charlee_collector.store.engine import reading

    with engine.connect() as conn:  # pooled, so the next checkout pings it
        raw = conn.connection.dbapi_connection
        counting = raw._sock = _CountingSocket(raw._sock)
    with reading(engine) as conn:
        assert conn.execute(text("SELECT CAST(:a AS int)"), {"a": 4}).scalar_one() == 4
        assert not raw._in_transaction  # no BEGIN went with it: nothing to roll back
    assert counting.flushes == 2  # the checkout's ping (the empty query), the SELECT; no ROLLBACK
    assert raw.autocommit is False  # given back as every other checkout expects it
    with engine.begin() as conn:  # the next transaction begins as before
        conn.execute(text("SELECT 1"))
        assert raw._in_transaction
    raw._sock = counting.inner


def test_a_statement_described_again_reads_as_the_first_time(engine: Engine) -> None:
    query = text("SELECT CAST(:n AS int) AS n, CAST(:t AS timestamptz) AS at, 'x' AS label")
    params = {"n": 1, "t": "2026-12-01 10:00:00+00"}
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        first = conn.execute(query, params)
        first_row, first_keys = first.one(), list(first.keys())
        assert len(raw._row_descriptions) >= 1
        again = conn.execute(query, params)
        assert (again.one(), list(again.keys())) == (first_row, first_keys)
        assert first_row == (1, datetime(2026, 12, 1, 10, tzinfo=UTC), "x")
        # A reader registered afterwards applies to the next description: none is kept stale.
        raw.register_in_adapter(pg_wire.TIMESTAMPTZ_OID, lambda data: f"read {data}")
        assert not raw._row_descriptions
        assert conn.execute(query, params).one()[1] == "read 2026-12-01 10:00:00+00"
