"""Every PostgreSQL connection the engine opens has Nagle off (TCP_NODELAY), pooled or new."""

from __future__ import annotations

import socket

from sqlalchemy import URL, text

from charlee_collector.store.engine import create_db_engine


def _nodelay(dbapi_connection: object) -> int:
    sock = dbapi_connection._usock  # type: ignore[attr-defined]
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_every_connection_has_tcp_nodelay_set(postgres_url: URL) -> None:
    engine = create_db_engine(postgres_url, pool_size=2)
    try:
        with engine.connect() as first, engine.connect() as second:
            flags = [_nodelay(c.connection.dbapi_connection) for c in (first, second)]
            assert first.execute(text("SELECT 1")).scalar_one() == 1
        # A connection that was invalidated is replaced by one that has the option too.
        with engine.connect() as conn:
            conn.invalidate()
        with engine.connect() as conn:
            flags.append(_nodelay(conn.connection.dbapi_connection))
        assert flags == [1, 1, 1]
    finally:
        engine.dispose()
